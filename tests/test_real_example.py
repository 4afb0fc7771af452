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
    # a copy: the last test edits an image
    shutil.copytree(REPO / "tests" / "fixtures" / "real_example", work / "tests" / "fixtures" / "real_example")
    run = _snakemake(work, "--cores", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return work / "results"


def _snakemake(work, *args):
    return subprocess.run(["snakemake", *args, "-s", str(REPO / "Snakefile"), "--directory", str(work),
                           "--configfile", str(CONFIG)], cwd=work, capture_output=True, text=True, env=venv_env())


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


def test_a_changed_image_reruns_only_its_shard_and_a_new_file_none(real_run):
    """The user's image folder: each shard depends on its own galaxies' files, not on the folder."""

    from astropy.io import fits

    work = real_run.parent
    images = work / "tests" / "fixtures" / "real_example" / "images"
    (images / "1237600000000000001.fits").write_bytes(next(images.iterdir()).read_bytes())  # not in the sample
    idle = _snakemake(work, "-n")
    assert idle.returncode == 0 and "Nothing to be done" in idle.stdout + idle.stderr, idle.stdout[-2000:]

    sample = pd.read_csv(real_run / "catalog" / "sample.csv")
    changed = next(images / f"{objid}.fits" for objid in sample.loc[sample["shard"] == 1, "objid"]
                   if (images / f"{objid}.fits").exists())
    with fits.open(changed, mode="update") as hdul:
        hdul[0].data[0, 0] += 1.0
    run = _snakemake(work, "-n")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "preprocess_shard" in out and "wildcards: shard=1" in out
    assert "wildcards: shard=0" not in out
