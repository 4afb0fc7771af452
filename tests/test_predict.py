"""Model bundles and the new-galaxy catalogue of `mlpipe predict` (the end-to-end reproduction
of the workflow's test-set predictions is in test_workflow.py)."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from mlpipe.gbm.predictors import Predictor
from mlpipe.gbm.run import fit_predictor
from mlpipe.gbm.settings import FitSettings
from mlpipe.io.integrity import save_torch
from mlpipe.io.validation import InputError
from mlpipe.predict.bundle import FeatureMismatch, export_bundle, load_bundle
from mlpipe.predict.catalogue import read_new_galaxies


def _saved_predictor(folder):
    rng = np.random.default_rng(0)
    n = 200
    features = pd.DataFrame({"z": rng.uniform(0.02, 0.2, n), "cnn1_gz2_q01_a": rng.random(n),
                             "cnn1_pool_0001": rng.random(n), "img_lum_sum": rng.random(n)}).astype(np.float32)
    meta = pd.DataFrame({"objid": np.arange(n), "split": np.where(np.arange(n) % 5 == 0, "validation", "train"),
                         "ml": 1 + features["cnn1_gz2_q01_a"].to_numpy(), "ml_err": 0.1, "lum_g": 1e10})
    cfg = {"seed": 1, "grid": {}, "cv_folds": 3,
           "params": {"num_leaves": 4, "min_data_in_leaf": 5, "learning_rate": 0.2, "num_boost_round": 50,
                      "early_stopping_rounds": 10}}
    _, info, saved = fit_predictor(Predictor("g_test", include=("z", "cnn1_", "img_")), meta=meta, features=features,
                                   settings=FitSettings.from_config(cfg))
    folder.mkdir()
    _write_fit(folder, info, saved)
    return features


def _write_fit(folder, info, saved):
    """A trained predictor's files as train_predictor writes them: model.txt, fit.json, interval.json."""
    (folder / "model.txt").write_text(saved.model_text)
    (folder / "fit.json").write_text(json.dumps(info, default=float))
    (folder / "interval.json").write_text(json.dumps(saved.interval))


def _weights(path, name):
    """A small torch file in the layout of model.pt (content digest included)."""
    import torch

    save_torch({"name": name, "model_cfg": {"target": "gz2"}, "state_dict": {"w": torch.arange(3.0)}}, path)
    return path


def _config():
    models = {"cnn1": {"target": "gz2"}, "cnn2": {"target": "gz2"}, "cnn4": {"target": "ml"}}
    return {"cosmology": {}, "catalog": {}, "preprocess": {}, "gbm": {}, "cnn": {"models": models}}


def test_bundle_packs_the_cnns_its_features_use_and_checks_the_feature_list(tmp_path):
    features = _saved_predictor(tmp_path / "gbm")
    weights = {}
    for name in ("cnn1", "cnn2", "cnn4"):
        weights[name] = _weights(tmp_path / f"{name}.pt", name)
    packed = export_bundle(tmp_path / "gbm", weights, "cnn1", _config(), tmp_path / "b.zip")
    assert packed == ["cnn1"]                       # cnn2/cnn4 features are not among the GBM's inputs
    bundle = load_bundle(tmp_path / "b.zip")
    assert bundle.cnn_weights == {"cnn1": weights["cnn1"].read_bytes()}
    assert {"mlpipe", "torch", "lightgbm"} <= set(bundle.manifest["versions"])
    bundle.check_features(features.columns)         # the same data: fine
    assert np.allclose(bundle.predictor.predict(features)["ml_pred"], 1 + features["cnn1_gz2_q01_a"], atol=0.3)

    renamed = [c.replace("cnn1_pool_0001", "cnn1_pool_0002") for c in features.columns] + ["cnn7_gz2_q01_a"]
    with pytest.raises(FeatureMismatch) as err:
        bundle.check_features(renamed)
    message = str(err.value)
    assert "missing from the data: cnn1_pool_0001" in message
    assert "unknown to the bundle: cnn7_gz2_q01_a" in message


