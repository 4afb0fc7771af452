"""The regression target Y = M*/L_g and its error dY."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpipe import physics


def band_luminosity(phot: pd.DataFrame, z: np.ndarray, cosmo, band: str = "g") -> np.ndarray:
    """L_band in solar units (N,) from the extinction-corrected AB magnitude ``mag_<band>`` that the
    photometry reader gives and the redshift ``z`` (N,) (no K-correction)."""
    mag = phot[f"mag_{band}"].to_numpy()
    return physics.luminosity_from_mag(mag, z, cosmo, physics.SUN_ABS_MAG[band])


def mass_to_light(logmstar: np.ndarray, logmstarerr: np.ndarray, lum: np.ndarray,
                  mag_err: np.ndarray, relative_floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Y = M*/L and dY, propagating the mass and magnitude errors, floored at ``relative_floor``.

    GSWLC's mass error is the width of its Bayesian posterior in dex; it and the photometric
    error add in quadrature in ln Y.
    """
    y = 10.0 ** np.asarray(logmstar) / np.asarray(lum)
    sigma_ln = np.hypot(np.log(10.0) * np.asarray(logmstarerr), 0.4 * np.log(10.0) * np.asarray(mag_err))
    dy = np.maximum(y * sigma_ln, relative_floor * y)
    return y, dy
