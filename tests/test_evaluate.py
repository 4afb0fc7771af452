"""Evaluation: metrics by hand, bootstrap and KS on known distributions, classes, report."""

import numpy as np
import pandas as pd
import pytest

from mlpipe.evaluate.classes import morphology_class
from mlpipe.evaluate.metrics import coverage, summary
from mlpipe.evaluate.significance import bootstrap_mean_ci, ks_smaller


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
