"""The point-spread function: a Moffat core plus a faint, wide Moffat halo (what the mock draws,
what the injection benchmark injects and what the star masks are sized with), the header FWHM
check, and the FWHM measured on the image's own point sources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpipe.preprocess.errors import Rejected

#: header keys read for the PSF FWHM (arcsec), in this order
FWHM_HEADER_KEYS = ("PSF_FWHM", "SEEING")
#: radial step (px) of the finite differences of ``pixel_integrated``
PIXEL_STEP_PX = 0.25
#: sources whose measured FWHM is within this factor of the narrowest are the stars (the stellar
#: locus); broader ones are compact galaxies, a nucleus or HII regions on a gradient
STELLAR_LOCUS_WIDTH = 1.25
#: a source's FWHM is fitted within this many guessed FWHM of it
FIT_RADIUS_FWHM = 2.0
#: a saturated neighbour's wings are fitted with a source where they may reach this many sky sigma
#: there (its flux is at least its clipped peak over the model's peak per unit flux)
NEIGHBOUR_WING_MIN_SIGMA = 0.5
#: a source's FWHM fit moves its centre from the finder's in these steps (px, in x and in y; each
#: step the best of the 3 x 3 shifts, then the best FWHM): up to 0.75 px
CENTRE_STEPS_PX = (0.5, 0.25)


@dataclass(frozen=True)
class PsfModel:
    """Circular PSF shape in units of its core FWHM (the FWHM itself comes per image)."""
    core_beta: float = 3.5           # Moffat beta of the core
    halo_fraction: float = 0.05      # share of the flux in the halo
    halo_fwhm_ratio: float = 6.0     # halo FWHM / core FWHM
    halo_beta: float = 2.0           # Moffat beta of the halo (surface brightness ~ r^-2 beta far out)


def moffat_alpha(*, fwhm_px: float, beta: float) -> float:
    return fwhm_px / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_profile(r_px: np.ndarray, *, fwhm_px: float, beta: float) -> np.ndarray:
    """Surface brightness per unit flux (px^-2) of a Moffat profile at radius ``r_px``."""
    alpha = moffat_alpha(fwhm_px=fwhm_px, beta=beta)
    return (beta - 1.0) / (np.pi * alpha**2) * (1.0 + (np.asarray(r_px) / alpha) ** 2) ** (-beta)


def pixel_integrated(profile, r_px: np.ndarray) -> np.ndarray:
    """A radial ``profile`` (callable of r px) averaged over a square pixel rather than sampled at
    its centre: f + Laplacian(f) / 24 (second order; a star's pixels hold the PSF integrated over
    each pixel, 2-5 % less at the peak than sampled for a 2.5-3.5 px FWHM, and this matches the
    integral to 0.05-0.2 %)."""
    r = np.asarray(r_px, dtype=float)
    h = PIXEL_STEP_PX
    f0, fp, fm = profile(r), profile(r + h), profile(np.abs(r - h))
    d2 = (fp - 2.0 * f0 + fm) / h**2
    laplacian = d2 + np.where(r > h, (fp - fm) / (2.0 * h) / np.maximum(r, h), d2)
    return f0 + laplacian / 24.0


def core_profile(r_px: np.ndarray, *, fwhm_px: float, model: PsfModel) -> np.ndarray:
    """The core alone, per unit flux (px^-2), integrated over the pixel."""
    return pixel_integrated(lambda r: moffat_profile(r, fwhm_px=fwhm_px, beta=model.core_beta), r_px)


def halo_profile(r_px: np.ndarray, *, fwhm_px: float, model: PsfModel) -> np.ndarray:
    """The halo alone, per unit flux (px^-2)."""
    return moffat_profile(r_px, fwhm_px=model.halo_fwhm_ratio * fwhm_px, beta=model.halo_beta)


def psf_profile(r_px: np.ndarray, *, fwhm_px: float, model: PsfModel) -> np.ndarray:
    """PSF surface brightness per unit flux (px^-2): core plus halo."""
    return ((1.0 - model.halo_fraction) * core_profile(r_px, fwhm_px=fwhm_px, model=model)
            + model.halo_fraction * halo_profile(r_px, fwhm_px=fwhm_px, model=model))


def star_profile(r_px: np.ndarray, *, core_flux: float, halo_flux: float, fwhm_px: float,
                 model: PsfModel) -> np.ndarray:
    """A star's surface brightness (image units per pixel) with its own core and halo fluxes."""
    return (core_flux * core_profile(r_px, fwhm_px=fwhm_px, model=model)
            + halo_flux * halo_profile(r_px, fwhm_px=fwhm_px, model=model))


