"""The Snakemake workflow: lint, dry run with per-shard jobs, and a tiny end-to-end run."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY, snakemake


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


def test_paper_preset_builds_its_dag(tmp_path):
    """The paper preset (750,000 mock rows -> ~75,000 galaxies in 150 shards) dry-runs, and
    extracts each CNN's features over all 150 shards in one process (its start-up paid once)."""
    shutil.copy(REPO / "workflow_config.yaml", tmp_path)
    run = snakemake("-n", "-p", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                    "--configfile", str(REPO / "config" / "paper.yaml"), cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "wildcards: shard=149" in out and "wildcards: shard=150" not in out
    commands = [line for line in out.splitlines() if line.startswith("Shell command: python -m mlpipe")]
    extraction = [c for c in commands if " extract-features " in c]
    for model in ("cnn1", "cnn2", "cnn3", "cnn4"):
        mine = [c for c in extraction if f"results/models/{model}/model.pt" in c]
        assert len(mine) == 1, mine                      # one extraction process per model ...
        assert "--shards 150" in mine[0] and f"--outdir results/features/{model}" in mine[0]   # ... over every shard
    assert len(extraction) == 4


def test_shell_commands_fit_the_kernel_limit_at_a_thousand_shards(tmp_path):
    """Snakemake runs each job as `bash -c <command>`, one argument, which Linux caps at 128 KiB;
    steps that read every shard take a folder and a count, so no command grows with the shards."""
    shutil.copy(REPO / "workflow_config.yaml", tmp_path)
    (tmp_path / "many.yaml").write_text("catalog:\n  n_shards: 1000\n")
    run = snakemake("-n", "-p", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                    "--configfile", str(tmp_path / "many.yaml"), cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    commands = [line for line in out.splitlines() if line.startswith("Shell command: python -m mlpipe")]
    assert any("gbm-table" in c and "--shards 1000" in c for c in commands)
    assert len([c for c in commands if " preprocess " in c]) == 1000
    assert max(len(c) for c in commands) < 16_384   # gbm-table listing every store took 167 KB here
    # every rule that writes all shards at once declares one folder, not n files: Snakemake matches
    # each requested file against every output pattern of a rule, O(shards^2) in the DAG build
    outputs, rule = {}, None
    for line in out.splitlines():
        if line.startswith(("rule ", "checkpoint ")):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("output:"):
            outputs.setdefault(rule, []).append(line.split(":", 1)[1].strip().split(", "))
    assert outputs["build_sample"] == [["results/catalog/sample.csv", "results/catalog/rejected.csv", "results/catalog/shards"]]
    assert all(len(job) < 100 for jobs in outputs.values() for job in jobs), {r: max(map(len, j)) for r, j in outputs.items()}


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


def test_tiny_run_trains_every_cnn_before_extracting(tiny_run):
    """train_cnn's priority: on 2 cores the one-thread extraction jobs wait for the last training
    (two threads), then run two at a time, instead of one running beside an idle core."""
    first_log = sorted((tiny_run / ".snakemake" / "log").glob("*.snakemake.log"))[0].read_text()
    started = re.findall(r"^(?:local)?rule (train_cnn|extract_features):$", first_log, flags=re.MULTILINE)
    assert sorted(started) == ["extract_features"] * 4 + ["train_cnn"] * 4
    assert started[:4] == ["train_cnn"] * 4


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
    # every figure of the registry (tests/test_figures.py checks their panels)
    report = (results / "report.md").read_text()
    assert "g_morph" in report and "paper" in report and "Ablations" in report


def test_predict_reproduces_the_test_set_predictions(tiny_run, tmp_path):
    """The predict rule (bundle export, then `mlpipe predict` on the test galaxies' own FITS files)
    gives the workflow's test-set predictions to 1e-6."""
    import yaml

    results = tiny_run / "results"
    sample = pd.read_csv(results / "catalog" / "sample.csv")
    test = sample[sample["split"] == "test"]
    images = tmp_path / "images"
    images.mkdir()
    for objid, shard in zip(test["objid"], test["shard"]):
        (images / f"{objid}.fits").symlink_to(results / "mock" / "images" / f"shard-{shard}" / f"{objid}.fits")
    new = test[["objid", "ra", "dec", "z", "d25_arcmin"]].copy()
    for b in "gi":  # the sample's magnitudes are extinction-corrected already
        new[f"modelMag_{b}"], new[f"modelMagErr_{b}"], new[f"extinction_{b}"] = test[f"mag_{b}"], test[f"mag_err_{b}"], 0.0
    new.to_csv(tmp_path / "new_galaxies.csv", index=False)
    predict_cfg = {"predict": {"predictor": "g_morph", "morphology_model": "cnn1", "stars": str(results / "mock" / "stars.csv"),
                               "catalogue": str(tmp_path / "new_galaxies.csv"), "images": str(images)}}
    (tmp_path / "predict.yaml").write_text(yaml.safe_dump(predict_cfg))
    run = snakemake("results/predict/predictions.csv", "--cores", "2", "-s", str(REPO / "Snakefile"),
                    "--directory", str(tiny_run), "--configfile", str(TINY), str(tmp_path / "predict.yaml"), cwd=tiny_run)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "train_cnn" not in run.stdout + run.stderr  # only the bundle and the prediction ran

    ours = pd.read_csv(results / "predict" / "predictions.csv").set_index("objid")
    workflow = pd.read_csv(results / "predictions" / "g_morph.csv").set_index("objid")
    workflow = workflow[workflow["split"] == "test"]
    assert len(ours) >= 5 and sorted(ours.index) == sorted(workflow.index)
    rejected = pd.read_csv(results / "predict" / "rejected.csv")
    assert set(rejected["objid"]) == set(test["objid"]) - set(ours.index)  # each galaxy predicted or explained
    for col in ("ml_pred", "ml_p16", "ml_p84", "log_mstar_pred"):
        np.testing.assert_allclose(ours[col], workflow.loc[ours.index, col], rtol=1e-6, atol=1e-6, err_msg=col)
    assert (ours["lum_g_source"] == "catalogue g-band photometry").all()
    smooth = ours[[c for c in ours.columns if c.startswith("gz2_q01_")]].sum(axis=1)
    assert np.allclose(smooth, 1.0, atol=1e-4)   # unconditional probabilities of the first question


def test_predict_warns_or_refuses_images_at_another_pixel_scale(tiny_run, tmp_path, caplog):
    """An image at 0.262 arcsec/px (its WCS correct) against a bundle trained at 0.396: a warning,
    or with refuse the galaxy is rejected with the reason; the other galaxy is predicted."""
    from astropy.io import fits

    from mlpipe.predict.bundle import load_bundle
    from mlpipe.predict.run import predict_galaxies

    results = tiny_run / "results"
    run = snakemake("results/bundle/g_morph.zip", "--cores", "1", "-s", str(REPO / "Snakefile"),
                    "--directory", str(tiny_run), "--configfile", str(TINY), cwd=tiny_run)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    bundle = load_bundle(results / "bundle" / "g_morph.zip")
    assert bundle.manifest["training_images"]["pixel_scale_arcsec"] == pytest.approx(0.396, rel=1e-3)
    sample = pd.read_csv(results / "catalog" / "sample.csv")
    test = sample[sample["split"] == "test"].head(2)
    images = tmp_path / "images"
    images.mkdir()
    for i, (objid, shard) in enumerate(zip(test["objid"], test["shard"])):
        with fits.open(results / "mock" / "images" / f"shard-{shard}" / f"{objid}.fits") as hdul:
            hdu = hdul[0]
            if i == 0:   # resampled to 0.262 arcsec/px, flux kept, its WCS correct
                from scipy.ndimage import zoom

                factor = 0.396 / 0.262
                hdu.data = (zoom(hdu.data.astype(np.float64), factor, order=1) / factor**2).astype(np.float32)
                for key in ("CD1_1", "CD1_2", "CD2_1", "CD2_2", "CDELT1", "CDELT2"):   # CD or PC + CDELT
                    if key in hdu.header:
                        hdu.header[key] /= factor
                for key in ("CRPIX1", "CRPIX2"):
                    hdu.header[key] = (hdu.header[key] - 0.5) * factor + 0.5
            hdu.writeto(images / f"{objid}.fits")
    test[["objid", "ra", "dec", "z", "d25_arcmin"]].to_csv(tmp_path / "new.csv", index=False)
    odd = int(test["objid"].iloc[0])
    with caplog.at_level("WARNING"):
        warned = predict_galaxies(bundle, catalogue=tmp_path / "new.csv", images_dir=images, stars=None,
                                  out_path=tmp_path / "warn.csv", rejected_path=tmp_path / "warn_rejected.csv",
                                  device="cpu", pixel_scale_mismatch="warn")
    assert "1 galaxies have images at another pixel scale" in caplog.text and "0.262" in caplog.text
    refused = predict_galaxies(bundle, catalogue=tmp_path / "new.csv", images_dir=images, stars=None,
                               out_path=tmp_path / "refuse.csv", rejected_path=tmp_path / "refuse_rejected.csv",
                               device="cpu", pixel_scale_mismatch="refuse")
    assert odd in set(warned["objid"]) and odd not in set(refused["objid"])
    assert set(refused["objid"]) == set(warned["objid"]) - {odd}
    rejected = pd.read_csv(tmp_path / "refuse_rejected.csv").set_index("objid")
    assert "image pixel scale 0.262 arcsec/px differs from the training images' 0.396" in rejected.loc[odd, "reason"]


def test_rerun_has_nothing_to_do(tiny_run):
    run = snakemake("-n", "-s", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                    "--configfile", str(TINY), cwd=tiny_run)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_a_rerendered_mock_shard_reruns_only_its_preprocessing(tiny_run):
    """Each shard's preprocessing depends on its own render job's folder (the real-data case, a
    changed file in the user's folder, is in test_real_example.py)."""
    run = snakemake("-n", "--forcerun", "results/mock/images/shard-1", "-s", str(REPO / "Snakefile"),
                    "--directory", str(tiny_run), "--configfile", str(TINY), cwd=tiny_run)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "preprocess_shard" in out and "wildcards: shard=1" in out
    assert "wildcards: shard=0" not in out
