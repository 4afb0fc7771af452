"""One error path for the CLI: every expected failure is one message on stderr naming the file,
line or key, and exit status 2, never a traceback."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, venv_env

DEFAULT = str(REPO / "workflow_config.yaml")


class Run:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


def mlpipe(*args, cwd=REPO):
    """``mlpipe`` run as the rules run it, in its own process."""
    return subprocess.run([sys.executable, "-m", "mlpipe", *args], cwd=cwd, capture_output=True, text=True,
                          env=venv_env(), check=False)


@pytest.fixture()
def in_process(caplog):
    """``mlpipe`` called in this process (no start-up cost): its exit status and log."""
    from mlpipe.cli import main

    def run(*args):
        caplog.clear()
        return Run(main(list(args)), caplog.text)

    return run


def _fails_clearly(run, *expected):
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    for text in expected:
        assert text in run.stderr, run.stderr[-2000:]


def test_an_expected_failure_is_one_line_on_stderr_and_exit_2():
    run = mlpipe("train-predictor", "--config", DEFAULT, "--predictor", "g_magic", "--table", "x.h5",
                 "--model", "m", "--info", "i", "--interval", "j", "--predictions", "p")
    _fails_clearly(run, "--predictor g_magic: not a predictor", "g_morph")
    assert len([line for line in run.stderr.splitlines() if "mlpipe ERROR" in line]) == 1


def _store(path, corrupt=False):
    from mlpipe.io.store import create_store

    with create_store(path) as fh:
        fh.create_dataset("objid", data=np.arange(1000, dtype=np.int64))
    if corrupt:
        import h5py

        with h5py.File(path, "r") as fh:
            offset = fh["objid"].id.get_offset()
        data = bytearray(path.read_bytes())
        data[offset + 8] ^= 0x04
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("case", ["unknown predictor", "unknown cnn", "missing catalogue", "corrupt store",
                                  "truncated store", "corrupt model", "yaml syntax", "duplicate key",
                                  "missing config"])
def test_expected_failures_are_one_message_and_exit_2(tmp_path, in_process, case):
    mlpipe = in_process
    if case == "unknown predictor":
        run = mlpipe("train-predictor", "--config", DEFAULT, "--predictor", "g_magic", "--table", "x.h5",
                     "--model", "m", "--info", "i", "--interval", "j", "--predictions", "p")
        _fails_clearly(run, "--predictor g_magic: not a predictor", "g_morph")
    elif case == "unknown cnn":
        run = mlpipe("train-cnn", "--config", DEFAULT, "--model", "cnn9", "--sample", "s", "--store-index", "i",
                     "--outdir", str(tmp_path), "--figure", "f.png")
        _fails_clearly(run, "--model cnn9: not a CNN of cnn.models", "cnn1")
    elif case == "missing catalogue":
        run = mlpipe("build-sample", "--config", DEFAULT, "--gswlc", str(tmp_path / "GSWLC-X2.dat"),
                     "--hyperleda", "h", "--gz2", "g", "--photometry", "p", "--outdir", str(tmp_path))
        _fails_clearly(run, "GSWLC-X2.dat")
    elif case in ("corrupt store", "truncated store"):
        store = _store(tmp_path / "shard-0.h5", corrupt=case == "corrupt store")
        if case == "truncated store":
            store.write_bytes(store.read_bytes()[:3000])
        run = mlpipe("index-image-stores", "--images-dir", str(tmp_path), "--shards", "1",
                     "--out", str(tmp_path / "stores.csv"))
        _fails_clearly(run, f"{store}", "rerun the step that wrote it")
        assert not (tmp_path / "stores.csv").exists()
    elif case == "corrupt model":
        (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 not really a model")
        run = mlpipe("extract-features", "--config", DEFAULT, "--model-file", str(tmp_path / "model.pt"),
                     "--images", str(_store(tmp_path / "shard-0.h5")), "--out", str(tmp_path / "f.h5"))
        _fails_clearly(run, "model.pt: not a loadable CNN model file")
    elif case == "yaml syntax":
        (tmp_path / "mine.yaml").write_text("catalog:\n  n_shards: 2\n seed: [1\n")
        run = mlpipe("check-config", "--config", DEFAULT, str(tmp_path / "mine.yaml"))
        _fails_clearly(run, "mine.yaml, line 3", "YAML syntax error")
    elif case == "duplicate key":
        (tmp_path / "mine.yaml").write_text("catalog:\n  n_shards: 2\ncnn:\n  seed: 1\ncatalog:\n  seed: 3\n")
        run = mlpipe("check-config", "--config", DEFAULT, str(tmp_path / "mine.yaml"))
        _fails_clearly(run, "mine.yaml, line 5: duplicate key 'catalog' (first given at line 1)")
    elif case == "missing config":
        run = mlpipe("check-config", "--config", str(tmp_path / "none.yaml"))
        _fails_clearly(run, "none.yaml: No such file or directory")


def test_check_config_accepts_the_presets():
    run = mlpipe("check-config", "--config", DEFAULT, str(REPO / "config" / "real_example.yaml"))
    assert run.returncode == 0 and "valid" in run.stderr, run.stderr[-2000:]


def test_an_unexpected_error_keeps_its_traceback(tmp_path, monkeypatch):
    """Bugs are not dressed up as input errors: they keep the traceback a report needs."""
    from mlpipe import cli

    def broken(args, cfg):
        """Fail as a bug would."""
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "check-config", (broken,) + cli.COMMANDS["check-config"][1:])
    with pytest.raises(ZeroDivisionError):
        cli.main(["check-config", "--config", DEFAULT])


def test_full_disk_is_one_message_naming_the_file(tmp_path, monkeypatch, caplog):
    """An OSError without a file name inside an atomic write (what h5py, torch and pandas
    writers raise on a full disk) is reported naming the output."""
    import pandas as pd

    from mlpipe import cli

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    _store(tmp_path / "shard-0.h5")
    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    assert cli.main(["index-image-stores", "--images-dir", str(tmp_path), "--shards", "1",
                     "--out", str(tmp_path / "stores.csv")]) == 2
    assert f"{tmp_path / 'stores.csv'}: No space left on device" in caplog.text
    assert not list(tmp_path.glob("*stores.csv*"))
