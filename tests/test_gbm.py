"""GBM stage: losses, the weighted L1 objective, the power law, feature selection, dead features,
saved predictors."""

import json

import numpy as np
import pandas as pd
import pytest

from mlpipe import losses
from mlpipe.gbm import lightgbm_fit
from mlpipe.gbm.powerlaw import colour_from_ratio, fit_powerlaw, predict_powerlaw
from mlpipe.gbm.predictors import Predictor, all_predictors, select_columns
from mlpipe.gbm.run import calibration_scale, fit_predictor
from mlpipe.gbm.saved import SavedPredictor, interval_bounds
from mlpipe.gbm.settings import FitSettings
from mlpipe.gbm.table import drop_dead_features

PARAMS = {"num_leaves": 2, "min_data_in_leaf": 1, "learning_rate": 1.0, "num_boost_round": 1,
          "early_stopping_rounds": 1, "min_sum_hessian_in_leaf": 0.0}


def test_losses_by_hand():
    pred, true, err = np.array([2.0, 1.0]), np.array([1.0, 2.0]), np.array([0.5, 0.25])
    assert losses.l1(pred, true, err) == pytest.approx((2 + 4) / 2)
    assert losses.l2(pred, true, err) == pytest.approx((4 + 16) / 2)
    assert losses.rmsle(pred, true) == pytest.approx(np.sqrt(((np.log(3) - np.log(2)) ** 2 * 2) / 2))


def _weighted_median(y, w):
    """The value where the cumulative weight reaches half, interpolated between neighbours."""
    order = np.argsort(y)
    return float(np.interp(0.5 * w.sum(), np.cumsum(w[order]), y[order]))


def _fit_on(x, y, dy, params, grid=None, cv_folds=2):
    """An L1 fit validated on its own training rows."""
    return lightgbm_fit.fit(x_train=x, ml_train=y, ml_err_train=dy, x_val=x, ml_val=y, ml_err_val=dy, loss="l1",
                            params=params, grid=grid or {}, cv_folds=cv_folds, seed=0)


def test_weighted_l1_objective_gives_weighted_median():
    """One tree with one leaf: LightGBM's L1 with weights 1/dY predicts the weighted median,
    not the mean and not the unweighted median."""
    x = pd.DataFrame({"f": np.zeros(5)})
    y = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    dy = np.array([1.0, 1.0, 0.05, 1.0, 1.0])  # the third galaxy carries 20 of 24 units of weight
    fit, _ = _fit_on(x, y, dy, PARAMS)
    assert fit.predict(x) == pytest.approx(np.full(5, _weighted_median(y, 1 / dy)), abs=1e-6)
    rng = np.random.default_rng(3)
    for _ in range(5):
        y, dy = rng.lognormal(0, 1, 41), rng.uniform(0.05, 1.0, 41)
        x = pd.DataFrame({"f": np.zeros(41)})
        fit, _ = _fit_on(x, y, dy, PARAMS)
        assert fit.predict(x)[0] == pytest.approx(_weighted_median(y, 1 / dy), rel=1e-6)
        assert fit.predict(x)[0] != pytest.approx(np.median(y), rel=1e-3)


def test_powerlaw_fit_recovers_parameters():
    rng = np.random.default_rng(0)
    colour = rng.uniform(0.3, 1.3, 2000)
    y = 10 ** (-0.4 + 0.9 * colour) * 10 ** rng.normal(0, 0.02, 2000)
    a, b = fit_powerlaw(colour_mag=colour, ml=y, ml_err=0.05 * y, loss="l1")
    assert a == pytest.approx(-0.4, abs=0.01) and b == pytest.approx(0.9, abs=0.01)
    assert predict_powerlaw((a, b), colour_mag=np.array([1.0]))[0] == pytest.approx(10 ** 0.5, rel=0.02)
    assert colour_from_ratio(np.array([1.0]))[0] == 0.0


