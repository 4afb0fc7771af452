"""Faults: a step killed with SIGKILL mid-write leaves no output behind and, rerun, gives what an
uninterrupted run gives; a full disk fails the step cleanly. Faults are injected by
tests/faults/sitecustomize.py into the real `mlpipe` commands the rules run, on the tiny run's inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, TINY, snakemake, venv_env

from mlpipe.config import load_merged

FAULTS = REPO / "tests" / "faults"


def merged_config() -> dict:
    """workflow_config.yaml with the tiny overrides merged in, as Snakemake merges them."""
    return load_merged(REPO / "workflow_config.yaml", TINY)


def mlpipe(args: list[str], cwd, fault: str | None = None) -> subprocess.CompletedProcess:
    env = venv_env()
    if fault:
        env |= {"MLPIPE_FAULT": fault, "PYTHONPATH": str(FAULTS)}
    return subprocess.run([sys.executable, "-m", "mlpipe", *args], cwd=cwd, capture_output=True, text=True, env=env)


def _cfg(*sections) -> str:
    cfg = merged_config()
    return json.dumps({s: cfg[s] for s in sections})


def _stage_args(name: str, results, out) -> tuple[list[str], list[str]]:
    """(command line, outputs) of one stage, reading the tiny run's inputs and writing under ``out``."""
    if name == "preprocess":
        return (["preprocess", "--config-json", _cfg("preprocess", "cosmology"), "--shard-catalogue",
                 f"{results}/catalog/shards/shard-0.csv", "--images", f"{results}/mock/images/shard-0",
                 "--stars", f"{results}/mock/stars.csv", "--sizes", "48", "--out", f"{out}/shard-0.h5",
                 "--figure", f"{out}/shard-0.png"], ["shard-0.h5", "shard-0.png"])
    if name == "extract-features":
        return (["extract-features", "--config-json", _cfg("cnn"), "--model-file", f"{results}/models/cnn1/model.pt",
                 "--images", f"{results}/images/shard-0.h5", "--out", f"{out}/cnn1-shard-0.h5",
                 "--threads", "1"], ["cnn1-shard-0.h5"])   # the rule's threads, as in the reference run
    if name == "gbm-table":
        return (["gbm-table", "--config-json", _cfg("cosmology"), "--sample", f"{results}/catalog/sample.csv",
                 "--images-dir", f"{results}/images", "--features-dir", f"{results}/features",
                 "--models", "cnn1", "cnn2", "cnn3", "cnn4", "--shards", "2",
                 "--out", f"{out}/features.h5", "--dropped", f"{out}/dropped.csv"], ["features.h5", "dropped.csv"])
    return (["train-predictor", "--config-json", _cfg("gbm"), "--predictor", "g_morph", "--table",
             f"{results}/gbm/features.h5", "--model", f"{out}/model.txt", "--info", f"{out}/fit.json",
             "--interval", f"{out}/interval.json", "--predictions", f"{out}/g_morph.csv", "--threads", "1"],
            ["model.txt", "fit.json", "interval.json", "g_morph.csv"])


REFERENCE = {"preprocess": "images/shard-0.h5", "extract-features": "features/cnn1/shard-0.h5",
             "gbm-table": "gbm/features.h5", "train-predictor": "predictions/g_morph.csv"}


def _same_store(a, b) -> None:
    with h5py.File(a) as fa, h5py.File(b) as fb:
        names = []
        fa.visit(names.append)
        for name in names:
            if isinstance(fa[name], h5py.Dataset):
                a, b = fa[name][()], fb[name][()]
                assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name   # NaN: no GZ2 match


