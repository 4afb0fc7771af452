"""Morphology classes from a CNN's GZ2 probabilities, for the per-class errors of the paper."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

CLASSES = ("irregular", "edge-on", "elliptical", "feature/disk")


def _probability(features: pd.DataFrame, model: str, answer: str) -> np.ndarray:
    """A CNN's unconditional GZ2 probability; irregular = odd feature irregular + disturbed + merger."""
    if answer == "irregular":
        return sum(_probability(features, model, f"q08_odd_feature_{a}") for a in ("irregular", "disturbed", "merger"))
    return features[f"{model}_gz2_{answer}"].to_numpy()


def morphology_class(features: pd.DataFrame, model: str, thresholds: Mapping[str, Any]) -> np.ndarray:
    """irregular (odd: irregular, disturbed or merger), else edge-on, else elliptical (smooth),
    else feature/disk; each an unconditional probability above its configured threshold."""
    p = lambda answer: _probability(features, model, answer)  # noqa: E731
    irregular = p("irregular") > thresholds["irregular"]
    edge_on = p("q02_edgeon_yes") > thresholds["edge_on"]
    elliptical = p("q01_smooth_or_features_smooth") > thresholds["elliptical"]
    return np.select([irregular, edge_on, elliptical], list(CLASSES[:3]), default=CLASSES[3])


def figure6_class(features: pd.DataFrame, model: str, thresholds: Mapping[str, Any]) -> np.ndarray:
    """The classes of the paper's Fig. 6: irregular, else edge-on, else feature/disk (P(features
    or disk)), else elliptical; each probability above its threshold (evaluate.figure6_class_thresholds)."""
    p = lambda answer: _probability(features, model, answer)  # noqa: E731
    return np.select([p("irregular") > thresholds["irregular"], p("q02_edgeon_yes") > thresholds["edge_on"],
                      p("q01_smooth_or_features_features_or_disk") > thresholds["feature_disk"]],
                     ["irregular", "edge-on", "feature/disk"], default="elliptical")
