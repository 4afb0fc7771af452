"""A real single-node Slurm cluster on localhost for the Slurm profile test.

Debian's packages (slurm-wlm 22.05, munge, slurmdbd, MariaDB) are installed when missing and
the machine allows it (root with apt-get). Accounting is on (slurmdbd + MariaDB), as on a real
site: without it the executor plugin's status queries (``sacct``) find no jobs and keep waiting
for jobs that have long finished. Every daemon runs from a private folder with its own ports and
is stopped by its process id.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurm-wlm", "slurmdbd", "munge", "mariadb-server", "mariadb-client"]
BINARIES = ["slurmctld", "slurmd", "slurmdbd", "sbatch", "sacct", "sacctmgr", "munged", "mariadbd",
            "mariadb-install-db", "mariadb"]
CPUS, MEMORY_MB = 8, 128000   # what the node advertises (config_overrides): the real profile's requests fit


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be installed or started here; the message says why."""


def ensure_installed() -> None:
    missing = [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SlurmUnavailable(f"missing {', '.join(missing)} and no root apt-get to install {' '.join(PACKAGES)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]):
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if run.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(cmd)} failed: {run.stderr[-1000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SlurmUnavailable(f"timed out waiting for {what}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _socket_answers(path: Path) -> bool:
    """Whether a process accepts connections on the Unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
    return True


def _setting(conf: Path, key: str) -> Path | None:
    """The path a ``key=value`` line of a Slurm configuration file gives, or None."""
    for line in conf.read_text().splitlines():
        if line.startswith(f"{key}="):
            return Path(line.split("=", 1)[1].strip())
    return None


class Cluster:
    """Start with ``start()``; ``env`` runs Slurm commands against it; ``stop()`` ends every daemon."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: list[subprocess.Popen] = []
        self.host = socket.gethostname().split(".")[0]
        self.partition = "cputest"
        # the default paths, as on a real site: the jobstep plugin (0.6.1) drops SLURM_CONF from the
        # environment of the steps it starts inside a job, so srun there finds only /etc/slurm/slurm.conf
        self.conf = Path("/etc/slurm/slurm.conf")
        self.dbd_conf = self.conf.with_name("slurmdbd.conf")
        # the default socket: sacctmgr's connection to slurmdbd ignores AuthInfo=socket= (Slurm 22.05)
        self.munge_socket = Path("/run/munge/munge.socket.2")
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))  # the default anyway

    def _sbin(self, name: str) -> str:
        return shutil.which(name) or f"/usr/sbin/{name}"

    def _daemon(self, cmd: list[str], log: str) -> None:
        out = open(self.root / "log" / log, "w")
        self.processes.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                               start_new_session=True))

    def _run(self, *cmd: str) -> str:
        run = subprocess.run(list(cmd), capture_output=True, text=True, env=self.env, timeout=60)
        if run.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(cmd)}: {run.stdout[-500:]} {run.stderr[-500:]}")
        return run.stdout

    def _remove_stale_test_conf(self) -> None:
        """A test cluster's configuration left by a killed run whose slurmctld is gone is removed
        (its daemons died with it); one whose slurmctld still runs, or a real site's, is kept."""
        if not self.conf.exists() or "ClusterName=mlpipetest" not in self.conf.read_text():
            return
        state = _setting(self.conf, "SlurmctldPidFile")
        if state is None:
            return
        try:
            os.kill(int(state.read_text().split()[0]), 0)
            return                                   # its slurmctld still runs
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass
        dbd_pid = _setting(self.dbd_conf, "PidFile") if self.dbd_conf.exists() else None
        if dbd_pid is not None and dbd_pid.parent == state.parent:   # written by the same test cluster
            self.dbd_conf.unlink()
        self.conf.unlink()

    def start(self) -> "Cluster":
        self._remove_stale_test_conf()
        for existing in (self.conf, self.dbd_conf):
            if existing.exists():
                why = ("left by a test cluster whose run was killed: stop its daemons (slurmctld, slurmd, slurmdbd, "
                       "munged, mariadbd) and delete it" if "ClusterName=mlpipetest" in existing.read_text()
                       else "a real Slurm here?")
                raise SlurmUnavailable(f"{existing} exists ({why}); the test cluster will not replace it")
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        for sub in ("munge", "db", "log", "state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        dbd_port = _free_port()
        try:
            self._write_slurm_conf(dbd_port)   # the clients (sacctmgr) read AuthInfo from it
            self._start_munge()
            db_port = self._start_mariadb()
            self._start_slurmdbd(db_port, dbd_port)
            self._start_slurm()
        except BaseException:
            self.stop()                        # no daemon and no configuration left behind
            raise
        return self

    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        if self.munge_socket.exists() and not _socket_answers(self.munge_socket):
            # left by a munged that died (a killed test cluster): nothing serves it
            self.munge_socket.unlink()
            self.munge_socket.with_name(self.munge_socket.name + ".lock").unlink(missing_ok=True)
        if self.munge_socket.exists():
            raise SlurmUnavailable(f"a munged already serves {self.munge_socket}; stop it to run this test")
        self.munge_socket.parent.mkdir(parents=True, exist_ok=True)
        self._daemon([self._sbin("munged"), "--foreground", "--force", f"--key-file={key}",
                      f"--socket={self.munge_socket}", f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                      f"--seed-file={self.root / 'munge' / 'seed'}", f"--log-file={self.root / 'log' / 'munged.log'}"],
                     "munged.out")
        _wait(self.munge_socket.exists, "munged")

    def _start_mariadb(self) -> int:
        port, sock = _free_port(), self.root / "db" / "mysqld.sock"
        data = self.root / "db" / "data"
        self._run(self._sbin("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=root",
                  "--auth-root-authentication-method=socket", "--skip-test-db")
        self._daemon([self._sbin("mariadbd"), "--no-defaults", f"--datadir={data}", f"--socket={sock}",
                      f"--port={port}", "--bind-address=127.0.0.1", "--user=root",
                      f"--pid-file={self.root / 'db' / 'mariadbd.pid'}", "--innodb-buffer-pool-size=64M"],
                     "mariadbd.out")
        _wait(lambda: _port_open(port), "MariaDB")
        sql = ("CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; "
               "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;")
        self._run("mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql)
        return port

    def _start_slurmdbd(self, db_port: int, port: int) -> None:
        conf = self.dbd_conf
        conf.write_text("\n".join([
            "AuthType=auth/munge", f"AuthInfo=socket={self.munge_socket}", "DbdHost=localhost", f"DbdPort={port}",
            "SlurmUser=root", f"PidFile={self.root / 'state' / 'slurmdbd.pid'}", f"LogFile={self.root / 'log' / 'slurmdbd.log'}",
            "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1", f"StoragePort={db_port}",
            "StorageUser=slurm", "StoragePass=slurm", "StorageLoc=slurm_acct_db", ""]))
        conf.chmod(0o600)
        self._daemon([self._sbin("slurmdbd"), "-D"], "slurmdbd.out")  # reads slurmdbd.conf beside SLURM_CONF
        _wait(lambda: _port_open(port), "slurmdbd")

    def _write_slurm_conf(self, dbd_port: int) -> None:
        self.ctld_port, slurmd_port = _free_port(), _free_port()
        ctld_port, r = self.ctld_port, self.root
        self.conf.write_text("\n".join([
            "ClusterName=mlpipetest", f"SlurmctldHost={self.host}", "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", f"AuthInfo=socket={self.munge_socket}",
            f"SlurmctldPort={ctld_port}", f"SlurmdPort={slurmd_port}",
            f"StateSaveLocation={r / 'state'}", f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'state' / 'slurmctld.pid'}", f"SlurmdPidFile={r / 'state' / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}", f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
            "SlurmdParameters=config_overrides", "ReturnToService=2", "SchedulerType=sched/backfill",
            "JobAcctGatherType=jobacct_gather/none", "JobCompType=jobcomp/none", "MinJobAge=300",
            "AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=localhost",
            f"AccountingStoragePort={dbd_port}", "AccountingStoreFlags=job_comment",
            f"NodeName={self.host} CPUs={CPUS} RealMemory={MEMORY_MB} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""]))

    def _start_slurm(self) -> None:
        self._run("sacctmgr", "-i", "add", "cluster", "mlpipetest")
        self._run("sacctmgr", "-i", "add", "account", "mlpipe", "Cluster=mlpipetest")
        self._run("sacctmgr", "-i", "add", "user", os.environ.get("USER", "root"), "Account=mlpipe", "Cluster=mlpipetest")
        self._daemon([self._sbin("slurmctld"), "-D", "-i"], "slurmctld.out")
        _wait(lambda: _port_open(self.ctld_port), "slurmctld")
        self._daemon([self._sbin("slurmd"), "-D"], "slurmd.out")
        _wait(lambda: "idle" in self._run("sinfo", "-h", "-o", "%t"), "the node to be idle", timeout=90)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((self.root / "log").glob("*")))

    def stop(self) -> None:
        """SIGTERM every daemon this cluster started (by pid, newest first), SIGKILL what lingers."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for conf in (self.conf, self.dbd_conf):
            conf.unlink(missing_ok=True)
