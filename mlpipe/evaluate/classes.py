"""Morphology classes from a CNN's GZ2 probabilities, for the per-class errors of the paper."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

CLASSES = ("irregular", "edge-on", "elliptical", "feature/disk")


def morphology_class(features: pd.DataFrame, model: str, thresholds: Mapping[str, Any]) -> np.ndarray:
    """irregular (odd: irregular, disturbed or merger), else edge-on, else elliptical (smooth),
    else feature/disk; each an unconditional probability above its configured threshold."""
    p = lambda answer: features[f"{model}_gz2_{answer}"].to_numpy()  # noqa: E731
    irregular = (p("q08_odd_feature_irregular") + p("q08_odd_feature_disturbed")
                 + p("q08_odd_feature_merger")) > thresholds["irregular"]
    edge_on = p("q02_edgeon_yes") > thresholds["edge_on"]
    elliptical = p("q01_smooth_or_features_smooth") > thresholds["elliptical"]
    return np.select([irregular, edge_on, elliptical], list(CLASSES[:3]), default=CLASSES[3])
