"""Permutation importance on the validation set: how much the L1 grows when one feature's
values are shuffled between galaxies."""

from __future__ import annotations

import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from mlpipe import losses
from mlpipe.io.features_table import read_table_store
from mlpipe.io.validation import InputError

log = logging.getLogger(__name__)
COLUMNS = ["feature", "l1_increase", "l1_increase_std", "splits"]


def permutation_importance(booster: lgb.Booster | None, *, x: pd.DataFrame | None, ml: np.ndarray | None,
                           ml_err: np.ndarray | None, repeats: int, seed: int) -> pd.DataFrame:
    """Mean and spread of the L1 increase per feature the model uses, over the rows of ``x``
    (n, n_features) with M/L ``ml`` and its error ``ml_err`` (n,) in solar units. One column at a
    time is shuffled in place and then restored: the table (6,600 x 2,200 at the paper's scale) is
    never copied per permutation. ``booster`` None (a model without trees): no rows."""
    if booster is None:
        return pd.DataFrame(columns=COLUMNS)
    y, dy = ml, ml_err
    names = booster.feature_name()
    values = x[names].to_numpy(copy=True)
    base = losses.l1(booster.predict(values), y, dy)
    used = pd.Series(booster.feature_importance("split"), index=names)
    rng = np.random.default_rng(seed)
    rows = []
    for name in used[used > 0].index:
        column = names.index(name)
        original = values[:, column].copy()
        increases = []
        for _ in range(repeats):
            values[:, column] = rng.permutation(original)
            increases.append(losses.l1(booster.predict(values), y, dy) - base)
        values[:, column] = original
        rows.append({"feature": name, "l1_increase": float(np.mean(increases)),
                     "l1_increase_std": float(np.std(increases)), "splits": int(used[name])})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values("l1_increase", ascending=False, kind="stable").reset_index(drop=True)


def validation_importance(*, table_path: str | Path, model_path: str | Path, repeats: int, seed: int) -> pd.DataFrame:
    """The stage's entry point: the permutation importance of the LightGBM model in ``model_path``
    (a predictor's model.txt) on the validation galaxies of the features table (no rows for a
    model without trees)."""
    if Path(model_path).stat().st_size == 0:  # no trees (the CV kept the constant): no feature matters
        log.info("%s: a model without trees; no feature is used", model_path)
        return permutation_importance(None, x=None, ml=None, ml_err=None, repeats=0, seed=0)
    meta, features = read_table_store(table_path)
    try:
        booster = lgb.Booster(model_file=str(model_path))
    except lgb.basic.LightGBMError as err:
        raise InputError(f"{model_path}: not a readable LightGBM model ({err})") from err
    val = (meta["split"] == "validation").to_numpy()
    return permutation_importance(booster, x=features[val], ml=meta["ml"].to_numpy()[val],
                                  ml_err=meta["ml_err"].to_numpy()[val], repeats=repeats, seed=seed)
