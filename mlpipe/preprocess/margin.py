"""Stars centred outside the field of view whose light reaches into it: a bright star's wings and
halo, or a saturated star's core just beyond the edge, add light the galaxy does not have (left
in, a saturated star 1.5 px beyond the edge of a real SDSS cut-out's field multiplied the galaxy's
luminosity by up to 16: BENCHMARKS.md) and raise the sky measured in the field's corners. Such
stars, and listed stars on the field near its edge (whose fits need the pixels beyond it), are
removed on the field together with a margin of the image around it, and the result is cut back
to the field."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mlpipe.preprocess.cutout import missing_pixels
from mlpipe.preprocess.psf import psf_profile
from mlpipe.preprocess.stars import StarRecord, StarSettings, saturated_cores


def margin_px(*, fwhm_px: float, settings: StarSettings) -> int:
    """Width (px) of the image around the field searched for stars that reach into it: the largest
    replaced radius a star may have (``max_mask_radius_fwhm`` FWHM)."""
    return int(np.ceil(settings.max_mask_radius_fwhm * fwhm_px))


#: a listed star centred on the field within this many FWHM of its edge is fitted on the field
#: with the margin too: its core and the pixels its fits need reach beyond the edge
NEAR_EDGE_FWHM = 4.0


def edge_gap_px(star_xy: np.ndarray, *, side_px: int) -> np.ndarray:
    """(N,) signed distance (px) of each star (``star_xy``: (N, 2) px in the field's frame) from the
    field's edge (the outer sides of its first and last pixels): > 0 outside the field, <= 0 on it."""
    lo, hi = -0.5, side_px - 0.5
    dx = np.maximum(lo - star_xy[:, 0], star_xy[:, 0] - hi)
    dy = np.maximum(lo - star_xy[:, 1], star_xy[:, 1] - hi)
    outside = np.hypot(np.clip(dx, 0.0, None), np.clip(dy, 0.0, None))
    return np.where((dx > 0) | (dy > 0), outside, np.maximum(dx, dy))


def stars_reaching_field(work: np.ndarray, valid: np.ndarray, *, star_xy: np.ndarray, gap_px: np.ndarray,
                         sky_sigma: float, fwhm_px: float, settings: StarSettings) -> np.ndarray:
    """(N,) bool: of the listed stars centred outside the field, within ``margin_px`` of its edge
    (``gap_px``: their distances from it), those whose light may reach it at
    ``halo_threshold_sigma`` sky sigma: centred where the image has no data (off it, or on
    missing pixels: only their wings can tell, fitted there), on a saturated core, or with a peak
    pixel whose PSF-model star is that bright at the field's nearest pixel. ``work`` and ``valid``:
    the field with its margin (``field_with_margin``); ``star_xy``: (N, 2) px in its frame."""
    margin = margin_px(fwhm_px=fwhm_px, settings=settings)
    reaching = np.zeros(len(star_xy), bool)
    peak_per_flux = float(psf_profile(0.0, fwhm_px=fwhm_px, model=settings.psf))
    level = settings.halo_threshold_sigma * sky_sigma
    n_y, n_x = work.shape
    half = max(int(np.ceil(fwhm_px)), 1)
    for i in np.flatnonzero((gap_px > 0) & (gap_px <= margin)):
        ix, iy = int(round(star_xy[i, 0])), int(round(star_xy[i, 1]))
        if not (0 <= ix < n_x and 0 <= iy < n_y) or not valid[iy, ix]:
            reaching[i] = True
            continue
        box = work[max(iy - half, 0):iy + half + 1, max(ix - half, 0):ix + half + 1]
        peak = float(box.max())
        reach = (peak / peak_per_flux) * float(psf_profile(gap_px[i], fwhm_px=fwhm_px, model=settings.psf))
        reaching[i] = (peak > 0 and reach > level) or len(saturated_cores(box, sky_sigma=sky_sigma)) > 0
    return reaching


def field_with_margin(image_data: np.ndarray, *, field: np.ndarray, field_missing: np.ndarray, x0_px: int,
                      y0_px: int, margin_px: int, sky: float, min_zero_run_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The field (``field``: sky-subtracted, its missing pixels ``field_missing``) inside a margin of
    ``margin_px`` of the image around it, sky-subtracted with the field's ``sky``: (side + 2 margin)
    square, and its valid pixels (False off the image and on missing pixels, which hold 0)."""
    side = field.shape[0]
    full = side + 2 * margin_px
    ys, xs = y0_px - margin_px, x0_px - margin_px
    raw = np.full((full, full), np.nan)
    n_y, n_x = image_data.shape
    cy0, cx0 = max(ys, 0), max(xs, 0)
    cy1, cx1 = min(ys + full, n_y), min(xs + full, n_x)
    if cy1 > cy0 and cx1 > cx0:
        raw[cy0 - ys:cy1 - ys, cx0 - xs:cx1 - xs] = image_data[cy0:cy1, cx0:cx1]
    valid = ~missing_pixels(raw, min_zero_run_px=min_zero_run_px)
    work = np.where(valid, raw - sky, 0.0)
    inner = (slice(margin_px, margin_px + side), slice(margin_px, margin_px + side))
    work[inner] = field
    valid[inner] = ~field_missing
    return work, valid


def record_in_field(rec: StarRecord, *, margin_px: int, side_px: int) -> StarRecord:
    """A star's record made on the field with its margin, in the field's own frame (the replaced
    pixels cut to the field)."""
    shifted = replace(rec, x=rec.x - margin_px, y=rec.y - margin_px,
                      mirror_xy=None if rec.mirror_xy is None else (rec.mirror_xy[0] - margin_px,
                                                                    rec.mirror_xy[1] - margin_px))
    if rec.replaced is None:
        return shifted
    rows, cols, mask = rec.replaced
    r0, r1 = rows.start - margin_px, rows.stop - margin_px
    c0, c1 = cols.start - margin_px, cols.stop - margin_px
    a0, a1 = max(r0, 0), min(r1, side_px)
    b0, b1 = max(c0, 0), min(c1, side_px)
    if a1 <= a0 or b1 <= b0:
        return replace(shifted, replaced=(slice(0, 0), slice(0, 0), np.zeros((0, 0), bool)))
    return replace(shifted, replaced=(slice(a0, a1), slice(b0, b1), mask[a0 - r0:a1 - r0, b0 - c0:b1 - c0]))
