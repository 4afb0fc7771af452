"""The paper's losses and error measures (Eq. 2 and Appendix B), shared by fitting and evaluation."""

from __future__ import annotations

import numpy as np


def l1_terms(pred: np.ndarray, true: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Per-galaxy |Y_pred - Y| / dY: the paper's L1 before averaging."""
    return np.abs(np.asarray(pred) - np.asarray(true)) / np.asarray(err)


def l1(pred, true, err) -> float:
    return float(np.mean(l1_terms(pred, true, err)))


def l2(pred, true, err) -> float:
    """Mean squared error in units of dY."""
    return float(np.mean(((np.asarray(pred) - np.asarray(true)) / np.asarray(err)) ** 2))


def rmsle(pred, true) -> float:
    """Root mean squared log error (natural log of 1 + Y)."""
    return float(np.sqrt(np.mean((np.log1p(np.asarray(pred)) - np.log1p(np.asarray(true))) ** 2)))


def dex_error(pred, true) -> np.ndarray:
    return np.log10(np.asarray(pred)) - np.log10(np.asarray(true))


def loss(name: str, pred, true, err) -> float:
    return {"l1": lambda: l1(pred, true, err), "l2": lambda: l2(pred, true, err),
            "rmsle": lambda: rmsle(pred, true)}[name]()
