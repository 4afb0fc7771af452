"""config/real_colour_example.yaml: the colour predictors from one table alone (GSWLC-2 x NSA layout,
FITS, fluxes in maggies, a column map): no images, no CNN, no D25, a bundle and predictions without
images, the report with the figures that need no images; and the real-colour benchmark's code path on
one fold."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, venv_env

CONFIG = REPO / "config" / "real_colour_example.yaml"
FIXTURE = REPO / "tests" / "fixtures" / "real_colour"


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("real_colour")
    shutil.copytree(FIXTURE, work / "tests" / "fixtures" / "real_colour")
    run = subprocess.run(["snakemake", "--cores", "2", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                          "--configfile", str(REPO / "workflow_config.yaml"), str(CONFIG)],
                         cwd=work, capture_output=True, text=True, env=venv_env())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return work / "results"


def test_table_only_run_trains_the_colour_predictors_without_images(colour_run):
    from astropy.table import Table

    rows = len(Table.read(FIXTURE / "gswlc_nsa.fits"))
    sample = pd.read_csv(colour_run / "catalog" / "sample.csv")
    rejected = pd.read_csv(colour_run / "catalog" / "rejected.csv")
    assert len(sample) + len(rejected) == rows
    assert set(rejected["stage"]) == {"gswlc_flags", "cut_chi2", "cut_redshift", "photometry"}
    assert rejected.loc[rejected["stage"] == "photometry", "reason"].str.contains("maggies_g").all()
    assert not (colour_run / "images").exists() and not (colour_run / "models").exists()
    for name in ("g_ref", "gi_powerlaw", "gi_gbm"):
        pred = pd.read_csv(colour_run / "predictions" / f"{name}.csv")
        assert len(pred) == len(sample) and (pred["ml_pred"] > 0).all()
    assert not (colour_run / "predictions" / "g_morph.csv").exists()
    import json

    fit = json.loads((colour_run / "gbm" / "gi_gbm" / "fit.json").read_text())
    assert fit["tuning"].startswith("CV over gbm.tuning.grid") and len(fit["cv_scores"]) == 6
    assert fit["base"]["kind"] == "powerlaw"
    metrics = pd.read_csv(colour_run / "metrics" / "predictors.csv").set_index("predictor")
    assert set(metrics.index) == {"g_ref", "gi_powerlaw", "gi_gbm"}


def test_table_only_run_writes_the_report_and_the_figures_that_need_no_images(colour_run):
    import re

    import yaml

    from mlpipe.evaluate.registry import PAPER_FIGURES, evaluation_figures, missing_parts

    importance = yaml.safe_load(CONFIG.read_text())["evaluate"]["importance"]["predictors"]
    expected = {spec.name for spec in evaluation_figures(importance, images=False)}
    assert {"fig2_ml_histogram", "predicted_vs_true", "residuals", "importance_g_ref"} <= expected
    written = {p.stem for p in (colour_run / "figures").glob("*.png")}
    assert written == expected                       # the registry's figures without images, and no others
    image_figures = {s.name for s in PAPER_FIGURES if "images" in s.needs}
    assert image_figures and not image_figures & written
    report = (colour_run / "report.md").read_text()
    for name in ("g_ref", "gi_powerlaw", "gi_gbm"):
        assert f"| {name} |" in report, name         # in the predictors table
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert {Path(link).stem for link in links} == expected
    assert all((colour_run / link).exists() for link in links)
    not_here = report.split("## Not in this run", 1)[1]
    for title, why in missing_parts(images=False):   # each figure and section left out, and why
        assert f"- {title}\n" in not_here and f"need {why}" in not_here
    assert "Fig. 1" in not_here and "data.real.images is null" in not_here
    assert "The mock survey is smaller and simpler than SDSS" not in report   # a real run


def test_table_only_bundle_and_prediction(colour_run):
    import zipfile

    with zipfile.ZipFile(colour_run / "bundle" / "gi_gbm.zip") as zf:
        assert not [n for n in zf.namelist() if n.startswith("cnn/")]        # no CNN in the bundle
    ours = pd.read_csv(colour_run / "predict" / "predictions.csv").set_index("objid")
    rejected = pd.read_csv(colour_run / "predict" / "rejected.csv")
    from astropy.table import Table

    assert len(ours) + len(rejected) == len(Table.read(FIXTURE / "gswlc_nsa.fits"))   # each predicted or explained
    assert rejected["reason"].str.contains("maggies_g").all() and len(rejected) == 3   # the non-positive g fluxes
    workflow = pd.read_csv(colour_run / "predictions" / "gi_gbm.csv").set_index("objid")
    common = workflow.index.intersection(ours.index)
    assert len(common) == len(workflow)          # every sample galaxy predicted again from the table
    np.testing.assert_allclose(ours.loc[common, "ml_pred"], workflow.loc[common, "ml_pred"], rtol=1e-6)


def test_real_colour_bench_runs_one_fold_through_the_workflow_code():
    sys.path.insert(0, str(REPO / "bench"))
    import real_colour_bench

    per_fold, extra = real_colour_bench.run(FIXTURE / "gswlc_nsa.fits", repeats=1, k=5, only_folds=1, threads=1)
    assert len(per_fold) == 1 and extra["n_galaxies"] == 281
    row = per_fold.iloc[0]
    for col in ("constant", "g_ref", "gi_powerlaw", "gi_gbm", "plain_g_ref", "plain_gi_gbm"):
        assert np.isfinite(row[col]) and row[col] > 0
    assert row["gi_powerlaw"] < row["constant"] and row["gi_gbm"] < row["constant"]   # the colour carries M/L


def test_real_colour_bench_on_the_real_table_selects_the_962_galaxies(real_dir):
    """The real GSWLC-2 x NSA table through the readers and the sample's cuts: the 962 galaxies of
    z > 0.005, chi2 < 5, flag_sed = 0 and positive g and i fluxes, less those whose M*/L_g no stellar
    population reaches (each rejected with its value); one fold of the benchmark."""
    sys.path.insert(0, str(REPO / "bench"))
    import real_colour_bench

    per_fold, extra = real_colour_bench.run(real_dir / "colour" / "virgo_gswlc_nsa.fits", repeats=1, k=5,
                                            only_folds=1, threads=1)
    assert extra["n_galaxies"] + len(extra["ml_range"]) == 962
    assert len(extra["ml_range"]) < 5 and extra["ml_range"]["reason"].str.contains("M\\*/L_g = .* is outside").all()
    row = per_fold.iloc[0]
    assert row["gi_gbm"] < row["constant"] and row["gi_powerlaw"] < row["constant"]