def test_grid_search_by_cross_validation_picks_a_point():
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.random(300), "b": rng.random(300)})
    y = 1 + 3 * x["a"].to_numpy() ** 2
    params = {"learning_rate": 0.1, "num_boost_round": 200, "early_stopping_rounds": 20, "min_data_in_leaf": 5,
              "verbosity": -1}
    fit, info = lightgbm_fit.fit(x_train=x[:200], ml_train=y[:200], ml_err_train=np.ones(200), x_val=x[200:],
                                 ml_val=y[200:], ml_err_val=np.ones(100), loss="l1", params=params,
                                 grid={"num_leaves": [2, 16]}, cv_folds=3, seed=0)
    assert set(info["cv_scores"]) == {"num_leaves=2", "num_leaves=16"}
    assert info["chosen"]["num_leaves"] == 16
    assert losses.l1(fit.predict(x[200:]), y[200:], np.ones(100)) < 0.1


def _tuned_fit(x, y, dy):
    params = {"learning_rate": 0.1, "num_boost_round": 200, "early_stopping_rounds": 20, "min_data_in_leaf": 5,
              "verbosity": -1}
    return lightgbm_fit.fit(x_train=x[:300], ml_train=y[:300], ml_err_train=dy[:300], x_val=x[300:], ml_val=y[300:],
                            ml_err_val=dy[300:], loss="l1", params=params, grid={"num_leaves": [4, 16]}, cv_folds=5,
                            seed=0)


def test_cv_falls_back_to_the_weighted_median_where_the_features_carry_nothing():
    """The CV scores the starting point alone (the weighted median, the L1-optimal constant): with
    features unrelated to M/L no tree count beats it, and the model is that constant."""
    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.random(400), "b": rng.random(400)})
    y, dy = rng.lognormal(0, 0.5, 400), rng.uniform(0.05, 0.3, 400)
    fit, info = _tuned_fit(x, y, dy)
    assert info["no_trees"] and fit.booster is None and info["best_iteration"] == 0
    assert info["cv_start_loss"] <= min(info["cv_scores"].values())
    median = lightgbm_fit.optimal_constant(ml=y[:300], ml_err=dy[:300], loss="l1")
    assert median == pytest.approx(_weighted_median(y[:300], 1 / dy[:300]), rel=0.02)
    assert info["constant_ml"] == median and (fit.predict(x) == median).all()
    # the constant is the L1 optimum: moving it either way raises the weighted L1 on the training rows
    for shift in (0.98, 1.02):
        assert losses.l1(np.full(300, median * shift), y[:300], dy[:300]) > losses.l1(np.full(300, median), y[:300], dy[:300])
    # where M/L depends on the features the trees beat the constant in the same CV
    y = 1 + 3 * x["a"].to_numpy() ** 2
    fit, info = _tuned_fit(x, y, np.full(400, 0.1))
    assert not info["no_trees"] and info["best_iteration"] > 0
    assert info["cv_start_loss"] > 2 * min(info["cv_scores"].values())


def test_a_predictor_without_trees_is_saved_as_its_constant_and_reloads():
    rng = np.random.default_rng(0)  # features unrelated to M/L (on this draw no grid point beats the constant)
    n = 500
    meta = pd.DataFrame({"objid": np.arange(n), "split": np.where(np.arange(n) % 5 == 0, "validation", "train"),
                         "ml": rng.lognormal(0, 0.5, n), "ml_err": rng.uniform(0.05, 0.3, n),
                         "lum_g": 1e10})
    features = pd.DataFrame({"z": rng.uniform(0.01, 0.1, n), "pixel_kpc": rng.random(n),
                             "phot_lum_g": rng.lognormal(23, 1, n)})
    settings = FitSettings(seed=1, params={"learning_rate": 0.1, "num_boost_round": 200, "early_stopping_rounds": 20,
                                           "verbosity": -1}, cv_folds=5, tuning_max_features=30,
                           tuning_grid={"num_leaves": [4, 16], "min_data_in_leaf": [10]},
                           tuning_early_stopping_rounds=20)
    pred, info, saved = fit_predictor(all_predictors({"top_features": 50, "studies": []})["g_ref"], meta=meta,
                                      features=features, settings=settings)
    assert info["no_trees"] and saved.model_text == "" and info["base"] == {"kind": "constant",
                                                                            "ml": info["constant_ml"]}
    assert (pred["ml_pred"] == info["constant_ml"]).all()
    reloaded = SavedPredictor.from_texts(saved.model_text, json.dumps(info, default=float), json.dumps(saved.interval))
    np.testing.assert_array_equal(reloaded.predict(features)["ml_pred"], pred["ml_pred"])


