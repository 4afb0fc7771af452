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
from mlpipe.gbm.saved import SavedPredictor, interval_bounds
from mlpipe.gbm.table import read_table_store
from mlpipe.io.atomic import atomic_path, write_csv

log = logging.getLogger(__name__)


def _training_rows(meta: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    train = np.flatnonzero(meta["split"].to_numpy() == "train")
    if fraction < 1.0:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, int(round(fraction * len(train))), replace=False))
    return train


def calibration_scale(pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, y: np.ndarray,
                      val: np.ndarray, target: float = 0.68) -> float:
    """The one factor on the quantile models' interval around the prediction that makes it cover
    ``target`` of the validation galaxies (split conformal calibration)."""
    below, above = np.clip(pred - lo, 0, None), np.clip(hi - pred, 0, None)
    scales = np.linspace(0.05, 10.0, 800)
    covered = [np.mean((y[val] >= pred[val] - k * below[val]) & (y[val] <= pred[val] + k * above[val]))
               for k in scales]
    return float(scales[np.argmax(np.asarray(covered) >= target)]) if max(covered) >= target else float(scales[-1])


def tuning_grid(cfg: Mapping[str, Any], n_features: int) -> tuple[dict[str, list], str]:
    """The hyperparameter grid for a predictor with ``n_features`` features and what it is: the
    few-feature grid of ``gbm.tuning`` (chosen by CV), else ``gbm.grid`` over the paper's values
    (the paper tuned them by CV for its ~2,200-feature model)."""
    tuning = cfg.get("tuning") or {}
    if n_features <= tuning.get("max_features", 0):
        return dict(tuning["grid"]), f"CV over gbm.tuning.grid ({n_features} features <= {tuning['max_features']})"
    if len(lightgbm_fit.grid_points(cfg["grid"])) > 1:
        return dict(cfg["grid"]), "CV over gbm.grid"
    return {}, f"gbm.params (the paper's values; {n_features} features > gbm.tuning.max_features)"


def fit_predictor(predictor: Predictor, meta: pd.DataFrame, features: pd.DataFrame, cfg: Mapping[str, Any],
                  threads: int = 1) -> tuple[pd.DataFrame, dict[str, Any], SavedPredictor]:
    """Return (predictions, fit information, the saved model); the predictions are the saved
    model's, exactly as a reload of it gives them."""
    train = _training_rows(meta, predictor.train_fraction, cfg["seed"])
    val = np.flatnonzero(meta["split"].to_numpy() == "validation")
    y, dy = meta["ml"].to_numpy(), meta["ml_err"].to_numpy()
    t0 = time.time()
    interval: dict[str, Any] = {}
    if predictor.kind == "powerlaw":
        colour = powerlaw.colour_from_ratio(features["phot_ratio_g_i"].to_numpy())
        params = powerlaw.fit_powerlaw(colour[train], y[train], dy[train], predictor.loss)
        info = {"a": params[0], "b": params[1], "colour": "-2.5 log10(L_g/L_i)", "features": ["phot_ratio_g_i"]}
        model_text = json.dumps({"kind": "powerlaw", "a": params[0], "b": params[1]})
    else:
        columns = select_columns(predictor, list(features.columns))
        if not columns:
            raise ValueError(f"predictor {predictor.name}: no feature matches {predictor.include}")
        x = features[columns]
        grid, family = tuning_grid(cfg, len(columns))
        init = None
        if predictor.base == "powerlaw":  # the trees model what the g-i power law misses
            colour = powerlaw.colour_from_ratio(features["phot_ratio_g_i"].to_numpy())
            base_params = powerlaw.fit_powerlaw(colour[train], y[train], dy[train], predictor.loss)
            base = powerlaw.predict_powerlaw(base_params, colour)
            init = (base[train], base[val])
        folds = lightgbm_fit.id_folds(meta["objid"].to_numpy()[train], cfg["cv_folds"], cfg["seed"])
        model, info = lightgbm_fit.fit(x.iloc[train], y[train], dy[train], x.iloc[val], y[val], dy[val],
                                       predictor.loss, cfg["params"], grid, cfg["cv_folds"], cfg["seed"], threads,
                                       folds, (cfg.get("tuning") or {}).get("early_stopping_rounds"), init)
        info["tuning"] = family
        if init is not None:
            info["base"] = {"kind": "powerlaw", "a": base_params[0], "b": base_params[1],
                            "colour": "-2.5 log10(L_g/L_i)"}
        if predictor.top_features:
            columns = lightgbm_fit.most_used_features(model.booster, predictor.top_features)
            x = features[columns]
            model, top_info = lightgbm_fit.fit(x.iloc[train], y[train], dy[train], x.iloc[val], y[val], dy[val],
                                               predictor.loss, cfg["params"], {}, cfg["cv_folds"], cfg["seed"], threads)
            info["top_features_iterations"] = top_info["best_iteration"]
        info["features"] = columns
        model_text = model.booster.model_to_string()  # the best iteration only
        if predictor.name in cfg["uncertainty"]:
            for alpha, key in ((0.16, "p16"), (0.84, "p84")):
                booster = lightgbm_fit.fit_quantile(x.iloc[train], y[train], x.iloc[val], y[val], alpha,
                                                    cfg["params"], cfg["seed"], threads)
                interval[key] = booster.model_to_string()
    info |= {"predictor": predictor.name, "kind": predictor.kind, "loss": predictor.loss}
    saved = SavedPredictor(predictor.name, predictor.kind, predictor.loss, info["features"], model_text, interval,
                           info.get("base"))
    pred, lo, hi = saved.raw(features)  # one pass of every booster: calibration and output share it
    out = meta[["objid", "split", "ml", "ml_err"]].copy()
    out["ml_pred"] = pred
    if interval:
        interval["scale"] = info["interval_scale"] = calibration_scale(pred, *interval_bounds(pred, lo, hi, 1.0), y, val)
        out["ml_p16"], out["ml_p84"] = interval_bounds(pred, lo, hi, interval["scale"])
    out["log_mstar_pred"] = np.log10(out["ml_pred"] * meta["lum_g"].to_numpy())
    val_l1 = losses.l1(out["ml_pred"].to_numpy()[val], y[val], dy[val])
    info |= {"n_train": int(len(train)), "validation_l1": val_l1, "seconds": time.time() - t0}
    log.info("%s: validation L1 %.3f (%d training galaxies, %.1f s)", predictor.name, val_l1, len(train), info["seconds"])
    return out, info, saved


def train_predictor(name: str, gbm_cfg: Mapping[str, Any], table_path: str | Path, model_path: str | Path,
                    info_path: str | Path, interval_path: str | Path, predictions_path: str | Path,
                    threads: int = 1) -> None:
    """Fit one predictor; write its model, fit information, interval models ({} when none) and
    per-galaxy predictions."""
    predictor = all_predictors(gbm_cfg)[name]
    meta, features = read_table_store(table_path)
    predictions, info, saved = fit_predictor(predictor, meta, features, gbm_cfg, threads)
    for path, text in ((model_path, saved.model_text), (info_path, json.dumps(info, indent=2, default=float)),
                       (interval_path, json.dumps(saved.interval))):
        with atomic_path(path, Path(path).suffix) as tmp:
            tmp.write_text(text)
    write_csv(predictions, predictions_path)
