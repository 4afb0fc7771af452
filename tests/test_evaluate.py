"""Evaluation: metrics by hand, bootstrap, paired and KS tests on known distributions, classes, report."""

import numpy as np
import pandas as pd
import pytest

from mlpipe.evaluate.classes import morphology_class
from mlpipe.evaluate.metrics import coverage, summary
from mlpipe.evaluate.report import ordering_section
from mlpipe.evaluate.significance import (
    bootstrap_mean_ci,
    galaxies_needed,
    ks_smaller,
    paired_comparison,
    sign_flip_p,
    wilcoxon_p,
)
from mlpipe.evaluate.tables import significance_table


def test_summary_by_hand():
    true = np.array([1.0, 1.0, 1.0, 1.0])
    pred = np.array([1.0, 10 ** 0.1, 10 ** 0.2, 10 ** -0.3])
    err = np.array([0.1, 0.1, 0.2, 0.5])
    s = summary(pred, true, err)
    terms = np.abs(pred - true) / err
    assert s["l1"] == pytest.approx(terms.mean()) and s["median_l1"] == pytest.approx(np.median(terms))
    assert s["within_015_dex"] == 0.5 and s["over_015_dex"] == 0.25 and s["under_015_dex"] == 0.25
    assert s["rmsle"] == pytest.approx(np.sqrt(np.mean((np.log1p(pred) - np.log1p(true)) ** 2)))
    assert s["rms_dex"] == pytest.approx(np.sqrt(np.mean(np.array([0, 0.1, 0.2, 0.3]) ** 2)))
    assert coverage(np.array([1.0, 2.0, 3.0]), np.array([0.5, 2.5, 2.0]), np.array([1.5, 3.0, 4.0])) == pytest.approx(2 / 3)


def test_bootstrap_interval_of_a_known_mean():
    rng = np.random.default_rng(0)
    values = rng.normal(5.0, 2.0, 4000)
    lo, hi = bootstrap_mean_ci(values, 4000, seed=1)
    half_width = 1.96 * 2.0 / np.sqrt(4000)
    assert lo == pytest.approx(values.mean() - half_width, abs=0.02)
    assert hi == pytest.approx(values.mean() + half_width, abs=0.02)


def test_ks_one_sided_on_known_distributions():
    rng = np.random.default_rng(0)
    small, large = rng.exponential(1.0, 800), rng.exponential(1.5, 800)
    _, p = ks_smaller(small, large)
    assert p < 1e-6
    _, p_reverse = ks_smaller(large, small)
    assert p_reverse > 0.5
    _, p_same = ks_smaller(rng.exponential(1.0, 800), rng.exponential(1.0, 800))
    assert p_same > 0.01


def test_morphology_classes():
    names = ["q08_odd_feature_irregular", "q08_odd_feature_disturbed", "q08_odd_feature_merger",
             "q02_edgeon_yes", "q01_smooth_or_features_smooth"]
    rows = [[0.2, 0.1, 0.1, 0.0, 0.1], [0.0, 0.0, 0.0, 0.6, 0.2], [0, 0, 0, 0.1, 0.8], [0, 0, 0, 0.1, 0.3]]
    features = pd.DataFrame(rows, columns=[f"cnn1_gz2_{n}" for n in names])
    classes = morphology_class(features, "cnn1", {"irregular": 0.3, "edge_on": 0.3, "elliptical": 0.6})
    assert list(classes) == ["irregular", "edge-on", "elliptical", "feature/disk"]


def test_sign_flip_and_wilcoxon_on_known_differences():
    rng = np.random.default_rng(3)
    shifted = rng.normal(-0.3, 1.0, 400)           # mean -0.3: 6 standard errors below 0
    assert sign_flip_p(shifted, 4000, seed=1) < 1e-3 and wilcoxon_p(shifted) < 1e-3
    assert sign_flip_p(-shifted, 4000, seed=1) > 0.99   # the other direction is not supported
    p_values = [sign_flip_p(rng.normal(0.0, 1.0, 60), 500, seed=s) for s in range(200)]
    assert 0.02 < np.mean(np.array(p_values) < 0.05) < 0.1   # about 5 % false positives under the null
    # the exact permutation p-value for a tiny sample: 1 of the 8 sign patterns gives a mean <= -3;
    # with a zero difference, 2 of them give a mean <= -2
    assert sign_flip_p(np.array([-1.0, -3.0, -5.0]), 200000, seed=0) == pytest.approx(1 / 8, abs=0.005)
    assert sign_flip_p(np.array([0.0, -1.0, -5.0]), 200000, seed=0) == pytest.approx(2 / 8, abs=0.005)