@pytest.mark.parametrize("stage, point, n", [
    ("preprocess", "dataset", 2),        # the image store half written
    ("extract-features", "dataset", 2),
    ("gbm-table", "dataset", 3),
    ("train-predictor", "replace", 2),   # the model written, the fit information not yet
])
def test_sigkill_mid_write_then_rerun_equals_the_uninterrupted_run(tiny_run, tmp_path, stage, point, n):
    results = tiny_run / "results"
    args, outputs = _stage_args(stage, results, tmp_path)
    killed = mlpipe(args, tiny_run, fault=f"{stage}:{point}:{n}:kill")
    assert killed.returncode == -9, killed.stderr[-2000:]
    left = {p.name for p in tmp_path.iterdir()}
    assert not {o for o in outputs if o in left} - {"model.txt"}, left      # nothing half written in place
    rerun = mlpipe(args, tiny_run)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # the killed run's temp file is gone
    main, reference = tmp_path / outputs[0], results / REFERENCE[stage]
    if stage == "train-predictor":
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "g_morph.csv"), pd.read_csv(reference))
    else:
        _same_store(main, reference)


def test_cnn_training_killed_mid_checkpoint_resumes_to_the_uninterrupted_model(tiny_run, tmp_path):
    results = tiny_run / "results"
    cfg = merged_config()
    cfg["cnn"]["models"] = {"cnn3": cfg["cnn"]["models"]["cnn3"] | {"epochs": 3}}

    def args(out):
        return ["train-cnn", "--config-json", json.dumps({"cnn": cfg["cnn"]}), "--model", "cnn3", "--sample",
                f"{results}/catalog/sample.csv", "--store-index", f"{results}/images/stores.csv",
                "--outdir", str(out), "--figure", f"{out}/curve.png", "--device", "cpu",
                "--checkpoint-interval-s", "0"]

    reference = mlpipe(args(tmp_path / "a"), tiny_run)
    assert reference.returncode == 0, reference.stderr[-2000:]
    killed = mlpipe(args(tmp_path / "b"), tiny_run, fault="train-cnn:replace:2:kill")  # during epoch 2's checkpoint
    assert killed.returncode == -9 and not (tmp_path / "b" / "model.pt").exists()
    resumed = mlpipe(args(tmp_path / "b"), tiny_run)
    assert resumed.returncode == 0 and "resum" in resumed.stderr.lower(), resumed.stderr[-2000:]
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_full_disk_fails_the_step_cleanly(tiny_run, tmp_path):
    args, outputs = _stage_args("preprocess", tiny_run / "results", tmp_path)
    run = mlpipe(args, tiny_run, fault="preprocess:dataset:2:enospc")
    assert run.returncode != 0 and "No space left on device" in run.stderr
    assert list(tmp_path.iterdir()) == []                                   # no output, no temp file


def test_workflow_rerun_after_a_killed_job_completes_with_the_same_results(tiny_run, tmp_path):
    """Snakemake level: the report job is SIGKILLed as it writes, the workflow fails and leaves no
    report; rerun, it completes with the same report (the last job of the DAG: nothing downstream
    of the shared tiny run goes stale)."""
    results = tiny_run / "results"
    report = results / "report.md"
    before = report.read_text()
    report.unlink()
    env = venv_env() | {"PYTHONPATH": str(FAULTS), "MLPIPE_FAULT": "report:replace:1:kill",
                        "MLPIPE_FAULT_ONCE": str(tmp_path / "fired")}
    args = ["--cores", "2", "-s", str(REPO / "Snakefile"), "--directory", str(tiny_run), "--configfile", str(TINY)]
    failed = snakemake(*args, cwd=tiny_run, env=env)
    assert failed.returncode != 0 and (tmp_path / "fired").exists()
    assert not report.exists() and list(results.glob(".report.md.*"))     # only the killed job's temp file
    rerun = snakemake(*args, cwd=tiny_run, env=env)                        # the fault has fired once: no more
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert report.read_text() == before and not list(results.glob(".report.md.*"))
    idle = snakemake("-n", *args[2:], cwd=tiny_run)
    assert "Nothing to be done" in idle.stdout + idle.stderr