def test_predictor_feature_selection():
    predictors = all_predictors({"top_features": 50, "studies": ["ablation", "multiband", "loss_functions",
                                                                "true_gz2", "half_training"]})
    columns = ["z", "pixel_kpc", "phot_lum_g", "phot_lum_i", "phot_ratio_g_i", "phot_ratio_g_r", "img_lum_sum",
               "img_flux_sum", "img_log_mean", "img_scale_a", "cnn1_gz2_q01_x", "cnn1_pool_0001", "cnn3_gz2_q01_x",
               "cnn4_hidden_00", "true_gz2_q01_x"]
    assert select_columns(predictors["g_ref"], columns) == ["z", "pixel_kpc", "phot_lum_g"]
    assert select_columns(predictors["gi_gbm"], columns) == ["z", "pixel_kpc", "phot_lum_g", "phot_lum_i", "phot_ratio_g_i"]
    g_morph = select_columns(predictors["g_morph"], columns)
    assert "phot_lum_g" not in g_morph and "img_flux_sum" not in g_morph and "cnn4_hidden_00" in g_morph
    assert "true_gz2_q01_x" not in g_morph
    no_dist = select_columns(predictors["abl_no_distance"], columns)
    assert "z" not in no_dist and "img_flux_sum" in no_dist and "img_lum_sum" not in no_dist
    true_gz2 = select_columns(predictors["abl_true_gz2"], columns)
    assert "true_gz2_q01_x" in true_gz2 and "cnn3_gz2_q01_x" not in true_gz2 and "cnn1_gz2_q01_x" in true_gz2
    assert len(predictors) == 5 + 5 + 1 + 1 + 6 + 10


def test_dead_features_dropped_and_recorded():
    meta = pd.DataFrame({"split": ["train", "train", "test"]})
    features = pd.DataFrame({"cnn1_pool_0000": [0.0, 0.0, 1.0], "cnn1_pool_0001": [0.0, 2.0, 0.0],
                             "z": [0.0, 0.0, 0.0]})
    kept, dead = drop_dead_features(meta, features)
    assert dead == ["cnn1_pool_0000"] and list(kept.columns) == ["cnn1_pool_0001", "z"]


def test_calibrated_interval_covers_target_on_validation():
    rng = np.random.default_rng(2)
    y = rng.normal(10, 1, 2000)
    pred = np.full(2000, 10.0)
    k_lo, k_hi = pred - 0.3, pred + 0.3  # far too narrow
    k = calibration_scale(pred, k_lo, k_hi, y, np.arange(1000))
    lo, hi = interval_bounds(pred, k_lo, k_hi, k)
    assert k > 2
    assert np.mean((y[1000:] >= lo[1000:]) & (y[1000:] <= hi[1000:])) == pytest.approx(0.68, abs=0.04)


def _synthetic_table(n=400, seed=3):
    rng = np.random.default_rng(seed)
    colour = rng.uniform(0.3, 1.4, n)
    z = rng.uniform(0.02, 0.2, n)
    ml = 10 ** (-0.4 + 0.95 * colour + rng.normal(0, 0.05, n))
    features = pd.DataFrame({"z": z, "pixel_kpc": z * 7.0, "phot_lum_g": rng.uniform(1e9, 1e11, n),
                             "phot_lum_i": 1.0, "phot_ratio_g_i": 10 ** (-colour / 2.5)}).astype(np.float32)
    split = np.where(np.arange(n) % 10 == 0, "test", np.where(np.arange(n) % 10 == 1, "validation", "train"))
    meta = pd.DataFrame({"objid": np.arange(n), "split": split, "ml": ml, "ml_err": 0.1 * ml,
                         "lum_g": features["phot_lum_g"].astype(float)})
    return meta, features