def test_pairing_sees_what_two_sample_tests_miss():
    """A small, consistent improvement on galaxies of very different difficulty: the paired test
    decides it, the two-sample KS test cannot."""
    rng = np.random.default_rng(0)
    reference = rng.exponential(1.5, 300)
    better = reference - 0.05 + rng.normal(0.0, 0.05, 300)
    row = paired_comparison(better, reference, n_resamples=4000, seed=0)
    assert row["p_sign_flip"] < 1e-3 and row["p_ks"] > 0.05
    assert row["difference_ci_low"] < row["mean_difference"] < row["difference_ci_high"] < 0
    assert row["mean_difference"] == pytest.approx(np.mean(better - reference))
    # the normal-approximation sample size for one-sided 95 % at 80 % power
    d = better - reference
    assert galaxies_needed(d) == pytest.approx((2.486 * d.std(ddof=1) / d.mean()) ** 2, rel=1e-3)
    assert galaxies_needed(-d) == float("inf")


def _predictions(objids, ml_pred, ml):
    return pd.DataFrame({"objid": objids, "split": "test", "ml_pred": ml_pred, "ml": ml, "ml_err": 0.1 * ml})


def test_significance_table_pairs_galaxies_by_objid_and_decides():
    rng = np.random.default_rng(1)
    n = 500
    ml = rng.uniform(0.5, 5.0, n)
    noise = rng.normal(0, 0.05, n)
    good = ml * (1 + noise)
    bad = ml * (1 + rng.normal(0, 0.10, n))
    ids = np.arange(n)
    order = rng.permutation(n)                     # the reference's rows in another order
    preds = {"good": _predictions(ids, good, ml), "bad": _predictions(ids[order], bad[order], ml[order]),
             "same": _predictions(ids, ml * (1 - noise), ml)}   # the same per-galaxy errors
    table = significance_table(preds, [["good", "bad"], ["bad", "good"], ["good", "same"], ["good", "absent"]],
                               2000, seed=0, alpha=0.05)
    assert list(table["verdict"]) == ["beats", "is worse than", "undecided"]   # "absent" did not run: skipped
    terms_good = np.abs(good - ml) / (0.1 * ml)
    terms_bad = np.abs(bad - ml) / (0.1 * ml)
    assert table["mean_difference"].iloc[0] == pytest.approx(np.mean(terms_good - terms_bad))
    assert table["n"].iloc[0] == n

    report = "\n".join(ordering_section(table, pd.DataFrame({"predictor": ["good", "bad"], "paper_l1": [1.1, 1.3]})))
    assert "**good** beats **bad** at 95 % on the same 500 test galaxies" in report
    assert "**bad** is worse than **good**" in report
    assert "**good** vs **same**: undecided at 95 % on 500 test galaxies" in report
    assert "the paper: 1.10 vs 1.30" in report


def test_report_lists_each_predictors_hyperparameters_and_cv_losses(tmp_path):
    import json

    from mlpipe.evaluate.report import tuning_section

    (tmp_path / "g_ref.json").write_text(json.dumps({
        "kind": "gbm", "predictor": "g_ref", "features": ["z", "pixel_kpc", "phot_lum_g"], "tuning": "CV over gbm.tuning.grid",
        "params": {"num_leaves": 7, "min_data_in_leaf": 40}, "best_iteration": 120, "cv_start_loss": 0.35,
        "cv_scores": {"learning_rate=0.05,num_leaves=15": 0.31, "learning_rate=0.05,num_leaves=7": 0.30}}))
    (tmp_path / "band_g.json").write_text(json.dumps({
        "kind": "gbm", "predictor": "band_g", "features": ["z", "pixel_kpc", "phot_lum_g"], "tuning": "CV over gbm.tuning.grid",
        "params": {"num_leaves": 7}, "best_iteration": 0, "cv_start_loss": 0.29, "no_trees": True, "constant_ml": 0.512,
        "base": {"kind": "constant", "ml": 0.512},
        "cv_scores": {"learning_rate=0.05,num_leaves=15": 0.31, "learning_rate=0.05,num_leaves=7": 0.30}}))
    (tmp_path / "pl.json").write_text(json.dumps({"kind": "powerlaw", "predictor": "gi_powerlaw"}))
    text = "\n".join(tuning_section([str(tmp_path / f"{n}.json") for n in ("g_ref", "band_g", "pl")]))
    row = ("| g_ref | 3 | CV over gbm.tuning.grid | min_data_in_leaf=40, num_leaves=7 | 120 "
           "| num_leaves=7: 0.300; num_leaves=15: 0.310; no trees (the weighted median alone): 0.350 |")
    assert row in text
    row = ("| band_g | 3 | CV over gbm.tuning.grid | no trees: the weighted median alone (M/L 0.512) | 0 "
           "| no trees (the weighted median alone): 0.290; num_leaves=7: 0.300; num_leaves=15: 0.310 |")
    assert row in text
    assert "gi_powerlaw" not in text
