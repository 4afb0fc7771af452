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
from mlpipe.gbm.settings import FitSettings
from mlpipe.io.atomic import atomic_path, write_csv
from mlpipe.io.features_table import read_table_store

log = logging.getLogger(__name__)


def _training_rows(meta: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    train = np.flatnonzero(meta["split"].to_numpy() == "train")
    if fraction < 1.0:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, int(round(fraction * len(train))), replace=False))
    return train


def calibration_scale(pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, y: np.ndarray,
                      val: np.ndarray, coverage: float = 0.68) -> float:
    """The one factor on the quantile models' interval around the prediction that makes it cover
    ``coverage`` of the validation galaxies (split conformal calibration)."""
    below, above = np.clip(pred - lo, 0, None), np.clip(hi - pred, 0, None)
    scales = np.linspace(0.05, 10.0, 800)
    covered = [np.mean((y[val] >= pred[val] - k * below[val]) & (y[val] <= pred[val] + k * above[val]))
               for k in scales]
    return float(scales[np.argmax(np.asarray(covered) >= coverage)]) if max(covered) >= coverage else float(scales[-1])


def choose_grid(settings: FitSettings, n_features: int) -> tuple[dict[str, list], str]:
    """The hyperparameter grid for a predictor with ``n_features`` features and what it is: the
    few-feature grid of ``gbm.tuning`` (chosen by CV), else ``gbm.grid`` over the paper's values
    (the paper tuned them by CV for its ~2,200-feature model)."""
    if n_features <= settings.tuning_max_features:
        return (dict(settings.tuning_grid),
                f"CV over gbm.tuning.grid ({n_features} features <= {settings.tuning_max_features})")
    if len(lightgbm_fit.grid_points(settings.grid)) > 1:
        return dict(settings.grid), "CV over gbm.grid"
    return {}, f"gbm.params (the paper's values; {n_features} features > gbm.tuning.max_features)"


def _fit_powerlaw(predictor: Predictor, features: pd.DataFrame, ml: np.ndarray, ml_err: np.ndarray,
                  train: np.ndarray) -> tuple[dict[str, Any], str]:
    """The g-i power law's fit information and model text."""
    colour = powerlaw.colour_from_ratio(features["phot_ratio_g_i"].to_numpy())
    a, b = powerlaw.fit_powerlaw(colour_mag=colour[train], ml=ml[train], ml_err=ml_err[train], loss=predictor.loss)
    info = {"a": a, "b": b, "colour": "-2.5 log10(L_g/L_i)", "features": ["phot_ratio_g_i"]}
    return info, json.dumps({"kind": "powerlaw", "a": a, "b": b})


def _fit_gbm(predictor: Predictor, features: pd.DataFrame, meta: pd.DataFrame, train: np.ndarray, val: np.ndarray,
             settings: FitSettings, quantile_interval: bool, threads: int) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A LightGBM predictor's fit information, model text and uncalibrated interval models."""
    ml, ml_err = meta["ml"].to_numpy(), meta["ml_err"].to_numpy()
    columns = select_columns(predictor, list(features.columns))
    if not columns:
        raise ValueError(f"predictor {predictor.name}: no feature matches {predictor.include}")
    x = features[columns]
    grid, family = choose_grid(settings, len(columns))
    base_ml, law = None, None
    if predictor.base == "powerlaw":  # the trees model what the g-i power law misses
        colour = powerlaw.colour_from_ratio(features["phot_ratio_g_i"].to_numpy())
        law = powerlaw.fit_powerlaw(colour_mag=colour[train], ml=ml[train], ml_err=ml_err[train], loss=predictor.loss)
        base = powerlaw.predict_powerlaw(law, colour_mag=colour)
        base_ml = (base[train], base[val])

    def rows(x: pd.DataFrame) -> dict[str, Any]:
        return {"x_train": x.iloc[train], "ml_train": ml[train], "ml_err_train": ml_err[train],
                "x_val": x.iloc[val], "ml_val": ml[val], "ml_err_val": ml_err[val]}

    common = {"loss": predictor.loss, "params": settings.params, "cv_folds": settings.cv_folds, "seed": settings.seed,
              "threads": threads}
    folds = lightgbm_fit.id_folds(meta["objid"].to_numpy()[train], n_folds=settings.cv_folds, seed=settings.seed)
    model, info = lightgbm_fit.fit(**rows(x), **common, grid=grid, folds=folds,
                                   cv_early_stopping_rounds=settings.tuning_early_stopping_rounds, base_ml=base_ml)
    info["tuning"] = family
    if law is not None:
        info["base"] = {"kind": "powerlaw", "a": law[0], "b": law[1], "colour": "-2.5 log10(L_g/L_i)"}
    elif info["no_trees"]:  # the CV found no trees better than the constant: the predictor is that constant
        info["base"] = {"kind": "constant", "ml": info["constant_ml"]}
    if predictor.top_features and not info["no_trees"]:
        columns = lightgbm_fit.most_used_features(model.booster, n=predictor.top_features)
        x = features[columns]
        model, top_info = lightgbm_fit.fit(**rows(x), **common, grid={})
        info["top_features_iterations"] = top_info["best_iteration"]
    info["features"] = columns
    interval: dict[str, Any] = {}
    if quantile_interval:
        for alpha, key in ((0.16, "p16"), (0.84, "p84")):
            booster = lightgbm_fit.fit_quantile(x_train=x.iloc[train], ml_train=ml[train], x_val=x.iloc[val],
                                                ml_val=ml[val], alpha=alpha, params=settings.params,
                                                seed=settings.seed, threads=threads)
            interval[key] = booster.model_to_string()
    return info, model.model_text(), interval  # the model: its best iteration only (empty: no trees)


