"""LightGBM regression of M/L with the paper's losses, early stopping on the validation set and
a cross-validated grid search of the hyperparameters.

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
    booster: lgb.Booster | None  # None: no trees, the starting point (constant or base law) alone
    loss: str
    params: dict[str, Any]
    constant_ml: float | None = None  # without trees and without a base: the loss-optimal constant

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """M/L per row of ``x`` (without a base; with one, what the trees add to it)."""
        if self.booster is None:
            return np.full(len(x), self.constant_ml if self.constant_ml is not None else 0.0)
        raw = self.booster.predict(x, num_iteration=self.booster.best_iteration or None)
        return np.expm1(raw) if self.loss == "rmsle" else raw

    def model_text(self) -> str:
        """The LightGBM model at its best iteration; empty without trees."""
        return "" if self.booster is None else self.booster.model_to_string()


def optimal_constant(*, ml: np.ndarray, ml_err: np.ndarray, loss: str) -> float:
    """The constant M/L (solar units) that minimises ``loss`` on these galaxies, where the boosting
    starts without a base: the weighted median with weights 1/dY for L1 (the paper's loss), the
    weighted mean with weights 1/dY^2 for L2, expm1 of the mean log(1 + Y) for RMSLE."""
    ml, ml_err = np.asarray(ml, dtype=float), np.asarray(ml_err, dtype=float)
    if loss == "rmsle":
        return float(np.expm1(np.mean(np.log1p(ml))))
    if loss == "l2":
        return float(np.average(ml, weights=1.0 / ml_err**2))
    order = np.argsort(ml, kind="stable")
    cum = np.cumsum(1.0 / ml_err[order])
    return float(ml[order][np.searchsorted(cum, 0.5 * cum[-1])])


def metric(*, pred_ml: np.ndarray, ml: np.ndarray, ml_err: np.ndarray, loss: str) -> float:
    """LightGBM's metric of the objective :func:`fit` uses (what its CV reports): the weighted mean
    absolute error (weights 1/dY) for L1, the weighted mean squared error (1/dY^2) for L2, the mean
    squared error of log(1 + Y) for RMSLE."""
    pred_ml, ml, ml_err = (np.asarray(a, dtype=float) for a in (pred_ml, ml, ml_err))
    if loss == "rmsle":
        return float(np.mean((np.log1p(pred_ml) - np.log1p(ml)) ** 2))
    if loss == "l2":
        return float(np.average((pred_ml - ml) ** 2, weights=1.0 / ml_err**2))
    return float(np.average(np.abs(pred_ml - ml), weights=1.0 / ml_err))


def start_cv_loss(*, ml: np.ndarray, ml_err: np.ndarray, loss: str, folds: list[tuple[np.ndarray, np.ndarray]],
                  base_ml: np.ndarray | None = None) -> float:
    """The CV loss of the boosting's starting point alone (no trees), on the same folds and in the
    same metric as the trees' CV: ``base_ml`` (n,) where the trees start from a base, else the
    loss-optimal constant of each fold's training rows (what LightGBM starts from)."""
    losses = []
    for train_rows, test_rows in folds:
        start = (np.asarray(base_ml)[test_rows] if base_ml is not None else
                 np.full(len(test_rows), optimal_constant(ml=ml[train_rows], ml_err=ml_err[train_rows], loss=loss)))
        losses.append(metric(pred_ml=start, ml=ml[test_rows], ml_err=ml_err[test_rows], loss=loss))
    return float(np.mean(losses))


def _dataset(x: pd.DataFrame, y: np.ndarray, dy: np.ndarray, loss: str, reference=None,
             init: np.ndarray | None = None) -> lgb.Dataset:
    """``init``: a base prediction (M/L) the boosting starts from instead of a constant."""
    if loss == "rmsle":
        score = None if init is None else np.log1p(init)
        return lgb.Dataset(x, label=np.log1p(y), reference=reference, init_score=score, free_raw_data=False)
    weight = 1.0 / dy if loss == "l1" else 1.0 / dy**2
    return lgb.Dataset(x, label=y, weight=weight, reference=reference, init_score=init, free_raw_data=False)


#: Fewest features a tree may see: feature_fraction is raised to 2 / n_features where it would give
#: one-feature trees (0.4 of a 3-feature predictor is one feature: an additive model, no interactions).
MIN_FEATURES_PER_TREE = 2


def feature_fraction_floor(fraction: float, n_features: int) -> float:
    """``fraction`` raised so that every tree sees at least ``MIN_FEATURES_PER_TREE`` features."""
    return float(min(1.0, max(fraction, MIN_FEATURES_PER_TREE / max(n_features, 1))))


def _base_params(params: Mapping[str, Any], loss: str, seed: int, threads: int, n_features: int | None = None) -> dict[str, Any]:
    objective = "l1" if loss == "l1" else "l2"
    out = {"objective": objective, "metric": objective, "verbosity": -1, "seed": seed,
           "deterministic": True, "force_row_wise": True, "num_threads": threads,
           **{k: v for k, v in params.items() if k not in ("num_boost_round", "early_stopping_rounds")}}
    if n_features is not None and "feature_fraction" in out:
        out["feature_fraction"] = feature_fraction_floor(out["feature_fraction"], n_features)
    return out


def grid_points(grid: Mapping[str, list], n_features: int | None = None) -> list[dict[str, Any]]:
    """Every combination of the grid's values (feature_fraction floored for ``n_features``;
    points that the floor makes equal are tried once)."""
    keys = list(grid)
    points, seen = [], set()
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values))
        if n_features is not None and "feature_fraction" in point:
            point["feature_fraction"] = feature_fraction_floor(point["feature_fraction"], n_features)
        if json_key(point) not in seen:
            seen.add(json_key(point))
            points.append(point)
    return points or [{}]