def test_a_blank_d25_arcmin_is_taken_from_logd25_where_the_catalogue_has_both(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("objid,ra,dec,z,d25_arcmin,logd25\n1,150.0,2.0,0.05,0.5,\n2,150.1,2.0,0.05,,0.8\n"
                    "3,150.2,2.0,0.05,,\n")
    galaxies, rejected = read_new_galaxies(path)
    assert galaxies["d25_arcmin"].tolist() == pytest.approx([0.5, 0.1 * 10**0.8])
    assert rejected["objid"].tolist() == [3] and "no D25" in rejected["reason"].iloc[0]


def test_a_photometry_map_naming_columns_a_predict_catalogue_may_lack_is_accepted(tmp_path):
    """The training photometry map names the luminosity column, its error and the g magnitudes;
    a catalogue to predict reads them where it has them, without them where it has not."""
    (tmp_path / "with.csv").write_text("objid,ra,dec,z,LG,LG_ERR\n1,150.0,2.0,0.05,10.1,0.05\n")
    (tmp_path / "without.csv").write_text("objid,ra,dec,z\n1,150.0,2.0,0.05\n")
    photometry = {"columns": {"logLg": "LG", "logLg_err": "LG_ERR", "modelMag_g": "GMAG", "modelMagErr_g": "GERR"}}
    for name in ("with.csv", "without.csv"):
        galaxies, rejected = read_new_galaxies(tmp_path / name, needs_d25=False, photometry=photometry,
                                               optional_bands="g", lum_g_column="logLg")
        assert len(galaxies) == 1 and rejected.empty
    assert read_new_galaxies(tmp_path / "with.csv", needs_d25=False, photometry=photometry,
                             lum_g_column="logLg")[0]["logLg"].tolist() == [10.1]
    with pytest.raises(InputError, match="inputs.predict.columns.redshift: not a name"):
        read_new_galaxies(tmp_path / "with.csv", needs_d25=False, column_map={"redshift": "z"})


def test_bundle_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="no such bundle"):
        load_bundle(tmp_path / "none.zip")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a complete mlpipe bundle"):
        load_bundle(tmp_path / "bad.zip")
    with zipfile.ZipFile(tmp_path / "part.zip", "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": 1, "cnn_models": []}))
    with pytest.raises(InputError, match="not a complete mlpipe bundle"):
        load_bundle(tmp_path / "part.zip")
    _saved_predictor(tmp_path / "gbm")
    with pytest.raises(InputError, match="predict.morphology_model.*cnn4.*not trained on GZ2"):
        export_bundle(tmp_path / "gbm", {"cnn4": tmp_path / "x.pt"}, "cnn4", _config(), tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()


def test_new_galaxy_catalogue_rejects_with_reasons_and_names_bad_lines(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("objid,ra,dec,z,logd25\n1,150.0,2.0,0.05,0.8\n2,150.1,2.0,-0.1,0.8\n3,150.2,2.0,0.05,\n")
    galaxies, rejected = read_new_galaxies(path)
    assert galaxies["objid"].tolist() == [1]
    assert galaxies.loc[0, "d25_arcmin"] == pytest.approx(0.1 * 10**0.8)
    assert dict(zip(rejected["objid"], rejected["reason"])) == {2: "redshift missing or <= 0",
                                                                3: "no D25 (needed for the field of view)"}
    path.write_text("objid,ra,dec,z,d25_arcmin\n1,150.0,2.0,0.05,0.8\n1,150.1,2.0,0.05,0.8\n")
    with pytest.raises(InputError, match="line 3, column 'objid': duplicate id 1"):
        read_new_galaxies(path)
    path.write_text("objid,ra,dec,z,d25_arcmin\n1,150.0,92.0,0.05,0.8\n")
    with pytest.raises(InputError, match="line 2, column 'dec'"):
        read_new_galaxies(path)
    path.write_text("objid,ra,dec,z\n1,150.0,2.0,0.05\n")
    with pytest.raises(InputError, match="missing column d25_arcmin"):
        read_new_galaxies(path)


def test_predict_with_no_usable_image_says_why(tmp_path, default_config):
    from mlpipe.predict.run import predict_galaxies

    _saved_predictor(tmp_path / "gbm")
    cfg = default_config | {"cnn": {**default_config["cnn"], "models": {"cnn1": default_config["cnn"]["models"]["cnn1"]}}}
    _weights(tmp_path / "cnn1.pt", "cnn1")
    export_bundle(tmp_path / "gbm", {"cnn1": tmp_path / "cnn1.pt"}, "cnn1", cfg, tmp_path / "b.zip")
    (tmp_path / "new.csv").write_text("objid,ra,dec,z,d25_arcmin\n1237645017035724801,150.0,2.0,0.05,0.6\n")
    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match="no galaxy could be preprocessed.*image file missing"):
        predict_galaxies(load_bundle(tmp_path / "b.zip"), catalogue=tmp_path / "new.csv", images_dir=tmp_path / "images",
                         stars=None, out_path=tmp_path / "out.csv", rejected_path=tmp_path / "rejected.csv")
    rejected = pd.read_csv(tmp_path / "rejected.csv")
    assert rejected["objid"].tolist() == [1237645017035724801] and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("value", ["99", "inf", "nan", "-9999"])
def test_unusable_magnitudes_are_rejected_with_the_reason(tmp_path, value):
    path = tmp_path / "new.csv"
    path.write_text("objid,ra,dec,z,modelMag_g,modelMagErr_g,extinction_g,modelMag_i,modelMagErr_i,extinction_i\n"
                    "1,150.0,2.0,0.05,17.0,0.02,0.1,16.0,0.02,0.05\n"
                    f"2,150.1,2.0,0.05,17.0,0.02,0.1,{value},0.02,0.05\n")
    galaxies, rejected = read_new_galaxies(path, bands="gi", needs_d25=False)
    assert galaxies["objid"].tolist() == [1] and galaxies["mag_i"].tolist() == pytest.approx([15.95])
    assert rejected["objid"].tolist() == [2] and rejected["reason"].iloc[0].startswith("modelMag_i")


@pytest.mark.parametrize("content, message", [(None, "no such catalogue"), ("", "empty file"),
                                              ("objid,ra,dec,z\n", "a header but no data rows")])
def test_missing_or_empty_predict_catalogue_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "new.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_new_galaxies(path)


def _table_only_bundle(tmp_path):
    """A gi_gbm-like predictor trained on catalogue features alone, exported without any CNN."""
    rng = np.random.default_rng(1)
    n = 300
    z = rng.uniform(0.02, 0.1, n)
    lum_g, colour = 10 ** rng.uniform(9, 11, n), rng.uniform(0.3, 1.3, n)
    features = pd.DataFrame({"z": z, "pixel_kpc": z, "phot_lum_g": lum_g, "phot_lum_i": lum_g * 10 ** (0.4 * colour),
                             "phot_ratio_g_i": 10 ** (-0.4 * colour)}).astype(np.float32)
    meta = pd.DataFrame({"objid": np.arange(n), "split": np.where(np.arange(n) % 5 == 0, "validation", "train"),
                         "ml": 10 ** (-0.4 + 0.9 * colour), "ml_err": 0.1, "lum_g": lum_g})
    cfg = {"seed": 1, "grid": {}, "cv_folds": 3,
           "params": {"num_leaves": 4, "min_data_in_leaf": 5, "learning_rate": 0.2, "num_boost_round": 50,
                      "early_stopping_rounds": 10}}
    _, info, saved = fit_predictor(Predictor("gi_test", include=("phot_lum_g", "phot_lum_i", "phot_ratio_g_i", "z")),
                                   meta=meta, features=features, settings=FitSettings.from_config(cfg))
    folder = tmp_path / "gbm"
    folder.mkdir()
    _write_fit(folder, info, saved)
    return folder


def test_table_only_bundle_predicts_without_images_or_d25(tmp_path, default_config):
    from mlpipe.predict.run import predict_galaxies

    folder = _table_only_bundle(tmp_path)
    assert export_bundle(folder, {}, "cnn1", default_config, tmp_path / "b.zip") == []   # no CNN packed
    bundle = load_bundle(tmp_path / "b.zip")
    assert bundle.cnn_weights == {} and bundle.manifest["morphology_model"] is None
    (tmp_path / "new.csv").write_text(
        "objid,ra,dec,z,modelMag_g,modelMagErr_g,extinction_g,modelMag_i,modelMagErr_i,extinction_i\n"
        "1237645017035724801,150.0,2.0,0.05,16.0,0.02,0.1,15.0,0.02,0.05\n"
        "1237645017035724802,150.1,2.0,0.05,99,0.02,0.1,15.0,0.02,0.05\n")
    out = predict_galaxies(bundle, catalogue=tmp_path / "new.csv", images_dir=None, stars=None,
                           out_path=tmp_path / "out.csv", rejected_path=tmp_path / "rej.csv")
    assert out["objid"].tolist() == [1237645017035724801] and (out["ml_pred"] > 0).all()
    assert np.isfinite(out["log_mstar_pred"]).all()
    rejected = pd.read_csv(tmp_path / "rej.csv")
    assert rejected["objid"].tolist() == [1237645017035724802] and "modelMag_g = 99" in rejected["reason"].iloc[0]


def test_a_predictor_that_reads_images_stops_without_them(tmp_path, default_config):
    from mlpipe.predict.run import predict_galaxies

    _saved_predictor(tmp_path / "gbm")
    with pytest.raises(InputError, match="predictor g_test reads the g-band images.*--models"):
        export_bundle(tmp_path / "gbm", {}, "cnn1", default_config, tmp_path / "b.zip")
    cfg = default_config | {"cnn": {**default_config["cnn"], "models": {"cnn1": default_config["cnn"]["models"]["cnn1"]}}}
    _weights(tmp_path / "cnn1.pt", "cnn1")
    export_bundle(tmp_path / "gbm", {"cnn1": tmp_path / "cnn1.pt"}, "cnn1", cfg, tmp_path / "b.zip")
    (tmp_path / "new.csv").write_text("objid,ra,dec,z\n1,150.0,2.0,0.05\n")
    with pytest.raises(InputError, match=r"predictor g_test reads the g-band images .*give --images"):
        predict_galaxies(load_bundle(tmp_path / "b.zip"), catalogue=tmp_path / "new.csv", images_dir=None, stars=None,
                         out_path=tmp_path / "out.csv", rejected_path=tmp_path / "rej.csv")


@pytest.mark.parametrize("value, reason", [("-99", "no logLg"), ("-9999", "no logLg"), ("", "no logLg"),
                                           ("99", "logLg = 99 is outside"), ("1e10", "logLg = 1e+10 is outside"),
                                           ("inf", "logLg = inf is not finite"), ("4.0", "logLg = 4 is outside")])
def test_an_unusable_own_luminosity_is_rejected_with_the_reason(tmp_path, value, reason):
    path = tmp_path / "new.csv"
    path.write_text(f"objid,ra,dec,z,logLg\n1,150.0,2.0,0.05,10.2\n2,150.1,2.0,0.05,{value}\n")
    galaxies, rejected = read_new_galaxies(path, needs_d25=False, lum_g_column="logLg")
    assert galaxies["objid"].tolist() == [1] and galaxies["logLg"].tolist() == [10.2]
    assert rejected["objid"].tolist() == [2] and rejected["reason"].iloc[0].startswith(reason)
    path.write_text(f"objid,ra,dec,z,my_lum\n1,150.0,2.0,0.05,10.2\n2,150.1,2.0,0.05,{value}\n")   # a mapped name
    galaxies, rejected = read_new_galaxies(path, needs_d25=False, lum_g_column="logLg", column_map={"logLg": "my_lum"})
    assert galaxies["logLg"].tolist() == [10.2] and rejected["reason"].iloc[0].startswith(reason.replace("logLg", "my_lum"))


@pytest.mark.parametrize("unit, values", [("solLum", [10.0**10.2, 0.0]), ("1e10 Lsun", [10.0**0.2, -1.0]),
                                           ("dex(solLum)", [10.2, -99.0])])
def test_an_own_luminosity_is_read_in_the_files_unit(tmp_path, unit, values):
    from astropy.table import Column, Table

    Table({"objid": [1, 2], "ra": [150.0, 150.1], "dec": [2.0, 2.0], "z": [0.05, 0.05],
           "logLg": Column(values, unit=unit)}).write(tmp_path / "new.ecsv")
    galaxies, rejected = read_new_galaxies(tmp_path / "new.ecsv", needs_d25=False, lum_g_column="logLg")
    assert galaxies["logLg"].tolist() == pytest.approx([10.2])
    assert rejected["objid"].tolist() == [2]   # L <= 0 (or the log's missing marker): a reason, not a log of it
    Table({"objid": [1], "ra": [150.0], "dec": [2.0], "z": [0.05],
           "logLg": Column([1e43], unit="erg / s")}).write(tmp_path / "erg.ecsv")
    with pytest.raises(InputError, match=r"erg.ecsv, column 'logLg': unit 'erg / s' is neither"):
        read_new_galaxies(tmp_path / "erg.ecsv", needs_d25=False, lum_g_column="logLg")


def test_predict_rejects_a_galaxy_whose_own_luminosity_is_unusable(tmp_path, default_config):
    from mlpipe.predict.run import predict_galaxies

    folder = _table_only_bundle(tmp_path)
    cfg = default_config | {"catalog": {**default_config["catalog"], "lum_g_column": "logLg"}}
    export_bundle(folder, {}, "cnn1", cfg, tmp_path / "b.zip")
    (tmp_path / "new.csv").write_text(
        "objid,ra,dec,z,modelMag_g,modelMagErr_g,extinction_g,modelMag_i,modelMagErr_i,extinction_i,logLg\n"
        "1237645017035724801,150.0,2.0,0.05,16.0,0.02,0.1,15.0,0.02,0.05,10.0\n"
        "1237645017035724802,150.1,2.0,0.05,16.0,0.02,0.1,15.0,0.02,0.05,-99\n"
        "1237645017035724803,150.2,2.0,0.05,16.0,0.02,0.1,15.0,0.02,0.05,1e10\n")
    out = predict_galaxies(load_bundle(tmp_path / "b.zip"), catalogue=tmp_path / "new.csv", images_dir=None,
                           stars=None, out_path=tmp_path / "out.csv", rejected_path=tmp_path / "rej.csv")
    assert out["objid"].tolist() == [1237645017035724801] and out["lum_g"].tolist() == pytest.approx([1e10])
    assert out["lum_g_source"].tolist() == ["catalogue column logLg"] and np.isfinite(out["log_mstar_pred"]).all()
    rejected = pd.read_csv(tmp_path / "rej.csv")
    assert rejected["objid"].tolist() == [1237645017035724802, 1237645017035724803]
    assert rejected["reason"].str.contains("logLg").all()


@pytest.mark.parametrize("fmt, name, unit, value, arcmin", [
    ("ecsv", "d25_arcmin", "arcsec", 42.0, 42.0 / 60.0),
    ("fits", "d25_arcmin", "deg", 0.01, 0.6),
    ("votable", "d25_arcmin", "arcmin", 0.8, 0.8),
    ("ecsv", "D25", "arcsec", 90.0, 1.5),                      # a mapped name
])
def test_d25_is_converted_from_the_angle_unit_the_file_gives(tmp_path, fmt, name, unit, value, arcmin):
    from astropy.table import Column, Table

    path = tmp_path / "new.dat"
    Table({"objid": [1], "ra": [150.0], "dec": [2.0], "z": [0.05], name: Column([value], unit=unit)}).write(
        path, format={"fits": "fits", "votable": "votable", "ecsv": "ascii.ecsv"}[fmt])
    galaxies, rejected = read_new_galaxies(path, column_map={"d25_arcmin": name} if name != "d25_arcmin" else None)
    assert rejected.empty and galaxies["d25_arcmin"].tolist() == pytest.approx([arcmin])


@pytest.mark.parametrize("unit, value", [("arcmin", 1.2), ("arcsec", 72.0)])
def test_a_logd25_column_with_an_angle_unit_is_a_diameter(tmp_path, unit, value):
    from astropy.table import Column, Table

    Table({"objid": [1], "ra": [150.0], "dec": [2.0], "z": [0.05], "logd25": Column([value], unit=unit)}).write(
        tmp_path / "new.ecsv")
    galaxies, rejected = read_new_galaxies(tmp_path / "new.ecsv")
    assert rejected.empty and galaxies["d25_arcmin"].tolist() == pytest.approx([1.2])   # not 0.1 x 10^1.2


@pytest.mark.parametrize("name, unit, message", [
    ("d25_arcmin", "mag", r"new.ecsv, column 'd25_arcmin': unit 'mag' is not an angle"),
    ("d25_arcmin", "kpc", r"new.ecsv, column 'd25_arcmin': unit 'kpc' is not an angle"),
    ("logd25", "kpc", r"new.ecsv, column 'logd25': unit 'kpc' is neither a log10 of D25"),
])
def test_a_d25_unit_that_does_not_fit_is_an_error_naming_column_and_unit(tmp_path, name, unit, message):
    from astropy.table import Column, Table

    Table({"objid": [1], "ra": [150.0], "dec": [2.0], "z": [0.05], name: Column([0.8], unit=unit)}).write(
        tmp_path / "new.ecsv")
    with pytest.raises(InputError, match=message):
        read_new_galaxies(tmp_path / "new.ecsv")


def test_a_d25_column_in_a_log_unit_is_not_read_as_a_diameter(tmp_path):
    from astropy import units as u
    from astropy.table import Table

    table = Table({"objid": np.array([1, 2], dtype=np.int64), "ra": [10.0, 20.0], "dec": [0.0, 1.0],
                   "z": [0.05, 0.06], "d25_arcmin": [1.2, 0.5]})
    table["d25_arcmin"].unit = u.dex(u.arcmin)
    table.write(tmp_path / "new.ecsv")
    with pytest.raises(InputError, match=r"new.ecsv, column 'd25_arcmin': unit 'dex\(arcmin\)' is not an angle"):
        read_new_galaxies(tmp_path / "new.ecsv")
