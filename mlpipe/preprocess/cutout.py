"""Cut the 1.125 x D25 field of view around the galaxy (by its WCS, not the array centre), mask
missing pixels (NaN, inf and runs of exact zeros) and measure and remove the sky."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import SigmaClippedStats
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy import ndimage

from mlpipe.io.fits_image import Image, world_to_pixel
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.noise import pixel_noise


@dataclass
class Cutout:
    data: np.ndarray          # sky-subtracted flux, NaN-free
    x0: int                   # lower-left corner in the original image (pixels)
    y0: int
    pixel_scale_arcsec: float
    sky: float                # sigma-clipped sky level that was subtracted
    sky_sigma: float          # sigma-clipped noise of the sky
    bad_fraction: float       # share of the field's on-image pixels that are missing (set to the sky)
    masked_d25_fraction: float = 0.0  # share of the D25 circle missing or off the image
    missing: np.ndarray | None = None  # (side, side) bool: pixels with no data (NaN, zero runs, off image)


def pixel_scale_arcsec(image: Image) -> float:
    return float(np.mean(proj_plane_pixel_scales(image.wcs.celestial)) * 3600.0)


#: exact zeros are no data wherever the sky lies this many pixel-noise sigma from zero (an image
#: with its sky left in: SDSS fpC, raw frames)
ZERO_SKY_SIGMA = 5.0
#: share of the valid pixels that may be isolated exact zeros before zero counts as a data value
#: (an integer image quantised at about the noise, whose sky-subtracted pixels are often exactly 0)
QUANTISED_ZERO_FRACTION = 0.01


def missing_pixels(data: np.ndarray, *, min_zero_run_px: int) -> np.ndarray:
    """Pixels without data: NaN or infinite, or exact zeros where zero cannot be a value: every
    zero where the sky lies ZERO_SKY_SIGMA pixel-noise sigma or more from zero (the sky left
    in), else each connected patch of at least ``min_zero_run_px`` zeros (how many archives write
    missing rows and chip gaps). Where isolated zeros are common (an image quantised at about
    its noise, where 0 is a value), only the zeros in a row or column run longer than chance
    gives."""
    missing = ~np.isfinite(data)
    zeros = data == 0.0
    if not zeros.any():
        return missing
    values = np.where(missing | zeros, np.nan, data)
    noise = pixel_noise(values, np.isfinite(values), min_pairs=20)
    if noise > 0 and abs(float(np.nanpercentile(values, 25))) > ZERO_SKY_SIGMA * noise:
        return missing | zeros
    if min_zero_run_px > 0 and zeros.sum() >= min_zero_run_px:
        labels, n = ndimage.label(zeros)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        big = sizes >= min_zero_run_px
        big[0] = False
        isolated = zeros & ~big[labels]
        if isolated.sum() > QUANTISED_ZERO_FRACTION * (~missing).sum():
            return missing | _straight_zero_runs(zeros, valid=~missing)
        missing |= big[labels]
    return missing


def _straight_zero_runs(zeros: np.ndarray, *, valid: np.ndarray) -> np.ndarray:
    """In an image where zero is a common value: the zeros in a row or column run longer than
    chance gives (a zeroed stripe, a chip gap or edge), of at least the length L at which
    p0^L x N < 0.01 for the share p0 of zeros among the N valid pixels."""
    share = zeros.sum() / max(valid.sum(), 1)
    if share >= 0.9:
        return np.zeros(zeros.shape, bool)
    length = int(np.ceil(np.log(0.01 / max(valid.sum(), 1)) / np.log(share)))
    if length > max(zeros.shape):
        return np.zeros(zeros.shape, bool)
    return (ndimage.binary_opening(zeros, structure=np.ones((1, length)))
            | ndimage.binary_opening(zeros, structure=np.ones((length, 1))))


def cut_field_of_view(image: Image, *, ra_deg: float, dec_deg: float, d25_arcmin: float, fov_d25: float,
                      min_coverage: float, max_bad_fraction: float, min_zero_run_px: int = 5,
                      max_masked_d25_fraction: float = 1.0) -> Cutout:
    """Square cut-out of side ``fov_d25 * D25`` centred on (ra, dec), sky subtracted.

    Parts of the field outside the image are padded with the sky (the galaxy is rejected when
    less than ``min_coverage`` of the field lies on the image); missing pixels (NaN, inf, runs
    of at least ``min_zero_run_px`` exact zeros) are set to the sky; the galaxy is rejected when
    they are more than ``max_bad_fraction`` of the field on the image, or when missing and
    off-image pixels cover more than ``max_masked_d25_fraction`` of the D25 circle.
    """
    ra, dec = ra_deg, dec_deg
    scale = pixel_scale_arcsec(image)
    side = int(round(fov_d25 * d25_arcmin * 60.0 / scale))
    if side < 8:
        raise Rejected(f"field of view is only {side} px across ({fov_d25} x D25 = "
                       f"{fov_d25 * d25_arcmin:.3f} arcmin at {scale:.3f} arcsec/px)")
    x, y = world_to_pixel(image.wcs, ra_deg=ra, dec_deg=dec)
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

    missing = missing_pixels(cut, min_zero_run_px=min_zero_run_px)
    bad_fraction = float(np.mean(missing[on_image]))
    if bad_fraction >= 1.0:
        raise Rejected("every pixel in the field of view is missing (NaN, infinite or zero)")
    if bad_fraction > max_bad_fraction:
        raise Rejected(f"{bad_fraction:.0%} of the field's pixels are missing (NaN, infinite or runs of "
                       f"exact zeros; preprocess.max_bad_pixel_fraction = {max_bad_fraction})")
    yy, xx = np.mgrid[:side, :side]
    in_d25 = np.hypot(xx - (side - 1) / 2.0, yy - (side - 1) / 2.0) <= side / (2.0 * fov_d25)
    masked_d25 = float(np.mean(missing[in_d25])) if in_d25.any() else 0.0
    if masked_d25 > max_masked_d25_fraction:
        raise Rejected(f"{masked_d25:.0%} of the D25 circle has no data (missing or off the image; "
                       f"preprocess.max_masked_d25_fraction = {max_masked_d25_fraction})")

    valid = ~missing
    sky, sky_sigma = sky_level(cut, valid)
    data = np.where(valid, cut - sky, 0.0)
    holes = missing & in_d25
    if holes.any():   # within D25 the galaxy's light, not the sky, lies under a hole
        data = fill_holes(data, holes)
    return Cutout(data, x0, y0, scale, sky, sky_sigma, bad_fraction, masked_d25, missing)


#: the Gaussian (sigma, px) that fills a hole in the galaxy from the pixels around it, pass by pass
HOLE_FILL_SIGMA_PX = 1.5


def fill_holes(data: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """``data`` with the ``holes`` (missing pixels within the galaxy) interpolated from the pixels
    around them: each pass fills a hole's rim with the Gaussian-weighted mean of its known
    neighbours (astropy's ``interpolate_replace_nans``) until the hole is closed; a hole no pass
    reaches is set to the sky (0)."""
    from astropy.convolution import Gaussian2DKernel, interpolate_replace_nans

    kernel = Gaussian2DKernel(x_stddev=HOLE_FILL_SIGMA_PX)
    filled = np.where(holes, np.nan, data)
    for _ in range(int(np.ceil(data.shape[0] / 2))):
        if not np.isnan(filled).any():
            break
        filled = interpolate_replace_nans(filled, kernel, boundary="extend")
    return np.where(np.isnan(filled), 0.0, filled)


#: values are quantised when at least this share of them lie on one lattice of equal steps, each
#: within this fraction of a step of it
QUANTISED_SHARE = 0.9
LATTICE_TOLERANCE = 0.01


def value_step(values: np.ndarray) -> float | None:
    """The step of quantised values (1 for integer counts, BSCALE for scaled integers; the same
    lattice shifted by a constant, such as a subtracted float sky, counts too), or None when they
    are continuous (fewer repeats than distinct values)."""
    values = values[np.isfinite(values)]
    distinct = np.unique(values)
    if len(distinct) < 2 or len(distinct) > len(values) / 2:
        return None
    step = float(np.median(np.diff(distinct)))
    offset = (values - distinct[0]) / step
    # within a hundredth of a step: scaled integers (BSCALE, BZERO) come in float32 (2e-5 of a count off)
    on_lattice = np.abs(offset - np.round(offset)) < LATTICE_TOLERANCE
    return step if on_lattice.mean() >= QUANTISED_SHARE else None


def quantised_median(values: np.ndarray, *, step: float) -> float:
    """The median of quantised ``values`` with each spread evenly over its step (``value +- step /
    2``): what the median of the values before quantisation most likely was. The plain median is a
    lattice value, off by up to half a step, which over a galaxy's thousands of pixels is 10-20 %
    of its light (an SDSS galaxy in integer ADU)."""
    values = np.sort(values[np.isfinite(values)])
    half = len(values) / 2.0
    lo, hi = values[0] - step, values[-1] + step

    def below(level: float) -> float:   # how much of the spread values lies below level
        return float(np.clip((level - values) / step + 0.5, 0.0, 1.0).sum())

    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if below(mid) < half else (lo, mid)
    return 0.5 * (lo + hi)


def sky_level(cut: np.ndarray, finite: np.ndarray) -> tuple[float, float]:
    """Sky level and noise from the pixels outside the D25 circle (the field's corners), where the
    galaxy's light is weakest: the sigma-clipped median (of quantised values, such as integer
    counts, the median of their steps spread evenly: ``quantised_median``), and the pixel-to-pixel
    noise (robust scatter of neighbour differences / sqrt 2, at most the clipped sigma)."""
    n = cut.shape[0]
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(xx - (n - 1) / 2.0, yy - (n - 1) / 2.0) / (n / 2.0)
    border = finite & (r > 0.9)
    if border.sum() < 20:
        raise Rejected("no sky: too few valid pixels around the galaxy to measure the background")
    clipped = SigmaClippedStats(cut[border], sigma=3.0, maxiters=10)
    median, clipped_sigma = float(clipped.median()), float(clipped.std())
    step = value_step(cut[border])
    if step:   # integer counts (ADU, fpC, int16): the median of whole numbers is a whole number
        median = quantised_median(clipped.data, step=step)
    if not np.isfinite(clipped_sigma) or clipped_sigma <= 0:
        raise Rejected("no sky noise: the background is constant (empty or synthetic image)")
    # the pixel-to-pixel noise, from neighbour differences: a star's halo or the galaxy's
    # gradient across the corners does not raise it
    quiet = border & (np.abs(np.where(finite, cut, median) - median) < 3.0 * clipped_sigma)
    sigma = pixel_noise(cut, quiet, min_pairs=1)
    if not sigma > 0:
        sigma = float(clipped_sigma)
    return float(median), float(min(sigma, clipped_sigma))
