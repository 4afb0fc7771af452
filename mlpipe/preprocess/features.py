"""Luminosity and image statistics that join the CNN features in the GBM."""

from __future__ import annotations

import numpy as np

from mlpipe.preprocess.units import NANOMAGGY_CGS  # noqa: F401  (re-exported: the unit's one home is units.py)


def centre_values(image: np.ndarray) -> tuple[float, float]:
    """The central pixel and the mean of the central 5 x 5 pixels."""
    n_y, n_x = image.shape
    cy, cx = n_y // 2, n_x // 2
    return float(image[cy, cx]), float(image[max(cy - 2, 0):cy + 3, max(cx - 2, 0):cx + 3].mean())


def luminosity_features(flux: np.ndarray, distance_cm: float, flux_unit_cgs: float) -> dict[str, float]:
    """Statistics of flux x 4 pi D^2 (erg/s/Hz per pixel for nanomaggy images)."""
    lum = flux * flux_unit_cgs * 4.0 * np.pi * distance_cm**2
    centre, centre5 = centre_values(lum)
    return {"lum_sum": float(lum.sum()), "lum_mean": float(lum.mean()), "lum_max": float(lum.max()),
            "lum_min": float(lum.min()), "lum_std": float(lum.std()), "lum_centre": centre,
            "lum_centre5": centre5}


def log_image_features(scaled: np.ndarray) -> dict[str, float]:
    """Statistics of the log-scaled image."""
    centre, centre5 = centre_values(scaled)
    return {"log_sum": float(scaled.sum()), "log_mean": float(scaled.mean()),
            "log_std": float(scaled.std()), "log_centre": centre, "log_centre5": centre5}
