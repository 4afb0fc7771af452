"""Fault injection for the tests: Python loads this at start when tests/faults is on PYTHONPATH.

``MLPIPE_FAULT=<command>:<point>:<n>:<action>`` makes the n-th call of <point> inside the
``mlpipe <command>`` process either SIGKILL the process (``kill``) or fail as a full disk would
(``enospc``). Points: ``replace`` (os.replace: an output written but not yet moved into place),
``dataset`` (h5py create_dataset: a store half written). With ``MLPIPE_FAULT_ONCE=<file>`` the
fault fires only while that file does not exist (it is created on firing), so a rerun completes.
Other processes (Snakemake itself, other commands) are untouched.
"""

import errno
import os
import signal
import sys
from pathlib import Path

_SPEC = os.environ.get("MLPIPE_FAULT")


def _install(command: str, point: str, n: int, action: str) -> None:
    calls = {"n": 0}
    once = os.environ.get("MLPIPE_FAULT_ONCE")

    def fire() -> None:
        if command not in sys.argv or (once and Path(once).exists()):
            return
        calls["n"] += 1
        if calls["n"] < n:
            return
        if once:
            open(once, "w").close()
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    if point == "replace":
        original_replace = os.replace

        def replace(*args, **kwargs):
            fire()
            return original_replace(*args, **kwargs)

        os.replace = replace
    elif point == "dataset":
        import h5py

        original_create = h5py.Group.create_dataset

        def create_dataset(self, *args, **kwargs):
            fire()
            return original_create(self, *args, **kwargs)

        h5py.Group.create_dataset = create_dataset


if _SPEC:
    _command, _point, _n, _action = _SPEC.split(":")
    _install(_command, _point, int(_n), _action)
