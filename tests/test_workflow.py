"""The Snakemake workflow: lint, dry run with per-shard jobs, and a tiny end-to-end run."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, venv_env

TINY = REPO / "tests" / "configs" / "tiny.yaml"


def snakemake(*args, cwd=REPO):
    return subprocess.run(["snakemake", *args], cwd=cwd, capture_output=True, text=True, env=venv_env())


def test_lint_is_clean():
    run = snakemake("--lint")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations" in run.stdout + run.stderr


def test_dry_run_shows_per_shard_jobs(tmp_path):
    shutil.copy(REPO / "workflow_config.yaml", tmp_path)
    run = snakemake("-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout + run.stderr
    for shard in range(4):
        assert f"wildcards: shard={shard}" in out
    assert "mock_images" in out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The whole workflow on the tiny config, run once for the module."""
    work = tmp_path_factory.mktemp("tiny")
    shutil.copy(REPO / "workflow_config.yaml", work)
    run = snakemake("--cores", "2", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--configfile", str(TINY), cwd=work)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return work


def test_tiny_run_writes_sample_and_images(tiny_run):
    sample = pd.read_csv(tiny_run / "results" / "catalog" / "sample.csv")
    rejected = pd.read_csv(tiny_run / "results" / "catalog" / "rejected.csv")
    assert len(sample) > 50 and len(rejected) > 0
    assert set(sample["shard"]) == {0, 1}
    for shard in (0, 1):
        images = list((tiny_run / "results" / "mock" / "images" / f"shard-{shard}").glob("*.fits"))
        assert len(images) == (sample["shard"] == shard).sum()
    log = (tiny_run / "results" / "logs" / "build_sample.log").read_text()
    assert "cut_d25" in log and "cut_chi2" in log


def test_tiny_run_writes_image_stores(tiny_run):
    import h5py

    sample = pd.read_csv(tiny_run / "results" / "catalog" / "sample.csv")
    total = 0
    for shard in (0, 1):
        with h5py.File(tiny_run / "results" / "images" / f"shard-{shard}.h5") as fh:
            n = len(fh["objid"])
            assert fh["images/48"].shape == (n, 48, 48)  # the tiny config's input size
            total += n + len(fh["rejects/objid"])
        assert (tiny_run / "results" / "figures" / "preprocess" / f"shard-{shard}.png").stat().st_size > 10_000
    assert total == len(sample)


def test_tiny_run_trains_cnns_and_writes_feature_stores(tiny_run):
    import json

    import h5py

    for model in ("cnn1", "cnn2", "cnn3", "cnn4"):
        metrics = json.loads((tiny_run / "results" / "models" / model / "metrics.json").read_text())
        assert all(np.isfinite(v) for v in metrics.values())
        assert (tiny_run / "results" / "figures" / "cnn" / f"{model}_learning_curve.png").exists()
        for shard in (0, 1):
            with h5py.File(tiny_run / "results" / "features" / model / f"shard-{shard}.h5") as fh, \
                    h5py.File(tiny_run / "results" / "images" / f"shard-{shard}.h5") as img:
                assert np.array_equal(fh["objid"][()], img["objid"][()])
                assert fh["features"].shape[0] == len(img["objid"])


def test_tiny_run_writes_predictions_metrics_figures_report(tiny_run):
    results = tiny_run / "results"
    for name in ("g_ref", "g_morph", "gi_gbm", "gi_morph", "gi_powerlaw", "abl_no_cnn4", "band_ugriz_morph",
                 "loss_g_morph_rmsle"):
        pred = pd.read_csv(results / "predictions" / f"{name}.csv")
        assert {"objid", "split", "ml", "ml_pred", "log_mstar_pred"} <= set(pred.columns)
        assert np.isfinite(pred["ml_pred"]).all() and (pred["ml_pred"] > 0).all()
    assert {"ml_p16", "ml_p84"} <= set(pd.read_csv(results / "predictions" / "g_morph.csv").columns)
    for table in ("predictors", "significance", "per_class", "ablation", "loss_functions", "multiband",
                  "importance_g_morph", "importance_gi_morph"):
        assert len(pd.read_csv(results / "metrics" / f"{table}.csv")) > 0, table
    for figure in ("pred_vs_true_g_morph", "pred_vs_true_gi_morph", "error_histograms", "ml_per_split",
                   "fig6_hexbin", "fig8_multiband", "importance_g_morph", "importance_gi_morph"):
        assert (results / "figures" / f"{figure}.png").stat().st_size > 5000, figure
    report = (results / "report.md").read_text()
    assert "g_morph" in report and "paper" in report and "Ablations" in report


def test_rerun_has_nothing_to_do(tiny_run):
    run = snakemake("-n", "-s", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                    "--configfile", str(TINY), cwd=tiny_run)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_changed_image_reruns_only_its_shard(tiny_run):
    from astropy.io import fits

    image = sorted((tiny_run / "results" / "mock" / "images" / "shard-1").glob("*.fits"))[0]
    with fits.open(image, mode="update") as hdul:
        hdul[0].data[0, 0] += 1.0
    run = snakemake("-n", "-s", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                    "--configfile", str(TINY), cwd=tiny_run)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "preprocess_shard" in out and "wildcards: shard=1" in out
    assert "wildcards: shard=0" not in out
