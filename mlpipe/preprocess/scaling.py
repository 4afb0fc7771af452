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
#: the scaling's floor: this percentile of the field (a quantile: it stays where a star's pixels
#: are left out, where the minimum of the fewer pixels rises, by ~1 sky sigma for half of a field)
FLOOR_PERCENT = 0.1


def robust_extremes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the value clipped to the range of its four neighbours: a lone hot (or cold)
    pixel drops to its neighbours' level, anything wider than one pixel is unchanged."""
    padded = np.pad(data, 1, mode="edge")
    neighbours = np.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])
    return np.maximum(data, neighbours.min(axis=0)), np.minimum(data, neighbours.max(axis=0))


def within_radius(shape: tuple[int, int], *, radius_px: float) -> np.ndarray:
    """(N_y, N_x) True within ``radius_px`` of the field's centre (the galaxy's D25 circle)."""
    n_y, n_x = shape
    yy, xx = np.ogrid[:n_y, :n_x]
    return (xx - (n_x - 1) / 2.0) ** 2 + (yy - (n_y - 1) / 2.0) ** 2 <= radius_px**2


def galaxy_range(data: np.ndarray, *, radius_px: float, exclude: np.ndarray | None = None,
                 exclude_min: np.ndarray | None = None) -> tuple[float, float]:
    """(floor, max) for the [0, 1] scaling: the FLOOR_PERCENT percentile over the field (the
    sky's noise floor, the same whether a star's pixels leave half of the field or all of it)
    and the maximum over the galaxy (within ``radius_px`` of the centre, the D25 radius), both
    robust to single hot or cold pixels, so that neither a residual star outside D25 nor a hot
    pixel sets the scale.
    ``exclude`` (same shape as ``data``): pixels left out of both, e.g. where a removed star
    outshone the galaxy (what its subtraction leaves there is the star's, not the galaxy's);
    ``exclude_min``: pixels also left out of the floor, e.g. wherever
    a star's model was subtracted (its error shifts the noise there); each ignored where it
    would leave nothing."""
    low, high = robust_extremes(data)
    inside = within_radius(data.shape, radius_px=radius_px)
    use = np.ones(data.shape, bool) if exclude is None or exclude.all() else ~exclude
    within = inside & use
    if not within.any():
        within = inside if inside.any() else use
    floor = use if exclude_min is None or not (use & ~exclude_min).any() else use & ~exclude_min
    return float(np.percentile(low[floor], FLOOR_PERCENT)), float(high[within].max())


def rescale_unit(data: np.ndarray, *, min_value: float | None = None,
                 max_value: float | None = None) -> np.ndarray:
    """Linear rescaling of [min_value, max_value] (default: the image's own) to [0, 1], clipped."""
    lo = float(np.min(data)) if min_value is None else float(min_value)
    hi = float(np.max(data)) if max_value is None else float(max_value)
    if not hi > lo:
        raise Rejected("no signal: the image is constant")
    return np.clip((data - lo) / (hi - lo), 0.0, 1.0)


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