@pytest.mark.parametrize("kind, loss", [("gbm", "l1"), ("gbm", "rmsle"), ("powerlaw", "l1")])
def test_saved_predictor_reloaded_from_text_gives_the_same_predictions(kind, loss):
    meta, features = _synthetic_table()
    predictor = Predictor("gi_test", kind=kind, loss=loss, include=("phot_", "z"))
    cfg = {"seed": 1, "grid": {}, "cv_folds": 3,
           "params": {"num_leaves": 8, "min_data_in_leaf": 5, "learning_rate": 0.1, "num_boost_round": 200,
                      "early_stopping_rounds": 20, "max_bin": 63}}
    out, info, saved = fit_predictor(predictor, meta=meta, features=features, settings=FitSettings.from_config(cfg),
                                     quantile_interval=True)
    reloaded = SavedPredictor.from_texts(saved.model_text, json.dumps(info, default=float), json.dumps(saved.interval))
    again = reloaded.predict(features.sample(frac=1.0, random_state=0)).sort_index()
    assert np.array_equal(again["ml_pred"].to_numpy(), out["ml_pred"].to_numpy())
    assert losses.l1(out["ml_pred"].to_numpy(), meta["ml"].to_numpy(), meta["ml_err"].to_numpy()) < 1.5
    if kind == "gbm":
        assert np.array_equal(again["ml_p84"].to_numpy(), out["ml_p84"].to_numpy())
        assert (out["ml_p16"] <= out["ml_pred"]).all() and (out["ml_pred"] <= out["ml_p84"]).all()


def test_feature_fraction_floor_gives_every_tree_two_features():
    from mlpipe.gbm import lightgbm_fit

    assert lightgbm_fit.feature_fraction_floor(0.4, 3) == pytest.approx(2 / 3)
    assert lightgbm_fit.feature_fraction_floor(0.4, 2200) == 0.4
    points = lightgbm_fit.grid_points({"feature_fraction": [0.3, 0.5, 1.0], "num_leaves": [7]}, n_features=3)
    assert [p["feature_fraction"] for p in points] == [pytest.approx(2 / 3), 1.0]   # 0.3 and 0.5 both become 2/3
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((400, 3)), columns=["a", "b", "c"])
    y = 1 + x["a"] * x["b"] + 0.3 * x["c"]
    params = {"num_leaves": 7, "min_data_in_leaf": 10, "feature_fraction": 0.4, "learning_rate": 0.1,
              "num_boost_round": 60, "early_stopping_rounds": 10}
    model, _ = lightgbm_fit.fit(x_train=x[:300], ml_train=y[:300].to_numpy(), ml_err_train=np.full(300, 0.1),
                                x_val=x[300:], ml_val=y[300:].to_numpy(), ml_err_val=np.full(100, 0.1), loss="l1",
                                params=params, grid={}, cv_folds=3, seed=0)

    def features_of(node):
        if "split_feature" not in node:
            return set()
        return {node["split_feature"]} | features_of(node["left_child"]) | features_of(node["right_child"])

    trees = model.booster.dump_model()["tree_info"]
    assert max(len(features_of(t["tree_structure"])) for t in trees) >= 2   # interactions possible


def test_id_folds_depend_on_the_ids_not_their_order():
    from mlpipe.gbm.lightgbm_fit import id_folds

    ids = 1237645000000000000 + np.arange(103) * 31
    folds = id_folds(ids, n_folds=5, seed=3)
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(103))
    assert {len(test) for _, test in folds} <= {20, 21}
    fold_of = {int(ids[i]): k for k, (_, test) in enumerate(folds) for i in test}
    order = np.random.default_rng(1).permutation(len(ids))
    shuffled = {int(ids[order][i]): k for k, (_, test) in enumerate(id_folds(ids[order], n_folds=5, seed=3)) for i in test}
    assert fold_of == shuffled


