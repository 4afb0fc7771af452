"""LightGBM regression of M/L with the paper's losses, early stopping on the validation set and
an optional cross-validated grid search.

L1: objective ``l1`` with sample weights 1/dY, i.e. mean |Y_pred - Y| / dY (the weighted median
of a leaf is its optimum). L2: objective ``l2`` with weights 1/dY^2. RMSLE: ``l2`` on log(1 + Y).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping

import lightgbm as lgb
import numpy as np
import pandas as pd


@dataclass
class GBMFit:
    booster: lgb.Booster
    loss: str
    params: dict[str, Any]

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        raw = self.booster.predict(x, num_iteration=self.booster.best_iteration or None)
        return np.expm1(raw) if self.loss == "rmsle" else raw


def _dataset(x: pd.DataFrame, y: np.ndarray, dy: np.ndarray, loss: str, reference=None) -> lgb.Dataset:
    if loss == "rmsle":
        return lgb.Dataset(x, label=np.log1p(y), reference=reference, free_raw_data=False)
    weight = 1.0 / dy if loss == "l1" else 1.0 / dy**2
    return lgb.Dataset(x, label=y, weight=weight, reference=reference, free_raw_data=False)


def _base_params(params: Mapping[str, Any], loss: str, seed: int, threads: int) -> dict[str, Any]:
    objective = "l1" if loss == "l1" else "l2"
    return {"objective": objective, "metric": objective, "verbosity": -1, "seed": seed,
            "deterministic": True, "force_row_wise": True, "num_threads": threads,
            **{k: v for k, v in params.items() if k not in ("num_boost_round", "early_stopping_rounds")}}


def grid_points(grid: Mapping[str, list]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))] or [{}]


def fit(x_train: pd.DataFrame, y: np.ndarray, dy: np.ndarray, x_val: pd.DataFrame, y_val: np.ndarray,
        dy_val: np.ndarray, loss: str, params: Mapping[str, Any], grid: Mapping[str, list],
        cv_folds: int, seed: int, threads: int = 1) -> tuple[GBMFit, dict[str, Any]]:
    """Pick the grid point by ``cv_folds``-fold CV on the training set (skipped for one point),
    then fit with early stopping on the validation set."""
    points = grid_points(grid)
    chosen, cv_scores = points[0], {}
    if len(points) > 1:
        train_set = _dataset(x_train, y, dy, loss)
        for point in points:
            result = lgb.cv(_base_params({**params, **point}, loss, seed, threads), train_set,
                            num_boost_round=params["num_boost_round"], nfold=cv_folds, stratified=False,
                            seed=seed, callbacks=[lgb.early_stopping(params["early_stopping_rounds"], verbose=False)])
            key = next(k for k in result if k.endswith("-mean"))
            cv_scores[json_key(point)] = float(np.min(result[key]))
        chosen = min(points, key=lambda p: cv_scores[json_key(p)])
    final_params = _base_params({**params, **chosen}, loss, seed, threads)
    train_set = _dataset(x_train, y, dy, loss)
    val_set = _dataset(x_val, y_val, dy_val, loss, reference=train_set)
    booster = lgb.train(final_params, train_set, num_boost_round=params["num_boost_round"], valid_sets=[val_set],
                        callbacks=[lgb.early_stopping(params["early_stopping_rounds"], verbose=False)])
    info = {"chosen": chosen, "cv_scores": cv_scores, "best_iteration": booster.best_iteration}
    return GBMFit(booster, loss, final_params), info


def fit_quantile(x_train: pd.DataFrame, y: np.ndarray, x_val: pd.DataFrame, y_val: np.ndarray, alpha: float,
                 params: Mapping[str, Any], seed: int, threads: int = 1) -> lgb.Booster:
    """A model of the ``alpha`` quantile of M/L, for per-galaxy uncertainties."""
    p = _base_params(params, "l2", seed, threads) | {"objective": "quantile", "metric": "quantile", "alpha": alpha}
    train_set = lgb.Dataset(x_train, label=y, free_raw_data=False)
    val_set = lgb.Dataset(x_val, label=y_val, reference=train_set, free_raw_data=False)
    return lgb.train(p, train_set, num_boost_round=params["num_boost_round"], valid_sets=[val_set],
                     callbacks=[lgb.early_stopping(params["early_stopping_rounds"], verbose=False)])


def most_used_features(booster: lgb.Booster, n: int) -> list[str]:
    """The ``n`` features used in the most splits."""
    counts = pd.Series(booster.feature_importance("split"), index=booster.feature_name())
    return list(counts[counts > 0].sort_values(ascending=False, kind="stable").index[:n])


def json_key(point: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(point.items()))
