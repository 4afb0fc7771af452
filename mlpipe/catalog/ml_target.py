"""The M/L target of the regression: Y = M*/L_g and its error dY, with the band luminosities
they are made from. (Not to be confused with what a CNN learns, ``cnn.models.<name>.target``.)"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpipe import physics


def band_luminosity(phot: pd.DataFrame, *, z: np.ndarray, cosmo, band: str = "g") -> np.ndarray:
    """L_band in solar units (N,) from the extinction-corrected AB magnitude ``mag_<band>`` that the
    photometry reader gives and the redshift ``z`` (N,) (no K-correction)."""
    mag = phot[f"mag_{band}"].to_numpy()
    return physics.luminosity_from_mag(mag, z, cosmo, physics.SUN_ABS_MAG[band])


def mass_to_light(*, logmstar_dex: np.ndarray, logmstar_err_dex: np.ndarray, lum_lsun: np.ndarray,
                  lum_err_mag: np.ndarray, relative_error_floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Y = M*/L (solar units) and dY (N,) from log10 M*/M_sun and its error (dex) and L (L_sun)
    with its error in magnitudes, propagating both, dY floored at ``relative_error_floor`` x Y.

    GSWLC's mass error is the width of its Bayesian posterior in dex; it and the photometric
    error add in quadrature in ln Y.
    """
    y = 10.0 ** np.asarray(logmstar_dex) / np.asarray(lum_lsun)
    sigma_ln = np.hypot(np.log(10.0) * np.asarray(logmstar_err_dex), 0.4 * np.log(10.0) * np.asarray(lum_err_mag))
    dy = np.maximum(y * sigma_ln, relative_error_floor * y)
    return y, dy
