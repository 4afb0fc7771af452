"""Cosmic rays and hot pixels: pixels sharper than any point source the telescope delivers,
replaced by their neighbours' median before stars are found and luminosities summed.

A pixel is a cosmic ray when it stands COSMIC_RAY_MIN_SIGMA sky sigma above the median of its 8
neighbours and more than COSMIC_RAY_CONTRAST times above the third highest of them. The third
highest, so that a hit of up to three connected pixels (each beside one or two others of the
hit) is found whole. A Gaussian PSF's peak is exp(4 ln 2 / FWHM^2) times its side neighbours:
5 at a FWHM of 1.58 px (0.63" at SDSS's 0.396" pixels, seeing SDSS never had), 1.25 at the
median 1.4" (3.5 px). So no star core, galaxy nucleus or knot is touched, nor any noise pixel
(8 sigma).
"""

from __future__ import annotations

import warnings

import numpy as np

#: sky sigma above the median of the 8 neighbours
COSMIC_RAY_MIN_SIGMA = 8.0
#: times the third highest of the 8 neighbours (or the sky sigma, where that is higher)
COSMIC_RAY_CONTRAST = 5.0


def _neighbours(data: np.ndarray) -> np.ndarray:
    """(8, N_y, N_x): each pixel's 8 neighbours (the edge repeated beyond the border)."""
    padded = np.pad(data, 1, mode="edge")
    n_y, n_x = data.shape
    return np.stack([padded[1 + dy:1 + dy + n_y, 1 + dx:1 + dx + n_x]
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)])


def cosmic_ray_pixels(data: np.ndarray, *, sky_sigma: float, valid: np.ndarray | None = None) -> np.ndarray:
    """(N_y, N_x) bool: the pixels of ``data`` (sky subtracted, any flux unit; ``sky_sigma`` in the
    same unit) that are cosmic rays or hot pixels by the module's criterion; ``valid``: pixels
    with data (the others are never flagged)."""
    # a hit stands COSMIC_RAY_CONTRAST sky sigma up at least: only those pixels' neighbours are sorted
    candidates = data > COSMIC_RAY_CONTRAST * sky_sigma
    if valid is not None:
        candidates &= valid
    sharp = np.zeros(data.shape, bool)
    if not candidates.any():
        return sharp
    ordered = np.sort(_neighbours(data)[:, candidates], axis=0)
    median = 0.5 * (ordered[3] + ordered[4])
    value = data[candidates]
    sharp[candidates] = (value - median > COSMIC_RAY_MIN_SIGMA * sky_sigma) & \
        (value > COSMIC_RAY_CONTRAST * np.maximum(ordered[-3], sky_sigma))
    return sharp


def replace_cosmic_rays(data: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """``data`` with each flagged pixel set to the median of its unflagged neighbours (0, the
    sky, where all of them are flagged)."""
    if not flagged.any():
        return data
    out = data.copy()
    around = _neighbours(np.where(flagged, np.nan, data))[:, flagged]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # every neighbour flagged: nan, then the sky
        fill = np.nanmedian(around, axis=0)
    out[flagged] = np.where(np.isfinite(fill), fill, 0.0)
    return out