def test_few_feature_predictors_choose_their_hyperparameters_by_cv():
    from mlpipe.gbm.predictors import Predictor
    from mlpipe.gbm.run import fit_predictor

    rng = np.random.default_rng(2)
    n = 400
    features = pd.DataFrame({"z": rng.uniform(0.02, 0.2, n), "pixel_kpc": rng.random(n),
                             "phot_lum_g": rng.random(n)}).astype(np.float32)
    meta = pd.DataFrame({"objid": 1237645000000000000 + np.arange(n),
                         "split": np.where(np.arange(n) % 5 == 0, "validation", "train"),
                         "ml": 1 + features["phot_lum_g"].to_numpy() * features["z"].to_numpy() * 5, "ml_err": 0.1,
                         "lum_g": 1e10})
    grid = {"num_leaves": [4, 8], "min_data_in_leaf": [5, 40], "feature_fraction": [0.4], "learning_rate": [0.1]}
    cfg = {"seed": 1, "grid": {}, "cv_folds": 3,
           "tuning": {"max_features": 5, "early_stopping_rounds": 10, "grid": grid},
           "params": {"num_leaves": 40, "min_data_in_leaf": 20, "feature_fraction": 0.4, "learning_rate": 0.05,
                      "num_boost_round": 200, "early_stopping_rounds": 20}}
    predictor = Predictor("g_small", include=("z", "pixel_kpc", "phot_lum_g"))
    _, info, _ = fit_predictor(predictor, meta=meta, features=features, settings=FitSettings.from_config(cfg))
    assert len(info["cv_scores"]) == 4 and info["tuning"].startswith("CV over gbm.tuning.grid")
    best = min(info["cv_scores"], key=info["cv_scores"].get)
    assert best == ",".join(f"{k}={v}" for k, v in sorted(info["chosen"].items()))
    assert info["params"]["feature_fraction"] == pytest.approx(2 / 3)          # floored: 2 of 3 features per tree
    _, again, _ = fit_predictor(predictor, meta=meta, features=features, settings=FitSettings.from_config(cfg))
    assert again["cv_scores"] == info["cv_scores"]                              # deterministic
    paper_cfg = cfg | {"tuning": {**cfg["tuning"], "max_features": 2}}
    _, paper, _ = fit_predictor(predictor, meta=meta, features=features, settings=FitSettings.from_config(paper_cfg))
    assert paper["cv_scores"] == {} and paper["params"]["num_leaves"] == 40     # above max_features: params kept


def test_gi_gbm_boosts_from_the_power_law_and_reloads_identically():
    import json

    from mlpipe.gbm.predictors import main_predictors
    from mlpipe.gbm.run import fit_predictor
    from mlpipe.gbm.saved import SavedPredictor

    rng = np.random.default_rng(4)
    n = 500
    colour = rng.uniform(0.2, 1.4, n)
    lum_g = 10 ** rng.uniform(9, 11, n)
    features = pd.DataFrame({"z": rng.uniform(0.01, 0.1, n), "pixel_kpc": rng.random(n), "phot_lum_g": lum_g,
                             "phot_lum_i": lum_g * 10 ** (0.4 * colour), "phot_ratio_g_i": 10 ** (-0.4 * colour)})
    features = features.astype(np.float32)
    ml = 10 ** (-0.5 + 0.9 * colour + rng.normal(0, 0.03, n))
    meta = pd.DataFrame({"objid": np.arange(1, n + 1), "split": np.where(np.arange(n) % 5 == 0, "validation", "train"),
                         "ml": ml, "ml_err": 0.05 * ml, "lum_g": lum_g})
    cfg = {"seed": 1, "grid": {}, "cv_folds": 3,
           "tuning": {"max_features": 10, "early_stopping_rounds": 10, "grid": {"num_leaves": [4]}},
           "params": {"num_leaves": 4, "min_data_in_leaf": 10, "feature_fraction": 0.8, "learning_rate": 0.1,
                      "num_boost_round": 100, "early_stopping_rounds": 10}}
    gi_gbm = next(p for p in main_predictors(10) if p.name == "gi_gbm")
    pred, info, saved = fit_predictor(gi_gbm, meta=meta, features=features, settings=FitSettings.from_config(cfg))
    assert info["base"]["kind"] == "powerlaw"
    assert info["base"]["b"] == pytest.approx(0.9, abs=0.05) and info["base"]["a"] == pytest.approx(-0.5, abs=0.05)
    reloaded = SavedPredictor.from_texts(saved.model_text, json.dumps(info, default=float), json.dumps(saved.interval))
    np.testing.assert_allclose(reloaded.predict(features)["ml_pred"], pred["ml_pred"], rtol=1e-12)
    val = meta["split"].to_numpy() == "validation"
    assert np.median(np.abs(np.log10(pred["ml_pred"][val] / ml[val]))) < 0.05   # the colour law is kept
