"""config/real_example.yaml: the whole workflow on the real-layout fixture files (data.source: real,
HyperLeda's '|' text form, a user luminosity column, one galaxy without a cut-out)."""

import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from conftest import REPO, venv_env

CONFIG = REPO / "config" / "real_example.yaml"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("real_example")
    shutil.copy(REPO / "workflow_config.yaml", work)
    (work / "tests" / "fixtures").mkdir(parents=True)
    (work / "tests" / "fixtures" / "real_example").symlink_to(REPO / "tests" / "fixtures" / "real_example")
    run = subprocess.run(["snakemake", "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                          "--configfile", str(CONFIG)], cwd=work, capture_output=True, text=True, env=venv_env())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return work / "results"


def test_real_example_reads_the_real_layouts_and_builds_the_sample(real_run):
    cfg = yaml.safe_load(CONFIG.read_text())
    assert cfg["data"]["source"] == "real" and cfg["data"]["real"]["hyperleda"].endswith(".txt")
    sample = pd.read_csv(real_run / "catalog" / "sample.csv")
    rejected = pd.read_csv(real_run / "catalog" / "rejected.csv")
    assert 20 <= len(sample) <= 99                      # tens of galaxies
    gswlc_rows = sum(1 for line in open(REPO / "tests" / "fixtures" / "real_example" / "GSWLC-X2.dat") if line.strip())
    assert len(sample) + len(rejected) == gswlc_rows    # every row is in the sample or rejected with a reason
    phot = pd.read_csv(REPO / "tests" / "fixtures" / "real_example" / "sdss_photometry.csv").set_index("objid")
    assert sample["lum_g"].to_numpy() == pytest.approx(10 ** phot.loc[sample["objid"], "logLg_sed"].to_numpy())


def test_real_example_runs_to_the_report(real_run):
    import h5py

    reasons = []
    for shard in (0, 1):
        with h5py.File(real_run / "images" / f"shard-{shard}.h5") as fh:
            reasons += [r.decode() for r in fh["rejects/reason"][()]]
    assert any("image file missing" in r for r in reasons)   # the fixture's galaxy without a cut-out
    for name in ("g_ref", "g_morph", "gi_powerlaw", "gi_gbm", "gi_morph"):
        pred = pd.read_csv(real_run / "predictions" / f"{name}.csv")
        assert (pred["ml_pred"] > 0).all() and (pred["split"] == "test").sum() >= 3
    report = (real_run / "report.md").read_text()
    assert "Data: **real** survey" in report and "column `logLg_sed`" in report