def fit_predictor(predictor: Predictor, *, meta: pd.DataFrame, features: pd.DataFrame, settings: FitSettings,
                  quantile_interval: bool = False, threads: int = 1) -> tuple[pd.DataFrame, dict[str, Any], SavedPredictor]:
    """Fit one predictor on the training rows (early stopping and the interval's calibration on the
    validation rows).

    ``meta`` (n_galaxies rows): ``objid``, ``split`` (train | validation | test), ``ml`` and
    ``ml_err`` (M/L and its error, solar units), ``lum_g`` (L_sun); ``features`` (n_galaxies,
    n_features): the features table's columns, same rows. ``quantile_interval``: also fit the
    16th/84th percentile models, calibrated to cover 68% of the validation galaxies.

    Return (predictions, fit information, the saved model). The predictions (n_galaxies rows:
    ``objid``, ``split``, ``ml``, ``ml_err``, ``ml_pred``, ``log_mstar_pred`` in log10 M_sun and
    with an interval ``ml_p16``, ``ml_p84``) are the saved model's, exactly as a reload gives them.
    """
    train = _training_rows(meta, predictor.train_fraction, settings.seed)
    val = np.flatnonzero(meta["split"].to_numpy() == "validation")
    ml, ml_err = meta["ml"].to_numpy(), meta["ml_err"].to_numpy()
    t0 = time.time()
    interval: dict[str, Any] = {}
    if predictor.kind == "powerlaw":
        info, model_text = _fit_powerlaw(predictor, features, ml, ml_err, train)
    else:
        info, model_text, interval = _fit_gbm(predictor, features, meta, train, val, settings, quantile_interval,
                                              threads)
    info |= {"predictor": predictor.name, "kind": predictor.kind, "loss": predictor.loss}
    saved = SavedPredictor(predictor.name, predictor.kind, predictor.loss, info["features"], model_text, interval,
                           info.get("base"))
    pred, lo, hi = saved.raw(features)  # one pass of every booster: calibration and output share it
    out = meta[["objid", "split", "ml", "ml_err"]].copy()
    out["ml_pred"] = pred
    if interval:
        interval["scale"] = info["interval_scale"] = calibration_scale(pred, *interval_bounds(pred, lo, hi, 1.0), ml, val)
        out["ml_p16"], out["ml_p84"] = interval_bounds(pred, lo, hi, interval["scale"])
    out["log_mstar_pred"] = np.log10(out["ml_pred"] * meta["lum_g"].to_numpy())
    val_l1 = losses.l1(out["ml_pred"].to_numpy()[val], ml[val], ml_err[val])
    info |= {"n_train": int(len(train)), "validation_l1": val_l1, "seconds": time.time() - t0}
    log.info("%s: validation L1 %.3f (%d training galaxies, %.1f s)", predictor.name, val_l1, len(train), info["seconds"])
    return out, info, saved


def train_predictor(name: str, *, gbm_cfg: Mapping[str, Any], table_path: str | Path, model_path: str | Path,
                    info_path: str | Path, interval_path: str | Path, predictions_path: str | Path,
                    threads: int = 1) -> None:
    """The stage's entry point: fit the predictor ``name`` of the ``gbm`` config section on the
    features table; write its model, fit information, interval models ({} when none) and
    per-galaxy predictions."""
    predictor = all_predictors(gbm_cfg)[name]
    meta, features = read_table_store(table_path)
    predictions, info, saved = fit_predictor(predictor, meta=meta, features=features,
                                             settings=FitSettings.from_config(gbm_cfg),
                                             quantile_interval=name in gbm_cfg["uncertainty"], threads=threads)
    for path, text in ((model_path, saved.model_text), (info_path, json.dumps(info, indent=2, default=float)),
                       (interval_path, json.dumps(saved.interval))):
        with atomic_path(path, Path(path).suffix) as tmp:
            tmp.write_text(text)
    write_csv(predictions, predictions_path)
