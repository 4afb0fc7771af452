"""A trained predictor as saved on disk (model text, fit information, interval models), and its
predictions from a features table.

The workflow's own predictions go through this same code, so that a model reloaded elsewhere
(``mlpipe predict``, a bundle) gives the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from mlpipe.gbm import powerlaw

MIN_ML = 1e-3  # predictions are clipped here: M/L is positive


@dataclass
class SavedPredictor:
    name: str
    kind: str                      # gbm | powerlaw
    loss: str
    features: list[str]            # the columns the model reads, in its order
    model_text: str                # LightGBM model (best iteration; empty: no trees) or the power law's JSON
    interval: dict[str, Any] = field(default_factory=dict)  # {"p16", "p84": model text, "scale": k} or {}
    base: dict[str, Any] | None = None  # the trees add to this: {"kind": "powerlaw", "a", "b"} or
    #                                     {"kind": "constant", "ml"} (a model without trees)

    @classmethod
    def from_texts(cls, model_text: str, fit_json: str, interval_json: str) -> "SavedPredictor":
        info = json.loads(fit_json)
        features = ["phot_ratio_g_i"] if info["kind"] == "powerlaw" else info["features"]
        return cls(info["predictor"], info["kind"], info["loss"], features, model_text, json.loads(interval_json),
                   info.get("base"))

    def raw(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The clipped M/L prediction and the quantile models' raw 16th/84th percentiles (None without)."""
        x = features[self.features]
        if self.kind == "powerlaw":
            params = json.loads(self.model_text)
            pred = powerlaw.predict_powerlaw((params["a"], params["b"]),
                                             colour_mag=powerlaw.colour_from_ratio(x.iloc[:, 0]))
        else:
            raw = lgb.Booster(model_str=self.model_text).predict(x) if self.model_text else np.zeros(len(x))
            if self.base:  # the trees add to the base they were boosted from
                base = self.base_ml(features)
                raw = raw + (np.log1p(base) if self.loss == "rmsle" else base)
            pred = np.expm1(raw) if self.loss == "rmsle" else raw
        pred = np.clip(pred, MIN_ML, None)
        if not self.interval:
            return pred, None, None
        lo, hi = (lgb.Booster(model_str=self.interval[q]).predict(x) for q in ("p16", "p84"))
        return pred, lo, hi

    def base_ml(self, features: pd.DataFrame) -> np.ndarray:
        """The base's M/L per row: the g-i power law, or the constant of a model without trees."""
        if self.base["kind"] == "constant":
            return np.full(len(features), float(self.base["ml"]))
        return powerlaw.predict_powerlaw((self.base["a"], self.base["b"]),
                                         colour_mag=powerlaw.colour_from_ratio(features["phot_ratio_g_i"]))

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``ml_pred`` (and ``ml_p16``/``ml_p84`` when interval models were trained) per row."""
        pred, lo, hi = self.raw(features)
        out = pd.DataFrame({"ml_pred": pred}, index=features.index)
        if lo is not None:
            out["ml_p16"], out["ml_p84"] = interval_bounds(pred, lo, hi, self.interval["scale"])
        return out


def interval_bounds(pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The quantile models' distances from the prediction, times the calibrated ``scale``."""
    below, above = np.clip(pred - lo, 0, None), np.clip(hi - pred, 0, None)
    return np.clip(pred - scale * below, MIN_ML, None), pred + scale * above
