"""Test-set error measures of the paper (Eq. 2, Table B.1 and the 0.15 dex criterion)."""

from __future__ import annotations

import numpy as np

from mlpipe import losses

DEX_TOLERANCE = 0.15


def summary(pred: np.ndarray, true: np.ndarray, err: np.ndarray) -> dict[str, float]:
    dex = losses.dex_error(pred, true)
    terms = losses.l1_terms(pred, true, err)
    return {"n": int(len(true)), "l1": float(terms.mean()), "l2": losses.l2(pred, true, err),
            "rmsle": losses.rmsle(pred, true), "median_l1": float(np.median(terms)),
            "rms_dex": float(np.sqrt(np.mean(dex**2))),
            "within_015_dex": float(np.mean(np.abs(dex) < DEX_TOLERANCE)),
            "over_015_dex": float(np.mean(dex >= DEX_TOLERANCE)),
            "under_015_dex": float(np.mean(dex <= -DEX_TOLERANCE))}


def coverage(true: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of galaxies whose true M/L lies inside their predicted interval."""
    return float(np.mean((true >= lo) & (true <= hi)))