def fit(*, x_train: pd.DataFrame, ml_train: np.ndarray, ml_err_train: np.ndarray, x_val: pd.DataFrame,
        ml_val: np.ndarray, ml_err_val: np.ndarray, loss: str, params: Mapping[str, Any], grid: Mapping[str, list],
        cv_folds: int, seed: int, threads: int = 1, folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
        cv_early_stopping_rounds: int | None = None,
        base_ml: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[GBMFit, dict[str, Any]]:
    """Pick the grid point by K-fold CV on the training set (skipped for one point), then fit with
    early stopping on the validation set. The CV also scores the starting point alone (no trees:
    ``base_ml``, or the loss-optimal constant, :func:`optimal_constant`); where no grid point beats
    it (the features carry too little for trees to gain on held-out galaxies) there are no trees
    (``booster`` None, ``no_trees`` in the information).

    ``x_train`` (n_train, n_features), ``ml_train`` and ``ml_err_train`` (n_train,): the features,
    M/L and its error (solar units) of the training rows; ``x_val``, ``ml_val``, ``ml_err_val`` the
    same of the validation rows. ``loss``: l1 | l2 | rmsle. ``params``: LightGBM parameters with
    ``num_boost_round`` and ``early_stopping_rounds``; ``grid``: values tried by CV per parameter.
    ``folds``: the (train rows, test rows) of each fold, e.g. from :func:`id_folds` so that a
    galaxy's fold depends on its id alone; without them LightGBM draws ``cv_folds`` seeded folds.
    Each grid point's CV loss (the mean over folds at its best iteration) is in the returned
    information with the chosen point. ``cv_early_stopping_rounds`` (default: the final fit's)
    bounds the cost of the search. ``base_ml``: base M/L predictions (training, validation rows)
    that the boosting starts from (the trees then model what the base misses).
    """
    n_features = x_train.shape[1]
    points = grid_points(grid, n_features)
    init_train, init_val = (None, None) if base_ml is None else base_ml
    chosen, cv_scores, cv_rounds, start_loss = points[0], {}, {}, None
    if len(points) > 1:
        if folds is None:
            order = np.random.default_rng(seed).permutation(len(ml_train))
            folds = [(np.setdiff1d(order, part), np.sort(part)) for part in np.array_split(order, cv_folds)]
        start_loss = start_cv_loss(ml=np.asarray(ml_train), ml_err=np.asarray(ml_err_train), loss=loss, folds=folds,
                                   base_ml=init_train)
        train_set = _dataset(x_train, ml_train, ml_err_train, loss, init=init_train)
        for point in points:
            result = lgb.cv(_base_params({**params, **point}, loss, seed, threads, n_features), train_set,
                            num_boost_round=params["num_boost_round"], nfold=cv_folds, stratified=False,
                            folds=folds, seed=seed,
                            callbacks=[lgb.early_stopping(cv_early_stopping_rounds or params["early_stopping_rounds"],
                                                          verbose=False)])
            key = next(k for k in result if k.endswith("-mean"))
            cv_scores[json_key(point)] = float(np.min(result[key]))
            cv_rounds[json_key(point)] = int(np.argmin(result[key])) + 1
        chosen = min(points, key=lambda p: cv_scores[json_key(p)])
    final_params = _base_params({**params, **chosen}, loss, seed, threads, n_features)
    info = {"chosen": chosen, "cv_scores": cv_scores, "cv_best_iterations": cv_rounds, "cv_start_loss": start_loss,
            "params": {k: final_params[k] for k in ("num_leaves", "min_data_in_leaf", "feature_fraction",
                                                    "learning_rate") if k in final_params}}
    if start_loss is not None and start_loss <= cv_scores[json_key(chosen)]:
        constant = None if init_train is not None else optimal_constant(ml=ml_train, ml_err=ml_err_train, loss=loss)
        return GBMFit(None, loss, final_params, constant), info | {"no_trees": True, "best_iteration": 0,
                                                                   "constant_ml": constant}
    train_set = _dataset(x_train, ml_train, ml_err_train, loss, init=init_train)
    val_set = _dataset(x_val, ml_val, ml_err_val, loss, reference=train_set, init=init_val)
    booster = lgb.train(final_params, train_set, num_boost_round=params["num_boost_round"], valid_sets=[val_set],
                        callbacks=[lgb.early_stopping(params["early_stopping_rounds"], verbose=False)])
    return GBMFit(booster, loss, final_params), info | {"no_trees": False, "best_iteration": booster.best_iteration}


def id_folds(objids: np.ndarray, *, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` folds of the rows of ``objids`` (n,), each galaxy's fold fixed by a hash of its id
    and the seed (so the CV, like the split, does not depend on the order of the rows)."""
    from mlpipe.catalog.split import id_hash

    order = np.lexsort((np.asarray(objids), id_hash(objids, seed)))
    fold = np.empty(len(objids), dtype=int)
    fold[order] = np.arange(len(objids)) % n_folds
    return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i)) for i in range(n_folds)]


def fit_quantile(*, x_train: pd.DataFrame, ml_train: np.ndarray, x_val: pd.DataFrame, ml_val: np.ndarray,
                 alpha: float, params: Mapping[str, Any], seed: int, threads: int = 1) -> lgb.Booster:
    """A model of the ``alpha`` quantile of M/L (solar units), for per-galaxy uncertainties; the
    rows and parameters as in :func:`fit`."""
    p = _base_params(params, "l2", seed, threads, x_train.shape[1]) | {"objective": "quantile", "metric": "quantile",
                                                                       "alpha": alpha}
    train_set = lgb.Dataset(x_train, label=ml_train, free_raw_data=False)
    val_set = lgb.Dataset(x_val, label=ml_val, reference=train_set, free_raw_data=False)
    return lgb.train(p, train_set, num_boost_round=params["num_boost_round"], valid_sets=[val_set],
                     callbacks=[lgb.early_stopping(params["early_stopping_rounds"], verbose=False)])


def most_used_features(booster: lgb.Booster, *, n: int) -> list[str]:
    """The ``n`` features used in the most splits."""
    counts = pd.Series(booster.feature_importance("split"), index=booster.feature_name())
    return list(counts[counts > 0].sort_values(ascending=False, kind="stable").index[:n])


def json_key(point: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(point.items()))
