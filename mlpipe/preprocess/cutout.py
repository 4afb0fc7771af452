"""Cut the 1.125 x D25 field of view around the galaxy (by its WCS, not the array centre) and
measure and remove the sky."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.wcs.utils import proj_plane_pixel_scales

from mlpipe.io.fits_image import Image
from mlpipe.preprocess.errors import Rejected


@dataclass
class Cutout:
    data: np.ndarray          # sky-subtracted flux, NaN-free
    x0: int                   # lower-left corner in the original image (pixels)
    y0: int
    pixel_scale_arcsec: float
    sky: float                # sigma-clipped sky level that was subtracted
    sky_sigma: float          # sigma-clipped noise of the sky
    bad_fraction: float       # share of non-finite pixels replaced by the sky


def pixel_scale_arcsec(image: Image) -> float:
    return float(np.mean(proj_plane_pixel_scales(image.wcs.celestial)) * 3600.0)


def cut_field_of_view(image: Image, ra: float, dec: float, d25_arcmin: float, fov_d25: float,
                      min_coverage: float, max_bad_fraction: float) -> Cutout:
    """Square cut-out of side ``fov_d25 * D25`` centred on (ra, dec), sky subtracted.

    Parts of the field outside the image are padded with the sky (the galaxy is rejected when
    less than ``min_coverage`` of the field lies on the image); non-finite pixels are replaced
    by the sky (rejected above ``max_bad_fraction``).
    """
    scale = pixel_scale_arcsec(image)
    side = int(round(fov_d25 * d25_arcmin * 60.0 / scale))
    if side < 8:
        raise Rejected(f"field of view is only {side} px across ({fov_d25} x D25 = "
                       f"{fov_d25 * d25_arcmin:.3f} arcmin at {scale:.3f} arcsec/px)")
    x, y = image.wcs.celestial.all_world2pix(ra, dec, 0)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise Rejected("galaxy position cannot be placed on the image by its WCS")
    x0 = int(round(float(x) - (side - 1) / 2.0))
    y0 = int(round(float(y) - (side - 1) / 2.0))
    ny, nx = image.data.shape
    xs, ys = max(x0, 0), max(y0, 0)
    xe, ye = min(x0 + side, nx), min(y0 + side, ny)
    if xe <= xs or ye <= ys:
        raise Rejected("galaxy position lies outside the image")
    coverage = (xe - xs) * (ye - ys) / side**2
    if coverage < min_coverage:
        raise Rejected(f"image covers only {coverage:.0%} of the {fov_d25} x D25 field of view")
    cut = np.full((side, side), np.nan)
    cut[ys - y0:ye - y0, xs - x0:xe - x0] = image.data[ys:ye, xs:xe]
    on_image = np.zeros_like(cut, dtype=bool)
    on_image[ys - y0:ye - y0, xs - x0:xe - x0] = True

    finite = np.isfinite(cut)
    bad_fraction = float(np.mean(~finite[on_image]))
    if bad_fraction >= 1.0:
        raise Rejected("every pixel in the field of view is NaN or infinite")
    if bad_fraction > max_bad_fraction:
        raise Rejected(f"{bad_fraction:.0%} of the pixels are NaN or infinite")

    sky, sky_sigma = sky_level(cut, finite)
    data = np.where(finite, cut - sky, 0.0)
    return Cutout(data, x0, y0, scale, sky, sky_sigma, bad_fraction)


def sky_level(cut: np.ndarray, finite: np.ndarray) -> tuple[float, float]:
    """Sigma-clipped median and sigma of the pixels outside the D25 circle (the field's corners),
    where the galaxy's light is weakest."""
    n = cut.shape[0]
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(xx - (n - 1) / 2.0, yy - (n - 1) / 2.0) / (n / 2.0)
    border = finite & (r > 0.9)
    if border.sum() < 20:
        raise Rejected("no sky: too few valid pixels around the galaxy to measure the background")
    _, median, sigma = sigma_clipped_stats(cut[border], sigma=3.0, maxiters=10)
    if not np.isfinite(sigma) or sigma <= 0:
        raise Rejected("no sky noise: the background is constant (empty or synthetic image)")
    return float(median), float(sigma)
