"""Permutation importance on the validation set: how much the L1 grows when one feature's
values are shuffled between galaxies."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from mlpipe import losses

COLUMNS = ["feature", "l1_increase", "l1_increase_std", "splits"]


def permutation_importance(booster: lgb.Booster | None, x: pd.DataFrame | None, y: np.ndarray | None,
                           dy: np.ndarray | None, repeats: int, seed: int) -> pd.DataFrame:
    """Mean and spread of the L1 increase per feature the model uses. One column at a time is
    shuffled in place and then restored: the table (6,600 x 2,200 at the paper's scale) is
    never copied per permutation. ``booster`` None (a model without trees): no rows."""
    if booster is None:
        return pd.DataFrame(columns=COLUMNS)
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
