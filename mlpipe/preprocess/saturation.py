"""Saturated pixels: the flat tops of stars, bleed trails and nuclei at the detector's limit,
found on the image before star removal; the cores no listed star explains become candidates, and
what the removal leaves is judged against the galaxy (its own saturated nucleus stays, a trail or
an unremoved star within D25 rejects it)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.stars import SATURATED_MIN_PIXELS, SATURATED_MIN_SIGMA, flat_top_labels

#: a saturated plateau's pixels lie within this fraction of its top (a flat-fielded or bias-corrected
#: trail is not at one exact value)
PLATEAU_TOLERANCE = 0.01


def saturated_plateaus(data: np.ndarray, *, sky_sigma: float) -> np.ndarray:
    """(N_y, N_x) bool: pixels at the detector's limit in ``data`` (sky subtracted): those of every
    bright region (SATURATED_MIN_SIGMA sky sigma up) of which at least SATURATED_MIN_PIXELS lie
    within PLATEAU_TOLERANCE of its top (a flat top: no PSF or galaxy profile is flat to 1 %).
    A header's SATURATE is not used: it is often in another unit or scale than the pixels (a
    coadd, electrons against ADU), where it would call a bright galaxy saturated."""
    bright = data > SATURATED_MIN_SIGMA * sky_sigma
    flat = np.zeros(data.shape, bool)
    if bright.sum() >= SATURATED_MIN_PIXELS:
        labels, n = ndimage.label(bright)
        top = np.concatenate([[np.inf], ndimage.maximum(data, labels, index=np.arange(1, n + 1))])
        near_top = bright & (data >= (1.0 - PLATEAU_TOLERANCE) * top[labels])
        counts = np.bincount(labels[near_top], minlength=n + 1)
        counts[0] = 0
        flat = near_top & (counts[labels] >= SATURATED_MIN_PIXELS)
    return flat


def clear_saturation(clean: np.ndarray, flat: np.ndarray, *, handled: np.ndarray, fwhm_px: float,
                      r25_px: float) -> tuple[np.ndarray, int]:
    """What to do with the saturated pixels ``flat`` that the star removal left (``handled``: the
    pixels it replaced): a bleed trail, a saturated star that was not removed.
    A group within 2 FWHM of the centre is the galaxy's own saturated nucleus and stays, unless
    it runs out from there (a bleed trail from the nucleus: farther than twice its own radius).
    Another group reaching into the D25 circle rejects the galaxy: its pixels hold the detector's
    limit, not the galaxy's light, and would set the luminosities and the scaling. One wholly
    outside D25 is set to the sky (0). Returns the image and the number of pixels set to the sky."""
    left = flat & ~handled
    if not left.any():
        return clean, 0
    labels, n = ndimage.label(left, structure=np.ones((3, 3)))
    n_y, n_x = clean.shape
    yy, xx = np.mgrid[:n_y, :n_x]
    r = np.hypot(xx - (n_x - 1) / 2.0, yy - (n_y - 1) / 2.0)
    cleared = np.zeros(clean.shape, bool)
    for k in range(1, n + 1):
        group = labels == k
        reach = float(r[group].max())
        if r[group].min() <= 2.0 * fwhm_px:
            if reach <= max(2.0 * fwhm_px, 2.0 * np.sqrt(group.sum() / np.pi)):
                continue        # the nucleus's own plateau
            what = "a bleed trail from the saturated nucleus"
        else:
            what = "a bleed trail or a saturated star that was not removed"
        if r[group].min() <= r25_px:
            raise Rejected(f"{int(group.sum())} saturated pixels ({what}; the detector's limit, not the galaxy's "
                           f"light) lie within D25, reaching {reach:.0f} px from the centre")
        cleared |= group
    return np.where(cleared, 0.0, clean), int(cleared.sum())


#: a saturated core this many FWHM from every listed star is a star the catalogue does not list
UNLISTED_CORE_FWHM = 3.0


def unlisted_saturated_cores(data: np.ndarray, *, listed_xy: np.ndarray, sky_sigma: float,
                             fwhm_px: float, valid: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) x, y of the saturated cores in ``data`` that no listed star (``listed_xy``, (M, 2) px)
    explains: a star centred just off the image whose core and halo reach in, or one the catalogue
    misses. A core is explained by a listed star within UNLISTED_CORE_FWHM of any of its clipped
    pixels, or, where the core runs into pixels without data (``valid`` False: the image's edge),
    by a listed star centred on such pixels within the core's reach (a bright star off the image,
    only part of its clipped core on it). A saturated core is a star's whatever the catalogue says,
    so it is removed in catalogue mode too (a galaxy's own saturated nucleus is protected by the
    star removal)."""
    labels, flat = flat_top_labels(data, sky_sigma=sky_sigma)
    n_y, n_x = data.shape
    on_image = listed_xy[(listed_xy[:, 0] >= 0) & (listed_xy[:, 0] < n_x) & (listed_xy[:, 1] >= 0) & (listed_xy[:, 1] < n_y)]
    off_data = np.zeros(len(on_image), bool)
    no_data = None
    if valid is not None and len(on_image):
        off_data = ~valid[np.round(on_image[:, 1]).astype(int), np.round(on_image[:, 0]).astype(int)]
        no_data = ndimage.binary_dilation(~valid, structure=np.ones((3, 3)))
    out = []
    for k in np.unique(labels[flat]):
        yy, xx = np.nonzero(flat & (labels == k))
        if len(on_image):   # no listed star on the field: no core is explained
            distance = np.hypot(xx[:, None] - on_image[None, :, 0], yy[:, None] - on_image[None, :, 1]).min(axis=0)
            if distance.min() <= UNLISTED_CORE_FWHM * fwhm_px:
                continue
            if no_data is not None and no_data[yy, xx].any():
                # the core's reach: the radius of a disc as wide as its extent on the image
                extent = max(np.ptp(xx), np.ptp(yy)) + 1.0
                if np.any(off_data & (distance <= extent + UNLISTED_CORE_FWHM * fwhm_px)):
                    continue
        out.append((xx.mean(), yy.mean()))
    return np.asarray(out, dtype=float).reshape(-1, 2)