def radius_at_level(*, flux: float, level: float, fwhm_px: float, model: PsfModel,
                    max_radius_px: float, halo_flux: float | None = None) -> float:
    """The radius (px) beyond which a star of total ``flux`` is fainter than ``level`` per pixel
    (both in image units); ``max_radius_px`` when it never gets there within it. ``halo_flux``:
    the part of ``flux`` in the halo when fitted (default: the model's share)."""
    if not (flux > 0 and level > 0):
        return 0.0
    halo = model.halo_fraction * flux if halo_flux is None else halo_flux
    r = np.linspace(0.0, max_radius_px, int(4 * max_radius_px) + 2)
    above = star_profile(r, core_flux=flux - halo, halo_flux=halo, fwhm_px=fwhm_px, model=model) > level
    if above.all():
        return float(max_radius_px)
    return float(r[np.argmin(above)])


def header_fwhm_arcsec(header, *, default_arcsec: float | None,
                       valid_range_arcsec: tuple[float, float]) -> float | None:
    """The PSF FWHM from the header (PSF_FWHM or SEEING, arcsec), else ``default_arcsec``.

    A header value outside ``valid_range_arcsec`` rejects the galaxy: a corrupt header must not
    size the star masks (1e6 arcsec would ask for terabytes)."""
    lo, hi = valid_range_arcsec
    for key in FWHM_HEADER_KEYS:
        value = header.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not (np.isfinite(value) and lo <= value <= hi):
            raise Rejected(f"header {key} = {value!r} arcsec is outside the valid PSF FWHM range "
                           f"[{lo}, {hi}] (preprocess.psf_fwhm_range_arcsec)")
        return float(value)
    return default_arcsec


def measure_fwhm_px(data: np.ndarray, *, xy: np.ndarray, guess_fwhm_px: float, sky_sigma: float,
                    exclude_xy: list[tuple[float, float]] = (), exclude_radius_px: float = 0.0,
                    saturated_xy: np.ndarray | None = None, model: PsfModel = PsfModel(),
                    min_snr: float = 20.0, min_stars: int = 2) -> float | None:
    """Median FWHM (px) of the stars among the bright, unsaturated sources at ``xy``.

    Each source's FWHM is that of the PSF model's core fitted to it (``_source_fwhm_px``): the
    width the star removal needs, whatever the survey's PSF shape. Sources within ``exclude_radius_px`` of
    a point of ``exclude_xy`` (the galaxy's nucleus) are left out, and of the rest only those
    within ``STELLAR_LOCUS_WIDTH`` of the narrowest count: a star is the narrowest thing in an
    image, and a compact galaxy or a nucleus is broader than the PSF. Where a saturated star of
    ``saturated_xy`` ((K, 2) x, y) may be brighter than ``NEIGHBOUR_WING_MIN_SIGMA`` sky sigma at a
    source, its wings (``model`` at the guessed FWHM) are fitted with the source: over a plane
    alone their curvature narrows the source's fitted core. None when fewer than ``min_stars``
    stars give a usable value."""
    saturated_xy = np.empty((0, 2)) if saturated_xy is None else np.asarray(saturated_xy, dtype=float)
    # each saturated star's flux is at least its clipped peak over the model's peak per unit flux
    peak_per_flux = float(psf_profile(np.zeros(1), fwhm_px=guess_fwhm_px, model=model)[0])
    min_flux = [max(float(data[int(round(y)), int(round(x))]), 0.0) / peak_per_flux for x, y in saturated_xy]
    values = []
    for x, y in xy:
        if any(np.hypot(x - ex, y - ey) <= exclude_radius_px for ex, ey in exclude_xy):
            continue
        distance = np.hypot(saturated_xy[:, 0] - x, saturated_xy[:, 1] - y)
        reach = [k for k, d in enumerate(distance)
                 if d > FIT_RADIUS_FWHM * guess_fwhm_px
                 and min_flux[k] * psf_profile(np.array([d]), fwhm_px=guess_fwhm_px, model=model)[0]
                 > NEIGHBOUR_WING_MIN_SIGMA * sky_sigma]
        value = _source_fwhm_px(data, x_px=x, y_px=y, guess_fwhm_px=guess_fwhm_px, sky_sigma=sky_sigma,
                                min_snr=min_snr, neighbours_xy=saturated_xy[reach], model=model)
        if value is not None and value >= 0.5 * guess_fwhm_px:   # hot pixels and cosmic rays are narrower
            values.append(value)
    if values:
        narrowest = min(values)
        values = [v for v in values if v <= STELLAR_LOCUS_WIDTH * narrowest]
    if len(values) < min_stars:
        return None
    return float(np.median(values))


