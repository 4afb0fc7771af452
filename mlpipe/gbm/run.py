"""Fit one predictor and predict M/L (and M*) for every galaxy of the features table."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe import losses
from mlpipe.gbm import lightgbm_fit, powerlaw
from mlpipe.gbm.predictors import Predictor, all_predictors, select_columns
from mlpipe.gbm.table import read_table_store
from mlpipe.io.atomic import atomic_path, write_csv

log = logging.getLogger(__name__)


def _training_rows(meta: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    train = np.flatnonzero(meta["split"].to_numpy() == "train")
    if fraction < 1.0:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, int(round(fraction * len(train))), replace=False))
    return train


def calibrated_interval(pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, y: np.ndarray,
                        val: np.ndarray, target: float = 0.68) -> tuple[np.ndarray, np.ndarray, float]:
    """Widen or narrow the quantile models' interval around the prediction by the one factor
    that makes it cover ``target`` of the validation galaxies (split conformal calibration)."""
    below, above = np.clip(pred - lo, 0, None), np.clip(hi - pred, 0, None)
    scales = np.linspace(0.05, 10.0, 800)
    covered = [np.mean((y[val] >= pred[val] - k * below[val]) & (y[val] <= pred[val] + k * above[val]))
               for k in scales]
    k = float(scales[np.argmax(np.asarray(covered) >= target)]) if max(covered) >= target else float(scales[-1])
    return np.clip(pred - k * below, 1e-3, None), pred + k * above, k


def fit_predictor(predictor: Predictor, meta: pd.DataFrame, features: pd.DataFrame, cfg: Mapping[str, Any],
                  threads: int = 1) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """Return (predictions, fit information, the model as text)."""
    train = _training_rows(meta, predictor.train_fraction, cfg["seed"])
    val = np.flatnonzero(meta["split"].to_numpy() == "validation")
    y, dy = meta["ml"].to_numpy(), meta["ml_err"].to_numpy()
    out = meta[["objid", "split", "ml", "ml_err"]].copy()
    t0 = time.time()
    if predictor.kind == "powerlaw":
        colour = powerlaw.colour_from_ratio(features["phot_ratio_g_i"].to_numpy())
        params = powerlaw.fit_powerlaw(colour[train], y[train], dy[train], predictor.loss)
        out["ml_pred"] = powerlaw.predict_powerlaw(params, colour)
        info = {"a": params[0], "b": params[1], "colour": "-2.5 log10(L_g/L_i)"}
        model_text = json.dumps({"kind": "powerlaw", "a": params[0], "b": params[1]})
    else:
        columns = select_columns(predictor, list(features.columns))
        if not columns:
            raise ValueError(f"predictor {predictor.name}: no feature matches {predictor.include}")
        x = features[columns]
        model, info = lightgbm_fit.fit(x.iloc[train], y[train], dy[train], x.iloc[val], y[val], dy[val],
                                       predictor.loss, cfg["params"], cfg["grid"], cfg["cv_folds"], cfg["seed"], threads)
        if predictor.top_features:
            columns = lightgbm_fit.most_used_features(model.booster, predictor.top_features)
            x = features[columns]
            model, top_info = lightgbm_fit.fit(x.iloc[train], y[train], dy[train], x.iloc[val], y[val], dy[val],
                                               predictor.loss, cfg["params"], {}, cfg["cv_folds"], cfg["seed"], threads)
            info["top_features"] = top_info["best_iteration"]
        out["ml_pred"] = model.predict(x)
        if predictor.name in cfg["uncertainty"]:
            bounds = []
            for alpha in (0.16, 0.84):
                booster = lightgbm_fit.fit_quantile(x.iloc[train], y[train], x.iloc[val], y[val], alpha,
                                                    cfg["params"], cfg["seed"], threads)
                bounds.append(booster.predict(x, num_iteration=booster.best_iteration or None))
            out["ml_p16"], out["ml_p84"], info["interval_scale"] = calibrated_interval(
                out["ml_pred"].to_numpy(), bounds[0], bounds[1], y, val)
        info["features"] = columns
        model_text = model.booster.model_to_string()
    out["ml_pred"] = np.clip(out["ml_pred"], 1e-3, None)
    out["log_mstar_pred"] = np.log10(out["ml_pred"] * meta["lum_g"].to_numpy())
    val_l1 = losses.l1(out["ml_pred"].to_numpy()[val], y[val], dy[val])
    info |= {"predictor": predictor.name, "kind": predictor.kind, "loss": predictor.loss,
             "n_train": int(len(train)), "validation_l1": val_l1, "seconds": time.time() - t0}
    log.info("%s: validation L1 %.3f (%d training galaxies, %.1f s)", predictor.name, val_l1, len(train), info["seconds"])
    return out, info, model_text


def train_predictor(name: str, gbm_cfg: Mapping[str, Any], table_path: str | Path, model_path: str | Path,
                    info_path: str | Path, predictions_path: str | Path, threads: int = 1) -> None:
    predictor = all_predictors(gbm_cfg)[name]
    meta, features = read_table_store(table_path)
    predictions, info, model_text = fit_predictor(predictor, meta, features, gbm_cfg, threads)
    with atomic_path(model_path, ".txt") as tmp:
        tmp.write_text(model_text)
    with atomic_path(info_path, ".json") as tmp:
        tmp.write_text(json.dumps(info, indent=2, default=float))
    write_csv(predictions, predictions_path)
