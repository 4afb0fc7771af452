"""The g-i power law of the paper's colour baseline: log10 M/L = a + b (g - i), refitted on the
training set by minimising the chosen loss (L1 by default)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from mlpipe import losses


def colour_from_ratio(lum_ratio_g_i: np.ndarray) -> np.ndarray:
    """g - i up to a constant (absorbed by a): -2.5 log10(L_g / L_i)."""
    return -2.5 * np.log10(np.asarray(lum_ratio_g_i, dtype=float))


def fit_powerlaw(*, colour_mag: np.ndarray, ml: np.ndarray, ml_err: np.ndarray, loss: str = "l1") -> tuple[float, float]:
    """(a, b) of log10 M/L = a + b colour minimising the loss (l1 | l2 | rmsle) over the galaxies'
    colours (n,) in magnitudes, M/L and its error (n,) in solar units; started from the
    least-squares fit in log space."""
    b0, a0 = np.polyfit(colour_mag, np.log10(ml), 1)

    def objective(params: np.ndarray) -> float:
        return losses.loss(loss, 10.0 ** (params[0] + params[1] * colour_mag), ml, ml_err)

    result = minimize(objective, x0=[a0, b0], method="Nelder-Mead",
                      options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 5000})
    return float(result.x[0]), float(result.x[1])


def predict_powerlaw(params: tuple[float, float], *, colour_mag: np.ndarray) -> np.ndarray:
    """M/L (solar units) of the law ``params`` = (a, b) at the colours (n,) in magnitudes."""
    return 10.0 ** (params[0] + params[1] * np.asarray(colour_mag))