def _source_fwhm_px(data: np.ndarray, *, x_px: float, y_px: float, guess_fwhm_px: float, sky_sigma: float,
                    min_snr: float, neighbours_xy: np.ndarray | None = None,
                    model: PsfModel = PsfModel()) -> float | None:
    """One source's FWHM (px): the core FWHM of the PSF model that fits it best within
    ``FIT_RADIUS_FWHM`` guessed FWHM, on a local plane plus the wings of bright neighbours at
    ``neighbours_xy`` ((K, 2) x, y; ``model`` at the guessed FWHM, each scaled freely) (flux,
    plane and wings linear, the FWHM on a grid from 0.5 to 2 times the guess, refined by a
    parabola); None near the edge, below ``min_snr`` sky sigma at the peak, flat-topped
    (saturated) or at an end of the grid."""
    n_y, n_x = data.shape
    half = int(np.ceil(FIT_RADIUS_FWHM * guess_fwhm_px))
    ix, iy = int(round(x_px)), int(round(y_px))
    if ix - half < 0 or iy - half < 0 or ix + half >= n_x or iy + half >= n_y:
        return None
    stamp = data[iy - half:iy + half + 1, ix - half:ix + half + 1]
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    dx, dy = xx - (x_px - ix), yy - (y_px - iy)
    r = np.hypot(dx, dy)
    use = r <= FIT_RADIUS_FWHM * guess_fwhm_px
    values = stamp[use]
    if not np.isfinite(values).all():
        return None
    if values.max() - np.median(values) < min_snr * sky_sigma or np.sum(stamp >= stamp.max()) > 2:
        return None
    grid = guess_fwhm_px * np.exp(np.linspace(np.log(0.5), np.log(2.0), 36))
    wings = [psf_profile(np.hypot(xx[use] + ix - nx, yy[use] + iy - ny), fwhm_px=guess_fwhm_px, model=model)
             for nx, ny in (np.empty((0, 2)) if neighbours_xy is None else neighbours_xy)]
    wings = [w / w.max() for w in wings]
    shape = PsfModel()
    ones = np.ones(use.sum())

    def rss_at(fwhm: float, shift: tuple[float, float]) -> float:
        radius = np.hypot(dx[use] - shift[0], dy[use] - shift[1])
        design = np.column_stack([core_profile(radius, fwhm_px=fwhm, model=shape), ones, dx[use], dy[use], *wings])
        coeffs, *_ = np.linalg.lstsq(design, values, rcond=None)
        return float(np.sum((values - design @ coeffs) ** 2)) if coeffs[0] > 0 else np.inf

    # the centre is fitted too (on the guessed, then the fitted width): the finder's centroid is
    # pulled towards a bright neighbour's wings, and a core fitted off its centre is broader
    shift, fwhm = (0.0, 0.0), guess_fwhm_px
    for step in CENTRE_STEPS_PX:
        tried = [(shift[0] + i * step, shift[1] + j * step) for i in (-1, 0, 1) for j in (-1, 0, 1)]
        shift = min(tried, key=lambda c: rss_at(fwhm, c))
        rss = [rss_at(width, shift) for width in grid]
        fwhm = float(grid[int(np.argmin(rss))])
    k = int(np.argmin(rss))
    if not (0 < k < len(grid) - 1 and np.isfinite(rss[k - 1:k + 2]).all()):
        return None
    lo, mid, hi = rss[k - 1:k + 2]
    step = (lo - hi) / (2.0 * (lo - 2.0 * mid + hi)) if lo - 2.0 * mid + hi > 0 else 0.0
    return float(grid[k] * (grid[1] / grid[0]) ** np.clip(step, -0.5, 0.5))
