"""Linear rescaling to [0, 1] and the per-image automatic log stretch of Dobbels et al. (2019).

F' = log(1 + a F) / log(1 + a), with ``a`` chosen so that the noise level (sigma-clipped mean
plus two sigma) maps to ``target`` (0.2). F' at the noise level rises monotonically from the
noise level itself (a -> 0, linear) towards 1 (a -> inf), so a root exists exactly when the
noise level lies below the target; otherwise the image is left linear (a = 0).
"""

from __future__ import annotations

import numpy as np
from astropy.stats import sigma_clipped_stats
from scipy.optimize import brentq

from mlpipe.preprocess.errors import Rejected

LOG_A_RANGE = (-12.0, 30.0)  # natural log of a


def rescale_unit(data: np.ndarray) -> np.ndarray:
    """Min-max rescaling to [0, 1]."""
    lo, hi = float(np.min(data)), float(np.max(data))
    if not hi > lo:
        raise Rejected("no signal: the image is constant")
    return (data - lo) / (hi - lo)


def noise_level(unit: np.ndarray, clip_sigma: float) -> float:
    """Sigma-clipped mean + 2 sigma of the rescaled image."""
    mean, _, sigma = sigma_clipped_stats(unit, sigma=clip_sigma, maxiters=10)
    return float(mean + 2.0 * sigma)


def log_stretch(unit: np.ndarray, a: float) -> np.ndarray:
    if a <= 0:
        return unit.copy()
    return np.log1p(a * unit) / np.log1p(a)


def solve_scaling(level: float, target: float) -> float:
    """The ``a`` for which log(1 + a level) / log(1 + a) = target (0 when level >= target)."""
    if level >= target:
        return 0.0
    if level <= 0:
        raise Rejected("no signal above the noise: noise level of the rescaled image is <= 0")

    def excess(log_a: float) -> float:
        a = np.exp(log_a)
        return np.log1p(a * level) / np.log1p(a) - target

    lo, hi = LOG_A_RANGE
    if excess(hi) < 0:
        raise Rejected(f"noise level {level:.2e} is too far below {target}: a would exceed e^{hi:.0f}")
    return float(np.exp(brentq(excess, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500)))
