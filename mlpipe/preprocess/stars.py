"""Foreground-star removal that keeps the galaxy.

Each star of the point-source catalogue is looked for near its listed position
(a point-like DAOStarFinder peak, or a saturated, flat-topped core); without a catalogue the
candidates are the point-like peaks and saturated cores found in the image, and a candidate on
the galaxy is replaced only when the data say it is a star: its profile is fitted better by the
PSF than by a broader source, and it stands well above the galaxy's local light (an HII region or
a bulge follows the galaxy's light). Nothing within ``nucleus_protect_fwhm`` of the galaxy's
centre or brightest peak is replaced (a saturated star's clipped pixels excepted); a listed star
within NUCLEUS_MATCH_FWHM of them is taken for the nucleus, one further out is removed by its
model, its surroundings taken for the galaxy's point-symmetric light. A listed star centred
where the image has no data (off its edge) is fitted on its wings alone (``fit_wings``).
Several saturated stars on one image are taken larger clipped core first; while one is fitted
and removed, the others still to come have their first-fitted models taken out of the image and
their flat tops left as they were (``CandidateCores``), so that neither the result nor the
catalogue's row order depends on which comes first.

A star's flux is fitted with the PSF model (saturated pixels left out); a bright star is refitted
out into its halo with its own core and halo fluxes and its own shape, and, when that reaches the
galaxy's centre, against its point-symmetric counterparts about it, so the bulge is not taken for
its halo (whose share of the flux is then the model's: it nearly cancels against its counterpart).
Where the star is bright (above ``replace_threshold_sigma`` sky sigma, at least
``mask_radius_fwhm`` FWHM) and outshines what is left, its pixels are replaced by a plane fitted
to the surrounding annulus plus noise drawn with the sky's own pixel noise (not the annulus
scatter, which includes the galaxy's gradient), or, where the replaced disc reaches the nucleus
zone, by their counterparts (or the galaxy's radial profile) corrected by such a plane; beyond, out to where its halo falls below
``halo_threshold_sigma`` sky sigma, the fitted model is subtracted, so a bright star's halo goes
without replacing the galaxy under it.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np
from photutils.detection import DAOStarFinder
from photutils.utils.exceptions import NoDetectionsWarning
from scipy import ndimage
from scipy.optimize import lsq_linear

from mlpipe.preprocess.noise import pixel_noise
from mlpipe.preprocess.psf import PIXEL_STEP_PX, PsfModel, core_profile, halo_profile, psf_profile, radius_at_level, star_profile

STATUS_REPLACED = "replaced"
STATUS_GALAXY = "galaxy structure"
STATUS_NUCLEUS = "galaxy nucleus"
STATUS_OUTSIDE = "outside"   # centred outside the field, its light not reaching in
STATUS_NOT_FOUND = "not found"
#: a saturated core: at least this many connected pixels at one value, this many sky sigma up
SATURATED_MIN_PIXELS = 6
SATURATED_MIN_SIGMA = 100.0
#: a listed star the finder misses is still replaced when its PSF flux has this S/N
LISTED_MIN_SNR = 3.0
#: a listed star within this many FWHM of the galaxy's centre (or of its brightest central peak)
#: is the galaxy's nucleus: the two cannot be told apart there. One further out, even within the
#: protected zone (``nucleus_protect_fwhm``), is a star and removed by its model (the zone's pixels
#: are never replaced)
NUCLEUS_MATCH_FWHM = 1.0
#: the broader alternative a point source must beat: FWHM x this
EXTENDED_FWHM_RATIO = 1.5
#: the shapes a bright star's halo fit tries (the best fitting is its model): FWHM x these (core
#: and halo), the model's core beta + these (real PSFs differ from the model and star to star)
CORE_FWHM_SCALES = (0.85, 1.0, 1.15)
CORE_BETA_STEPS = (-1.0, 0.0, 1.0)
#: a star's model is subtracted out to at most this times ``max_mask_radius_fwhm`` FWHM
HALO_REACH_FACTOR = 4.0
#: a pixel within the replaced radius of a star on the bulge is replaced only where the star is
#: brighter than this times the galaxy's light (its counterpart); elsewhere it is model-subtracted
STAR_OVER_GALAXY_TO_REPLACE = 1.0
#: a pixel within a star's replaced disc whose light, the star's model subtracted, is more than this
#: times the model's there (and above GALAXY_KEEP_MIN_SIGMA sky sigma) is the galaxy's, a knot or a
#: neighbour's core under the star's wings: it is freed of the model and kept, not replaced (a real
#: star's wings differ from the model by less: MAX_WING_EXCESS)
GALAXY_OVER_STAR_TO_KEEP = 3.0
GALAXY_KEEP_MIN_SIGMA = 5.0
#: the replaced disc grows through a ring only while what is left there is at most this times the
#: star model's light at that radius: a real PSF's wings may be a few times the model's (a core of
#: Moffat beta 2.5 against 3.5 and twice the halo leave up to ~1.6 times the model at 2-8 FWHM),
#: while the galaxy's light or a neighbour next to a star is many times its model wings
MAX_WING_EXCESS = 3.0
#: the finder's kernel reaches this many Gaussian sigma: DAOFIND's default for the candidates
#: and the FWHM's stars, and, for the faint candidates of a field without a catalogue, a kernel
#: that takes in more of a star's light, with wider sharpness and roundness ranges (at S/N 10 the
#: noise scatters a star's beyond the configured ones; the fit judges each candidate): at 5 sigma
#: they find ~95 % of the stars of PSF-optimal S/N 10, against ~5 % (synthetic Moffat stars of
#: 2.7-3.5 px FWHM on pure noise, none found where there is no star)
DAOFIND_SIGMA_RADIUS = 1.5
FAINT_SIGMA_RADIUS = 3.0
FAINT_SHARPNESS_RANGE = (0.0, 2.0)
FAINT_ROUNDNESS_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class StarSettings:
    """``preprocess.stars`` of the configuration, unpacked (see workflow_config.yaml)."""
    search_radius_fwhm: float = 1.0
    detection_sigma: float = 5.0
    sharpness_range: tuple[float, float] = (0.2, 1.0)
    roundness_range: tuple[float, float] = (-0.8, 0.8)
    nucleus_protect_fwhm: float = 2.0
    mask_radius_fwhm: float = 2.0
    max_mask_radius_fwhm: float = 20.0
    halo_threshold_sigma: float = 0.5
    replace_threshold_sigma: float = 20.0
    detect_without_catalogue: bool = False
    point_like_min_delta_chi2: float = 9.0
    point_like_min_delta_chi2_off_galaxy: float = 0.0
    galaxy_level_sigma: float = 1.0
    min_contrast_on_galaxy: float = 5.0
    star_model_error: float = 0.25
    max_star_light_fraction: float = 0.5
    psf: PsfModel = field(default_factory=PsfModel)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "StarSettings":
        psf = PsfModel(**cfg["psf_model"]) if "psf_model" in cfg else PsfModel()
        names = set(cls.__dataclass_fields__) - {"psf"}
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if k in names}
        return cls(psf=psf, **values)


@dataclass
class StarRecord:
    x: float
    y: float
    mag: float
    status: str   # replaced, not found, galaxy nucleus, galaxy structure, outside
    radius_px: float = 0.0
    flux: float = 0.0          # fitted flux (image units; 0 when not fitted)
    saturated: bool = False
    halo_radius_px: float = 0.0  # the star's model is subtracted out to here (its halo meets the sky noise)
    mirror_xy: tuple[float, float] | None = None   # its fill came from the counterparts about this centre
    model: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)  # its profile
    replaced: tuple | None = field(default=None, repr=False, compare=False)  # (rows, columns, mask) replaced


def _surface_design(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Terms of a plane: fitted on an annulus it carries the local level and gradient into the
    disc inside; a radially symmetric error in the annulus (a star's wings that differ from the
    model) only shifts the level, where a higher-order surface swings inside."""
    return np.stack([np.ones_like(dx), dx, dy], axis=-1)


def annulus_width_px(*, radius_px: float, fwhm_px: float) -> float:
    """Width of the annulus the replacement surface is fitted to."""
    return max(2.0, fwhm_px, 0.25 * radius_px)


def mirror_light(data: np.ndarray, *, x_px: np.ndarray, y_px: np.ndarray, centre_xy: tuple[float, float],
                 wings: Callable[[np.ndarray], np.ndarray] | None = None, star_xy: tuple[float, float] | None = None,
                 exclude_radius_px: float = 0.0, valid: np.ndarray | None = None) -> np.ndarray:
    """The galaxy's light at integer pixels (x, y) taken from their point-symmetric counterparts
    about the galaxy's centre (``centre_xy``, to the nearest half pixel), freed of the star's model
    ``wings`` centred on ``star_xy``; NaN where the counterpart is off the field, not ``valid``, or
    within ``exclude_radius_px`` of the star (itself the star's)."""
    mx = int(round(2.0 * centre_xy[0])) - np.asarray(x_px, dtype=int)
    my = int(round(2.0 * centre_xy[1])) - np.asarray(y_px, dtype=int)
    n_y, n_x = data.shape
    ok = (mx >= 0) & (mx < n_x) & (my >= 0) & (my < n_y)
    out = np.full(ok.shape, np.nan)
    out[ok] = data[my[ok], mx[ok]]
    if valid is not None:
        ok[ok] &= valid[my[ok], mx[ok]]
    if star_xy is not None:
        rm = np.hypot(mx - star_xy[0], my - star_xy[1])
        ok &= rm > exclude_radius_px
        if wings is not None:
            out[ok] -= wings(rm[ok])
    out[~ok] = np.nan
    return out


def replace_disc(data: np.ndarray, *, x_px: float, y_px: float, radius_px: float, width_px: float,
                 noise_sigma: float, rng: np.random.Generator, valid: np.ndarray | None = None,
                 wings: Callable[[np.ndarray], np.ndarray] | None = None, halo_radius_px: float = 0.0,
                 keep: np.ndarray | None = None, sky_sigma: float | None = None,
                 mirror_xy: tuple[float, float] | None = None, core_radius_px: float = 0.0,
                 only: np.ndarray | None = None) -> tuple[slice, slice, np.ndarray]:
    """Remove a star at (x, y) from ``data`` in place.

    ``wings`` (the star's model: image units per pixel at radius r px) is subtracted out to
    ``halo_radius_px`` and over the fitting annulus; the pixels within ``radius_px`` are then
    replaced by a plane fitted to the annulus of ``width_px`` around them (one 3-sigma
    clipping pass) plus Gaussian noise of ``noise_sigma`` (or of the annulus's own pixel-to-pixel
    noise where that is larger: a bright galaxy's photon noise). ``mirror_xy``: the galaxy's centre,
    when the star sits on its bulge: the replaced pixels are then their point-symmetric
    counterparts about it (freed of the star's model; their own noise is the galaxy's) plus a
    plane fitted to the annulus minus its counterparts, so the fill follows the bulge's
    curvature rather than a plane (pixels without a usable counterpart get the plane fill).
    Pixels where ``keep`` is True (the galaxy's nucleus) are never replaced, only freed of the
    model; so are, on the bulge, those where the star is fainter than STAR_OVER_GALAXY_TO_REPLACE
    times the galaxy's light there (its counterpart: replacing would erase the galaxy's structure,
    and they help the fill follow it), and anywhere those whose own light, the model subtracted,
    is GALAXY_OVER_STAR_TO_KEEP times the model's beyond ``core_radius_px`` (with ``sky_sigma``: a
    knot or a neighbour's core under a bright star's wings; within it, where the star's own light
    is what the fit knows least, everything is replaced). ``only``: replace at most these pixels (full-image mask;
    default: as the data say). Returns the replaced pixels (rows, columns, mask within them)."""
    n_y, n_x = data.shape
    r_out = radius_px + width_px
    reach = max(r_out, halo_radius_px if wings is not None else 0.0)
    xs, xe = max(int(np.floor(x_px - reach)), 0), min(int(np.ceil(x_px + reach)) + 1, n_x)
    ys, ye = max(int(np.floor(y_px - reach)), 0), min(int(np.ceil(y_px + reach)) + 1, n_y)
    yy, xx = np.mgrid[ys:ye, xs:xe]
    r = np.hypot(xx - x_px, yy - y_px)
    block = data[ys:ye, xs:xe]
    kept = keep[ys:ye, xs:xe] if keep is not None else np.zeros(r.shape, bool)
    inner = (r <= radius_px) & ~kept
    light = None
    if mirror_xy is not None:   # before anything is subtracted or replaced
        light = mirror_light(data, x_px=xx, y_px=yy, centre_xy=mirror_xy, wings=wings, star_xy=(x_px, y_px),
                             exclude_radius_px=radius_px, valid=valid)
    model = wings(r) if wings is not None else None   # the star's light over the block
    if only is not None:
        inner &= only[ys:ye, xs:xe]
    elif model is not None:
        if light is not None:   # on the bulge: where the galaxy outshines the star
            inner &= ~(model < STAR_OVER_GALAXY_TO_REPLACE * light)
        if sky_sigma is not None:   # where a knot or a neighbour outshines it
            left = block - model
            inner &= ~((r > core_radius_px) & (left > GALAXY_OVER_STAR_TO_KEEP * model)
                       & (left > GALAXY_KEEP_MIN_SIGMA * sky_sigma))
    if model is not None:
        scale = 1.0 if light is not None else _wing_scale(block, r=r, dx=xx - x_px, dy=yy - y_px,
                                                          radius_px=radius_px, width_px=width_px, wings=wings,
                                                          sky_sigma=sky_sigma,
                                                          valid=None if valid is None else valid[ys:ye, xs:xe])
        modelled = ((r > radius_px) & (r <= reach)) | ((r <= radius_px) & ~inner)
        block[modelled] -= scale * model[modelled]
    ring = ((r > radius_px) & (r <= r_out)) | ((r <= radius_px) & ~inner & ~kept)
    if valid is not None and (ring & valid[ys:ye, xs:xe]).sum() >= 16:
        ring &= valid[ys:ye, xs:xe]
    replaced = (slice(ys, ye), slice(xs, xe), inner)
    if ring.sum() < 16 or not inner.any():
        return replaced[0], replaced[1], np.zeros(r.shape, bool)
    plane = _ring_plane(block, ring=ring, xx=xx, yy=yy, x_px=x_px, y_px=y_px, r_out=r_out)
    fill = _surface_design((xx[inner] - x_px) / r_out, (yy[inner] - y_px) / r_out) @ plane
    if noise_sigma > 0:   # on a bright galaxy its photon noise adds to the sky's
        noise_sigma = max(noise_sigma, pixel_noise(block, ring))
    noise = rng.normal(0.0, noise_sigma, int(inner.sum())) if noise_sigma > 0 else np.zeros(int(inner.sum()))
    if light is not None:
        ring_m = ring & np.isfinite(light)
        inner_m = np.isfinite(light[inner])
        if ring_m.sum() >= 16 and inner_m.any():
            offset = _ring_plane(block - np.nan_to_num(light), ring=ring_m, xx=xx, yy=yy, x_px=x_px, y_px=y_px,
                                 r_out=r_out)
            at = (xx[inner][inner_m] - x_px) / r_out, (yy[inner][inner_m] - y_px) / r_out
            fill[inner_m] = light[inner][inner_m] + _surface_design(*at) @ offset
            noise[inner_m] = 0.0      # the counterparts carry the galaxy's own noise
        rest = ~inner_m
        if rest.any():   # counterparts that are the star's too: the galaxy's radial profile
            rg = np.hypot(xx - mirror_xy[0], yy - mirror_xy[1])
            source = ~inner & (valid[ys:ye, xs:xe] if valid is not None else True)
            profile = radial_profile(block, radius_px=rg, use=source)
            if profile is not None:
                at = (xx[inner][rest] - x_px) / r_out, (yy[inner][rest] - y_px) / r_out
                offset = _ring_plane(block - profile, ring=ring, xx=xx, yy=yy, x_px=x_px, y_px=y_px, r_out=r_out)
                fill[rest] = profile[inner][rest] + _surface_design(*at) @ offset
    block[inner] = fill + noise
    return replaced


def radial_profile(values: np.ndarray, *, radius_px: np.ndarray, use: np.ndarray) -> np.ndarray | None:
    """The median of ``values`` over ``use`` in 1-px rings of ``radius_px`` (from the galaxy's
    centre), linearly interpolated over rings with none, evaluated at every pixel; None when
    fewer than 3 rings have pixels."""
    ring = np.floor(radius_px).astype(int)
    rings = np.unique(ring[use])
    if len(rings) < 3:
        return None
    medians = ndimage.median(values, labels=np.where(use, ring + 1, 0), index=rings + 1)
    return np.interp(radius_px, rings + 0.5, medians)


def _ring_plane(block: np.ndarray, *, ring: np.ndarray, xx: np.ndarray, yy: np.ndarray, x_px: float, y_px: float,
                r_out: float) -> np.ndarray:
    """Plane coefficients fitted to ``block`` over ``ring`` (one 3-sigma clipping pass)."""
    design = _surface_design((xx[ring] - x_px) / r_out, (yy[ring] - y_px) / r_out)
    values = block[ring]
    coeffs, *_ = np.linalg.lstsq(design, values, rcond=None)
    resid = values - design @ coeffs
    # a floor relative to the values (never an absolute one: images come in any flux unit, 1e-30 erg/s/cm2/Hz too)
    floor = max(1e-12 * float(np.max(np.abs(values))), np.finfo(float).tiny)
    good = np.abs(resid) < 3.0 * max(1.4826 * np.median(np.abs(resid)), floor)
    if 16 <= good.sum() < good.size:
        coeffs, *_ = np.linalg.lstsq(design[good], values[good], rcond=None)
    return coeffs


def _wing_scale(block: np.ndarray, *, r: np.ndarray, dx: np.ndarray, dy: np.ndarray, radius_px: float,
                width_px: float, wings: Callable[[np.ndarray], np.ndarray], sky_sigma: float | None,
                valid: np.ndarray | None = None) -> float:
    """How much of the star model the data outside the replaced disc hold: the model's amplitude
    fitted with a plane over two annulus widths, within [0, 1.5], where the model's wings there
    are bright enough to measure it to ~10 % (else 1). A real star whose wings are fainter than
    the model is then not over-subtracted (which leaves a dark ring and fill)."""
    zone = (r > radius_px) & (r <= radius_px + 2.0 * width_px)
    if valid is not None:   # pixels without data hold 0, not the star's wings
        zone &= valid
    if sky_sigma is None or zone.sum() < 20:
        return 1.0
    model = wings(r[zone])
    if np.sum(model**2) < 100.0 * sky_sigma**2:
        return 1.0
    norm = radius_px + 2.0 * width_px
    design = np.column_stack([model, np.ones_like(model), dx[zone] / norm, dy[zone] / norm])
    coeffs, *_ = np.linalg.lstsq(design, block[zone], rcond=None)
    return float(np.clip(coeffs[0], 0.0, 1.5)) if np.isfinite(coeffs[0]) else 1.0


def _finder(*, sky_sigma: float, fwhm_px: float, settings: StarSettings, faint: bool = False) -> DAOStarFinder:
    return DAOStarFinder(threshold=settings.detection_sigma * sky_sigma, fwhm=fwhm_px,
                         sigma_radius=FAINT_SIGMA_RADIUS if faint else DAOFIND_SIGMA_RADIUS,
                         sharpness_range=FAINT_SHARPNESS_RANGE if faint else tuple(settings.sharpness_range),
                         roundness_range=FAINT_ROUNDNESS_RANGE if faint else tuple(settings.roundness_range),
                         exclude_border=False)


def flat_top_labels(data: np.ndarray, *, sky_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(labels, at_plateau): the connected regions SATURATED_MIN_SIGMA sky sigma above the sky, and
    the pixels of those whose peak value at least SATURATED_MIN_PIXELS of them share (flat tops)."""
    bright = data > SATURATED_MIN_SIGMA * sky_sigma
    if bright.sum() < SATURATED_MIN_PIXELS:
        return np.zeros(data.shape, int), np.zeros(data.shape, bool)
    labels, n = ndimage.label(bright)
    peak = ndimage.maximum(data, labels, index=np.arange(1, n + 1))
    at_peak = bright & (data == np.concatenate([[np.inf], peak])[labels])
    counts = np.bincount(labels[at_peak], minlength=n + 1)
    counts[0] = 0
    return labels, at_peak & (counts[labels] >= SATURATED_MIN_PIXELS)


def clipped_radius_px(data: np.ndarray, *, x_px: float, y_px: float, level: float) -> float:
    """The radius (px) of a disc as large as the star's clipped core: the connected pixels at or
    above ``level`` that hold (``x_px``, ``y_px``) or lie nearest to it (another star's core, or a
    saturated nucleus, at the same level is not this star's)."""
    clipped = data >= level
    if not clipped.any():
        return 0.0
    labels, _ = ndimage.label(clipped)
    yy, xx = np.nonzero(clipped)
    own = labels[yy, xx][int(np.argmin(np.hypot(xx - x_px, yy - y_px)))]
    return float(np.sqrt(np.sum(labels == own) / np.pi))


def saturated_cores(data: np.ndarray, *, sky_sigma: float) -> np.ndarray:
    """(N, 2) x, y of flat-topped cores: connected groups of at least SATURATED_MIN_PIXELS pixels
    at one value, SATURATED_MIN_SIGMA sky sigma or more above the sky."""
    labels, flat = flat_top_labels(data, sky_sigma=sky_sigma)
    out = []
    for k in np.unique(labels[flat]):
        yy, xx = np.nonzero(flat & (labels == k))
        out.append((xx.mean(), yy.mean()))
    return np.asarray(out, dtype=float).reshape(-1, 2)


def _peaks(data: np.ndarray, finder: DAOStarFinder) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found = finder.find_stars(data)
    return (np.empty((0, 2)) if found is None else
            np.column_stack([np.asarray(found["x_centroid"]), np.asarray(found["y_centroid"])]))


def find_point_sources(data: np.ndarray, *, sky_sigma: float, fwhm_px: float, settings: StarSettings,
                       faint: bool = False) -> np.ndarray:
    """Candidate stars over the whole field (the prior when no catalogue covers it): point-like
    DAOStarFinder peaks and saturated cores, as (N, 2) x, y. ``faint``: also the fainter peaks
    that the faint kernel finds (more than 1 FWHM from the others)."""
    peaks = _peaks(data, _finder(sky_sigma=sky_sigma, fwhm_px=fwhm_px, settings=settings))
    if faint:
        more = _peaks(data, _finder(sky_sigma=sky_sigma, fwhm_px=fwhm_px, settings=settings, faint=True))
        if len(peaks) and len(more):
            d = np.hypot(more[:, None, 0] - peaks[None, :, 0], more[:, None, 1] - peaks[None, :, 1])
            more = more[d.min(axis=1) > fwhm_px]
        peaks = np.concatenate([peaks, more])
    cores = saturated_cores(data, sky_sigma=sky_sigma)
    if len(cores) and len(peaks):
        d = np.hypot(peaks[:, None, 0] - cores[None, :, 0], peaks[:, None, 1] - cores[None, :, 1])
        peaks = peaks[d.min(axis=1) > 2.0 * fwhm_px]
    return np.concatenate([cores, peaks])


@dataclass
class PointFit:
    flux: float           # fitted PSF flux (image units)
    background: float     # local light under the source (the fitted plane at its centre)
    delta_chi2: float     # chi2(broader source) - chi2(PSF): > 0 when the PSF fits better
    halo_flux: float | None = None   # the halo's own flux, fitted where the halo is detectable
    mirror_xy: tuple[float, float] | None = None  # fitted against its counterparts about this centre
    core_fwhm_px: float | None = None   # the star's own FWHM and core beta, where fitted (else the model's)
    core_beta: float | None = None
    background_max: float | None = None   # the fitted plane's highest value within the fit's reach


def star_shapes(r_px: np.ndarray, *, fwhm_px: float, psf: PsfModel) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """The star shapes a bright star's fits try (real PSFs differ from the model and from star to
    star): FWHM x CORE_FWHM_SCALES (the halo's scales with it) and the core's beta + CORE_BETA_STEPS,
    each as (FWHM px, core beta, the core's and the halo's profiles per unit flux at ``r_px``)."""
    shapes = []
    for scale in CORE_FWHM_SCALES:
        halo = halo_profile(r_px, fwhm_px=scale * fwhm_px, model=psf)
        for beta in (psf.core_beta + d for d in CORE_BETA_STEPS):
            core = core_profile(r_px, fwhm_px=scale * fwhm_px, model=replace(psf, core_beta=beta))
            shapes.append((scale * fwhm_px, beta, core, halo))
    return shapes


def fit_halo(data: np.ndarray, *, x_px: float, y_px: float, fwhm_px: float, sky_sigma: float, psf: PsfModel,
             first: PointFit, max_radius_px: float, saturated_level: float | None = None,
             galaxy_xy: tuple[float, float] | None = None, valid: np.ndarray | None = None) -> PointFit:
    """Refit a bright star with the core's and the halo's fluxes free (over a plane), out to
    where the model's halo drops to the sky noise: real halos differ from star to star and
    from the model. Where that reaches the galaxy's centre ``galaxy_xy`` (a star on the bulge),
    each pixel minus its point-symmetric counterpart about the centre is fitted with the model's
    difference at the two: the galaxy's symmetric light (the bulge) cancels, which a plane
    cannot do, and is not handed to the star's halo (subtracting that would erase galaxy light);
    there only the star's total flux is free, its halo keeping the model's share (the broad halo
    nearly cancels against its counterpart, so the data hardly constrain it). Returns ``first``
    unchanged when the halo is not detectable or the fit fails. Only ``valid`` pixels are fitted."""
    halo_model = psf.halo_fraction * first.flux
    r_halo = radius_at_level(flux=halo_model, level=sky_sigma, fwhm_px=fwhm_px, model=psf,
                             max_radius_px=max_radius_px, halo_flux=halo_model)
    if r_halo < 4.0 * fwhm_px:
        return first
    n_y, n_x = data.shape
    xs, xe = max(int(np.floor(x_px - r_halo)), 0), min(int(np.ceil(x_px + r_halo)) + 1, n_x)
    ys, ye = max(int(np.floor(y_px - r_halo)), 0), min(int(np.ceil(y_px + r_halo)) + 1, n_y)
    yy, xx = np.mgrid[ys:ye, xs:xe]
    r = np.hypot(xx - x_px, yy - y_px)
    values = data[ys:ye, xs:xe].astype(float)
    use = r <= r_halo
    if valid is not None:   # pixels without data (off the image) hold 0, not the star's light
        use &= valid[ys:ye, xs:xe]
    if saturated_level is not None:
        use &= values < saturated_level
    # every 2nd pixel beyond 3 FWHM: the halo is smooth and the fit stays cheap
    use &= (r <= 3.0 * fwhm_px) | (((yy + xx) % 2) == 0)
    mirrored = galaxy_xy is not None and np.hypot(x_px - galaxy_xy[0], y_px - galaxy_xy[1]) < r_halo
    # the star's shapes tried: FWHM (the halo's scales with it, as the model defines it) and the
    # core's beta; each as (FWHM, beta, core's column, halo's column)
    columns = star_shapes(r, fwhm_px=fwhm_px, psf=psf)
    if mirrored:
        counterpart = mirror_light(data, x_px=xx, y_px=yy, centre_xy=galaxy_xy)
        rm = np.hypot(int(round(2.0 * galaxy_xy[0])) - xx - x_px, int(round(2.0 * galaxy_xy[1])) - yy - y_px)
        use &= np.isfinite(counterpart) & (r < rm)   # each pair once, the star's side
        if saturated_level is not None:
            use &= ~(counterpart >= saturated_level)
        values = values - np.nan_to_num(counterpart)
        columns = [(f, b, c - core_profile(rm, fwhm_px=f, model=replace(psf, core_beta=b)),
                    h - halo_profile(rm, fwhm_px=f, model=psf)) for f, b, c, h in columns]
        # a centre off by d leaves 2 d . (the galaxy's gradient at the counterpart): fitted with it
        # (the gradient of the image freed of the first fit's star: not the star's own)
        fy, fx = np.ogrid[:n_y, :n_x]
        first_star = first.flux * psf_profile(np.hypot(fx - x_px, fy - y_px), fwhm_px=fwhm_px, model=psf)
        grad_y, grad_x = np.gradient(data - first_star)
        shift = [np.nan_to_num(mirror_light(g, x_px=xx, y_px=yy, centre_xy=galaxy_xy)) for g in (grad_x, grad_y)]
    if use.sum() < 20:
        return first
    dx, dy = (xx[use] - x_px) / r_halo, (yy[use] - y_px) / r_halo
    target = values[use]
    best = None
    share = psf.halo_fraction
    for core_fwhm, core_beta, core, halo in columns:
        plane = [np.ones_like(dx), dx, dy]
        design = np.column_stack([core[use], halo[use], *plane])
        if mirrored:    # star flux >= 0 (the differences can be fitted by either sign)
            # a halo far broader than the star's distance from the centre nearly cancels against its
            # counterpart, which leaves its own flux to the galaxy's asymmetries: the model's share
            counterparts = [g[use] for g in shift]
            star = (1.0 - share) * core[use] + share * halo[use]
            fitted = np.column_stack([star, *plane, *counterparts])
            norm = np.linalg.norm(fitted, axis=0)
            norm[norm == 0] = 1.0
            bounds = (np.r_[0.0, np.full(fitted.shape[1] - 1, -np.inf)], np.full(fitted.shape[1], np.inf))
            total = lsq_linear(fitted / norm, target, bounds=bounds, method="bvls").x / norm
            coeffs = np.r_[(1.0 - share) * total[0], share * total[0], total[1:]]
            design = np.column_stack([design, *counterparts])
        else:
            coeffs, *_ = np.linalg.lstsq(design, target, rcond=None)
        rss = float(np.sum((target - design @ coeffs) ** 2))
        if coeffs[0] > 0 and coeffs[1] > 0 and (best is None or rss < best[0]):
            best = (rss, coeffs, core_fwhm, core_beta)
    if best is None:
        return first
    _, coeffs, core_fwhm, core_beta = best
    core_flux, halo_flux = float(coeffs[0]), float(coeffs[1])
    return PointFit(core_flux + halo_flux, first.background if mirrored else float(coeffs[2]), first.delta_chi2,
                    halo_flux, tuple(galaxy_xy) if mirrored else None, core_fwhm, core_beta)


def fit_point_source(data: np.ndarray, *, x_px: float, y_px: float, fwhm_px: float, sky_sigma: float,
                     psf: PsfModel, saturated_level: float | None = None,
                     valid: np.ndarray | None = None) -> PointFit:
    """Least-squares PSF flux over a plane, within 2 FWHM (beyond the saturated core, which is
    left out; ``valid`` pixels only), and how much better the PSF fits than a source
    EXTENDED_FWHM_RATIO times broader."""
    n_y, n_x = data.shape
    r_fit = 2.0 * fwhm_px
    if saturated_level is not None:
        core = clipped_radius_px(data, x_px=x_px, y_px=y_px, level=saturated_level)
        r_fit = max(r_fit, core + 3.0 * fwhm_px)
    xs, xe = max(int(np.floor(x_px - r_fit)), 0), min(int(np.ceil(x_px + r_fit)) + 1, n_x)
    ys, ye = max(int(np.floor(y_px - r_fit)), 0), min(int(np.ceil(y_px + r_fit)) + 1, n_y)
    yy, xx = np.mgrid[ys:ye, xs:xe]
    r = np.hypot(xx - x_px, yy - y_px)
    use = r <= r_fit
    values = data[ys:ye, xs:xe]
    if valid is not None:
        use &= valid[ys:ye, xs:xe]
    if saturated_level is not None:
        use &= values < saturated_level
    if use.sum() < 8:
        return PointFit(0.0, 0.0, 0.0)
    dx, dy, v = (xx[use] - x_px) / r_fit, (yy[use] - y_px) / r_fit, values[use]
    results = []
    for width in (fwhm_px, EXTENDED_FWHM_RATIO * fwhm_px):
        design = np.column_stack([psf_profile(r[use], fwhm_px=width, model=psf), np.ones_like(dx), dx, dy])
        coeffs, *_ = np.linalg.lstsq(design, v, rcond=None)
        results.append((coeffs, float(np.sum((v - design @ coeffs) ** 2))))
    (coeffs, rss_psf), (_, rss_wide) = results
    return PointFit(float(coeffs[0]), float(coeffs[1]), (rss_wide - rss_psf) / sky_sigma**2,
                    background_max=float(coeffs[1] + np.hypot(coeffs[2], coeffs[3])))


#: a listed star centred where the image has no data (off its edge) is removed when its wings
#: give its flux with at least this S/N
WINGS_MIN_SNR = 5.0


def fit_wings(data: np.ndarray, *, x_px: float, y_px: float, fwhm_px: float, sky_sigma: float, psf: PsfModel,
              valid: np.ndarray, reach_px: float, exclude: np.ndarray | None = None) -> PointFit:
    """The light of a star centred at (x, y) where ``data`` has no data (off the image's edge),
    from its wings alone: its core's and its halo's fluxes over a constant (or, where that leaves the
    core negative, its total flux with the model's halo share), fitted to the ``valid``
    pixels within ``reach_px`` that are not ``exclude``d (the galaxy) nor on a saturated plateau
    (its clipped core reaching in), for each of the star shapes ``fit_halo`` tries, with one
    3-sigma clipping pass (other sources). Of the fits whose total flux is at least WINGS_MIN_SNR
    times its noise (from ``sky_sigma``) the best is kept; none, or fewer than 20 pixels, gives
    flux 0."""
    n_y, n_x = data.shape
    xs, xe = max(int(np.floor(x_px - reach_px)), 0), min(int(np.ceil(x_px + reach_px)) + 1, n_x)
    ys, ye = max(int(np.floor(y_px - reach_px)), 0), min(int(np.ceil(y_px + reach_px)) + 1, n_y)
    if xe <= xs or ye <= ys:
        return PointFit(0.0, 0.0, 0.0)
    yy, xx = np.mgrid[ys:ye, xs:xe]
    r = np.hypot(xx - x_px, yy - y_px)
    values = data[ys:ye, xs:xe]
    use = valid[ys:ye, xs:xe] & (r <= reach_px)
    if exclude is not None:
        use &= ~exclude[ys:ye, xs:xe]
    if use.sum() < 20:
        return PointFit(0.0, 0.0, 0.0)
    top = float(values[use].max())
    if top > SATURATED_MIN_SIGMA * sky_sigma and np.sum(values[use] == top) >= SATURATED_MIN_PIXELS:
        use &= values < top
    r_use, target = r[use], values[use]
    share = psf.halo_fraction
    best = None
    for core_fwhm, core_beta, core, halo in star_shapes(r_use, fwhm_px=fwhm_px, psf=psf):
        ones = np.ones_like(core)
        # the core's and the halo's fluxes free, or (far out, where the core hardly shows) the
        # total with the model's halo share: as (design, total's weights over its columns)
        for design, weights in ((np.column_stack([core, halo, ones]), np.array([1.0, 1.0, 0.0])),
                                (np.column_stack([(1.0 - share) * core + share * halo, ones]),
                                 np.array([1.0, 0.0]))):
            coeffs, *_ = np.linalg.lstsq(design, target, rcond=None)
            resid = target - design @ coeffs
            good = np.abs(resid) < 3.0 * max(1.4826 * float(np.median(np.abs(resid))), sky_sigma)
            if 20 <= good.sum() < good.size:
                coeffs, *_ = np.linalg.lstsq(design[good], target[good], rcond=None)
            if not (np.isfinite(coeffs).all() and coeffs[0] > 0 and (len(coeffs) == 2 or coeffs[1] >= 0)):
                continue
            try:   # the noise of the total flux, from the fit's covariance
                cov = np.linalg.inv(design[good].T @ design[good]) * sky_sigma**2
            except np.linalg.LinAlgError:
                continue
            total = float(weights @ coeffs)
            if not total >= WINGS_MIN_SNR * float(np.sqrt(max(weights @ cov @ weights, 0.0))):
                continue
            rss = float(np.sum((target[good] - design[good] @ coeffs) ** 2))
            if best is None or rss < best[0]:
                halo_flux = float(coeffs[1]) if len(coeffs) == 3 else share * float(coeffs[0])
                best = (rss, PointFit(total, float(coeffs[-1]), 0.0, halo_flux, None, core_fwhm, core_beta))
    return PointFit(0.0, 0.0, 0.0) if best is None else best[1]


def refine_saturated_centre(data: np.ndarray, *, x_px: float, y_px: float, fwhm_px: float, psf: PsfModel,
                            saturated_level: float, iterations: int = 3,
                            valid: np.ndarray | None = None) -> tuple[float, float]:
    """The centre (px) of a saturated star fitted on the unclipped pixels around its core.

    The mean of the clipped pixels is the centre only to a fraction of a pixel, and a bright star's
    model misplaced by 0.2 px leaves ~20 % of its light 3 px from it. The PSF model and its shifts
    (finite differences) are fitted over a plane out to 3 FWHM beyond the clipped core; the shift
    is applied and the fit repeated (``valid`` pixels only). Moves by at most 1 px from (``x_px``, ``y_px``)."""
    n_y, n_x = data.shape
    core = clipped_radius_px(data, x_px=x_px, y_px=y_px, level=saturated_level)
    r_fit = core + 3.0 * fwhm_px
    xs, xe = max(int(np.floor(x_px - r_fit)), 0), min(int(np.ceil(x_px + r_fit)) + 1, n_x)
    ys, ye = max(int(np.floor(y_px - r_fit)), 0), min(int(np.ceil(y_px + r_fit)) + 1, n_y)
    yy, xx = np.mgrid[ys:ye, xs:xe]
    values = data[ys:ye, xs:xe]
    on_data = valid[ys:ye, xs:xe] if valid is not None else True
    h = PIXEL_STEP_PX
    x, y = x_px, y_px
    for _ in range(iterations):
        use = (np.hypot(xx - x, yy - y) <= r_fit) & (values < saturated_level) & on_data
        if use.sum() < 20:
            break
        px, py = xx[use] - x, yy[use] - y
        model = psf_profile(np.hypot(px, py), fwhm_px=fwhm_px, model=psf)
        d_x = (psf_profile(np.hypot(px - h, py), fwhm_px=fwhm_px, model=psf)
               - psf_profile(np.hypot(px + h, py), fwhm_px=fwhm_px, model=psf)) / (2.0 * h)
        d_y = (psf_profile(np.hypot(px, py - h), fwhm_px=fwhm_px, model=psf)
               - psf_profile(np.hypot(px, py + h), fwhm_px=fwhm_px, model=psf)) / (2.0 * h)
        design = np.column_stack([model, d_x, d_y, np.ones_like(px), px / r_fit, py / r_fit])
        coeffs, *_ = np.linalg.lstsq(design, values[use], rcond=None)
        if not (np.isfinite(coeffs).all() and coeffs[0] > 0):
            break
        x = float(np.clip(x + coeffs[1] / coeffs[0], x_px - 1.0, x_px + 1.0))
        y = float(np.clip(y + coeffs[2] / coeffs[0], y_px - 1.0, y_px + 1.0))
    return x, y


def _locate(stamp: np.ndarray, *, x_px: float, y_px: float, search_px: float, sky_sigma: float,
            finder: DAOStarFinder) -> tuple[float, float, bool] | None:
    """The star near (x, y) in stamp coordinates: a saturated core or the nearest point-like peak."""
    cores = saturated_cores(stamp, sky_sigma=sky_sigma)
    if len(cores):
        d = np.hypot(cores[:, 0] - x_px, cores[:, 1] - y_px)
        best = int(np.argmin(d))
        if d[best] <= max(search_px, 2.0):
            return float(cores[best, 0]), float(cores[best, 1]), True
    if min(stamp.shape) < 5:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found = finder.find_stars(stamp)
    if found is None or len(found) == 0:
        return None
    fx, fy = np.asarray(found["x_centroid"]), np.asarray(found["y_centroid"])
    dist = np.hypot(fx - x_px, fy - y_px)
    best = int(np.argmin(dist))
    if dist[best] > search_px:
        return None
    return float(fx[best]), float(fy[best]), False


#: a star's fits leave out the pixels within this many FWHM of a saturated star still to come
#: (of its clipped core): that star's light, not this one's
PENDING_CORE_MARGIN_FWHM = 3.0


@dataclass(frozen=True)
class CandidateCores:
    """The saturated (flat-topped) cores of the image before any star is removed, and the one
    each candidate sits on: with several saturated stars, removing one must neither take the
    others' light into its fit nor break their flat tops (which tell a later star's fit which of
    its pixels are clipped)."""
    labels: np.ndarray   # (N_y, N_x) int: the cores, connected clipped pixels (0: none)
    flat: np.ndarray     # (N_y, N_x) bool: their pixels
    label: np.ndarray    # (N,) int: each candidate's core (0: none within reach)
    size: np.ndarray     # (N,) int: its clipped pixels (0: none)

    def core_of(self, candidate: int) -> np.ndarray:
        """(N_y, N_x) bool: the clipped pixels of the candidate's own core (none without one)."""
        if not self.label[candidate]:
            return np.zeros(self.flat.shape, bool)
        return self.labels == self.label[candidate]

    def others(self, *, own: int, later) -> list[int]:
        """The cores of the candidates ``later`` (their removal still to come) other than the
        core of candidate ``own``."""
        return sorted({int(self.label[j]) for j in later} - {0, int(self.label[own])})

    def pixels(self, cores: list[int]) -> np.ndarray:
        """(N_y, N_x) bool: the clipped pixels of ``cores``."""
        return np.isin(self.labels, cores) if cores else np.zeros(self.flat.shape, bool)


def _candidate_cores(data: np.ndarray, *, star_xy: np.ndarray, sky_sigma: float, within_px: float) -> CandidateCores:
    """Each candidate's saturated core on ``data``: the connected flat-top pixels with one within
    ``within_px`` of it (the nearest such pixel's core)."""
    _, flat = flat_top_labels(data, sky_sigma=sky_sigma)
    labels, _ = ndimage.label(flat, structure=np.ones((3, 3)))
    label = np.zeros(len(star_xy), int)
    yy, xx = np.nonzero(flat)
    if len(yy):
        for i, (x, y) in enumerate(star_xy):
            d = np.hypot(xx - x, yy - y)
            k = int(np.argmin(d))
            if d[k] <= within_px:
                label[i] = labels[yy[k], xx[k]]
    size = np.bincount(labels[flat], minlength=int(labels.max()) + 1)[label] * (label > 0)
    return CandidateCores(labels, flat, label, size)


def _brightest_first(data: np.ndarray, *, star_xy: np.ndarray, star_mag: np.ndarray,
                     core_size: np.ndarray) -> list[int]:
    """The order of removal: the brightest first (by the pixel at the listed position), so that
    a faint star inside a bright one's halo goes with the halo. Saturated stars share the clip
    level: the larger clipped core (the brighter star) first, then the brighter listed magnitude;
    the position last, so that the catalogue's row order never changes the result."""
    def key(i: int) -> tuple[float, ...]:
        mag = float(star_mag[i])
        return (-_peak_value(data, star_xy[i]), -int(core_size[i]), mag if np.isfinite(mag) else np.inf,
                float(star_xy[i][1]), float(star_xy[i][0]))
    return sorted(range(len(star_xy)), key=key)


def _fit_star(image: np.ndarray, *, x_px: float, y_px: float, level: float | None, fwhm_px: float, sky_sigma: float,
              settings: StarSettings, galaxy_xy: tuple[float, float] | None,
              valid: np.ndarray | None) -> tuple[PointFit, float, float, Callable[[np.ndarray], np.ndarray] | None]:
    """A star at (``x_px``, ``y_px``) fitted on ``image`` (its pixels at or above ``level``, where
    saturated, left out; ``valid`` pixels only): the PSF fit, refitted into its halo (against its
    counterparts about ``galaxy_xy`` where the halo reaches it), the radii of its replaced disc and
    its subtracted halo (px) and its profile (``_wings``)."""
    fit = fit_point_source(image, x_px=x_px, y_px=y_px, fwhm_px=fwhm_px, sky_sigma=sky_sigma, psf=settings.psf,
                           saturated_level=level, valid=valid)
    fit = fit_halo(image, x_px=x_px, y_px=y_px, fwhm_px=fwhm_px, sky_sigma=sky_sigma, psf=settings.psf, first=fit,
                   max_radius_px=settings.max_mask_radius_fwhm * fwhm_px, saturated_level=level,
                   galaxy_xy=galaxy_xy, valid=valid)
    saturated_px = clipped_radius_px(image, x_px=x_px, y_px=y_px, level=level) if level is not None else 0.0
    radius, halo = star_radii(flux=fit.flux, sky_sigma=sky_sigma, fwhm_px=fwhm_px, settings=settings,
                              saturated_px=saturated_px, halo_flux=fit.halo_flux)
    return fit, radius, halo, _wings(fit, fwhm_px=fwhm_px, psf=settings.psf)


#: passes of the saturated stars' first fits: the second fits each one with the others' first
#: models taken out (a faint star in a bright one's halo otherwise takes some of the halo)
FIRST_FIT_PASSES = 2


def _first_fits(data: np.ndarray, cores: CandidateCores, *, sky_sigma: float, fwhm_px: float,
                settings: StarSettings, valid: np.ndarray | None,
                protect_xy: list[tuple[float, float]]) -> dict[int, StarRecord]:
    """Where two or more candidates are saturated stars: each one's model, by core
    (``cores.labels``), fitted on ``data`` with the pixels near the other cores left out and, in
    the later passes (FIRST_FIT_PASSES), the other stars' models taken out. While one of them is
    removed, the models of those still to come are taken out of the image (``_left_out``), so that
    their wings enter neither its fit nor the plane that fills its disc. A core within
    ``nucleus_protect_fwhm`` of ``protect_xy`` (the galaxy's saturated nucleus) is never modelled."""
    protect = settings.nucleus_protect_fwhm * fwhm_px
    regions = []
    for k in sorted({int(k) for k in cores.label if k > 0}):
        yy, xx = np.nonzero(cores.labels == k)
        if not any(np.hypot(xx - px, yy - py).min() < protect for px, py in protect_xy):
            regions.append(k)
    if len(regions) < 2:
        return {}
    galaxy_xy = protect_xy[-1] if protect_xy else None

    def fit(image: np.ndarray, k: int) -> StarRecord | None:
        own = cores.labels == k
        fit_valid = _away_from(cores.flat & ~own, valid=valid, margin_px=PENDING_CORE_MARGIN_FWHM * fwhm_px)
        yy, xx = np.nonzero(own)
        level = float(data[yy, xx].min())
        x, y = refine_saturated_centre(image, x_px=float(xx.mean()), y_px=float(yy.mean()), fwhm_px=fwhm_px,
                                       psf=settings.psf, saturated_level=level, valid=fit_valid)
        first, radius, halo, wings = _fit_star(image, x_px=x, y_px=y, level=level, fwhm_px=fwhm_px, sky_sigma=sky_sigma,
                                               settings=settings, galaxy_xy=galaxy_xy, valid=fit_valid)
        if wings is None:
            return None
        return StarRecord(x, y, np.nan, STATUS_REPLACED, radius, first.flux, True, halo, None, wings)

    fits = {k: rec for k in regions if (rec := fit(data, k)) is not None}
    for _ in range(FIRST_FIT_PASSES - 1):
        refits = {}
        for k in fits:
            image = data.copy()
            for j, rec in fits.items():
                if j != k:
                    add_star_light(image, rec, scale=-1.0)
            image[cores.flat] = data[cores.flat]
            if (rec := fit(image, k)) is not None:
                refits[k] = rec
        fits = refits
    return fits


@contextmanager
def _left_out(out: np.ndarray, neighbours: list[StarRecord], *, own: np.ndarray, pending: np.ndarray):
    """Take the ``neighbours``' light out of ``out`` (in place) for the block's duration and put
    it back after, except on clipped pixels: those of the cores still to come (``pending``) keep
    their values throughout, so do those of the star's own core (``own``) that the block leaves
    as they were (its removal replaces the rest)."""
    flat = own | pending
    kept = out[flat].copy()
    for rec in neighbours:
        add_star_light(out, rec, scale=-1.0)
    out[flat] = kept
    try:
        yield
    finally:
        untouched = out[flat] == kept
        for rec in neighbours:
            add_star_light(out, rec)
        out[flat] = np.where(untouched | pending[flat], kept, out[flat])


def _away_from(pixels: np.ndarray, *, valid: np.ndarray | None, margin_px: float) -> np.ndarray | None:
    """``valid`` less the pixels within ``margin_px`` of ``pixels`` (``valid`` itself when there
    are none)."""
    if not pixels.any():
        return valid
    near = ndimage.distance_transform_edt(~pixels) <= margin_px
    return ~near if valid is None else valid & ~near


def subtract_stars(data: np.ndarray, *, star_xy: np.ndarray, star_mag: np.ndarray, sky_sigma: float,
                   fwhm_px: float, protect_xy: list[tuple[float, float]], settings: StarSettings,
                   rng: np.random.Generator, from_catalogue: bool = True,
                   valid: np.ndarray | None = None, fill_noise: bool = True,
                   galaxy_radius_px: float = 0.0) -> tuple[np.ndarray, list[StarRecord]]:
    """Return a star-subtracted copy of ``data`` (N_y, N_x; sky-subtracted image units) and what
    happened to each candidate at ``star_xy`` (N, 2; pixels).

    ``protect_xy``: the galaxy's centre and brightest peak: no pixel within ``nucleus_protect_fwhm``
    FWHM of them is replaced; a listed star within NUCLEUS_MATCH_FWHM of them (a candidate found in
    the image: within ``nucleus_protect_fwhm``) is taken for the nucleus. ``from_catalogue``:
    the candidates are catalogue stars (False: peaks found in the image, which must also prove
    to be stars against the galaxy's light). ``fill_noise=False`` leaves the replaced pixels
    noise-free (the injection benchmark measures the replacement's flux with it). A listed star
    centred on pixels that are not ``valid`` (off the image) is fitted on its wings
    (``fit_wings``), leaving out the galaxy within ``galaxy_radius_px`` of the first of
    ``protect_xy``."""
    out = data.copy()
    records: list[StarRecord] = []
    n_y, n_x = data.shape
    search = settings.search_radius_fwhm * fwhm_px
    half = int(np.ceil(search + 2 * fwhm_px))
    protect = settings.nucleus_protect_fwhm * fwhm_px
    finder = _finder(sky_sigma=sky_sigma, fwhm_px=fwhm_px, settings=settings)

    # a listed star is the nucleus only on it; a candidate found in the image anywhere in the zone
    nucleus_radius = NUCLEUS_MATCH_FWHM * fwhm_px if from_catalogue else protect

    def protected(x: float, y: float) -> bool:
        return any(np.hypot(x - px, y - py) < nucleus_radius for px, py in protect_xy)

    keep = protected_pixels(data.shape, protect_xy=protect_xy, radius_px=protect)

    clipped = _candidate_cores(data, star_xy=star_xy, sky_sigma=sky_sigma, within_px=max(search, 2.0))
    order = _brightest_first(data, star_xy=star_xy, star_mag=star_mag, core_size=clipped.size)
    first_fits = _first_fits(data, clipped, sky_sigma=sky_sigma, fwhm_px=fwhm_px, settings=settings, valid=valid,
                             protect_xy=protect_xy)
    records_by_index: dict[int, StarRecord] = {}
    # found candidates are judged on the image less the replaced stars' fitted light so far
    judged_on = data.copy() if not from_catalogue else None
    for n_done, i in enumerate(order):
        (x, y), mag = star_xy[i], star_mag[i]
        # the saturated stars still to come: their preliminary models are taken out of the image
        # while this star is fitted and removed, the pixels near their cores left out of its fits,
        # and their flat tops kept as they are (see CandidateCores)
        to_come = clipped.others(own=i, later=order[n_done + 1:])
        pending = clipped.pixels(to_come)
        fit_valid = _away_from(pending, valid=valid, margin_px=PENDING_CORE_MARGIN_FWHM * fwhm_px)
        neighbours = [first_fits[k] for k in to_come if k in first_fits]
        with _left_out(out, neighbours, own=clipped.core_of(i), pending=pending):
            if not (0 <= x < n_x and 0 <= y < n_y):
                records_by_index[i] = StarRecord(x, y, mag, STATUS_OUTSIDE)
                continue
            if protected(x, y):
                records_by_index[i] = StarRecord(x, y, mag, STATUS_NUCLEUS)
                continue
            if from_catalogue and valid is not None and not valid[min(int(round(y)), n_y - 1), min(int(round(x)), n_x - 1)]:
                # centred where the image has no data (off its edge): only its wings can be fitted
                records_by_index[i] = _remove_by_wings(out, x_px=x, y_px=y, mag=mag, sky_sigma=sky_sigma,
                                                       fwhm_px=fwhm_px, settings=settings, valid=fit_valid, keep=keep,
                                                       galaxy_xy=protect_xy[0] if protect_xy else None,
                                                       galaxy_radius_px=galaxy_radius_px, rng=rng, fill_noise=fill_noise)
                continue
            xs, ys = max(int(x) - half, 0), max(int(y) - half, 0)
            stamp = out[ys:min(int(y) + half + 1, n_y), xs:min(int(x) + half + 1, n_x)]
            if from_catalogue:
                located = _locate(stamp, x_px=x - xs, y_px=y - ys, search_px=search, sky_sigma=sky_sigma,
                                  finder=finder)
            else:   # found in this image already: only whether it is a saturated core
                cores = saturated_cores(stamp, sky_sigma=sky_sigma)
                near = len(cores) and np.hypot(cores[:, 0] - (x - xs), cores[:, 1] - (y - ys)).min() <= 2.0
                located = (x - xs, y - ys, bool(near))
            if located is None and from_catalogue:
                # a faint listed star the finder misses: fitted at its listed position instead
                fit = fit_point_source(out, x_px=x, y_px=y, fwhm_px=fwhm_px, sky_sigma=sky_sigma, psf=settings.psf,
                                       valid=fit_valid)
                if fit.flux >= LISTED_MIN_SNR * sky_sigma * _noise_area_sqrt(fwhm_px, settings.psf):
                    located = (x - xs, y - ys, False)
            if located is None:
                records_by_index[i] = StarRecord(x, y, mag, STATUS_NOT_FOUND)
                continue
            sx, sy, saturated = located[0] + xs, located[1] + ys, located[2]
            if protected(sx, sy):
                records_by_index[i] = StarRecord(sx, sy, mag, STATUS_NUCLEUS)
                continue
            level = float(out[int(round(sy)), int(round(sx))]) if saturated else None
            if saturated:
                sx, sy = refine_saturated_centre(out, x_px=sx, y_px=sy, fwhm_px=fwhm_px, psf=settings.psf,
                                                 saturated_level=level, valid=fit_valid)
            if not from_catalogue:
                # judged on the image less the brighter stars' fitted light, not on their replaced
                # discs: a knot that a bright star's disc kept (its light over the star's) stands
                # alone on the disc's fill and would fit the PSF
                judged = fit_point_source(judged_on, x_px=sx, y_px=sy, fwhm_px=fwhm_px, sky_sigma=sky_sigma,
                                          psf=settings.psf, saturated_level=level, valid=fit_valid)
                if not _is_star(judged, fwhm_px=fwhm_px, sky_sigma=sky_sigma, settings=settings, saturated=saturated):
                    records_by_index[i] = StarRecord(sx, sy, mag, STATUS_GALAXY, 0.0, judged.flux)
                    continue
            fit, radius, halo, wings = _fit_star(out, x_px=sx, y_px=sy, level=level, fwhm_px=fwhm_px,
                                                 sky_sigma=sky_sigma, settings=settings,
                                                 galaxy_xy=protect_xy[-1] if protect_xy else None, valid=fit_valid)
            # a star within the nucleus zone lies on the bulge whether or not its halo fit was taken
            # against the counterparts: its surroundings are the galaxy's symmetric light, not its wings
            bulge_xy = fit.mirror_xy
            if bulge_xy is None and protect_xy and np.hypot(sx - protect_xy[-1][0], sy - protect_xy[-1][1]) < protect:
                bulge_xy = tuple(protect_xy[-1])
            radius = residual_radius(out, x_px=sx, y_px=sy, radius_px=radius, wings=wings,
                                     level=settings.halo_threshold_sigma * sky_sigma,
                                     max_radius_px=min(2.0 * radius, settings.max_mask_radius_fwhm * fwhm_px),
                                     mirror_xy=bulge_xy, valid=fit_valid)
            halo = max(halo, radius)
            # the replaced pixels come from their counterparts about the centre only where the disc
            # reaches the nucleus zone (the bulge's curvature); further out a plane follows the
            # galaxy, where a counterpart may be another star or a knot
            on_bulge = bulge_xy is not None and np.hypot(sx - bulge_xy[0], sy - bulge_xy[1]) < radius + protect
            mirror_xy = bulge_xy if on_bulge else None
            replaced = replace_disc(out, x_px=sx, y_px=sy, radius_px=radius,
                         width_px=annulus_width_px(radius_px=radius, fwhm_px=fwhm_px),
                         noise_sigma=sky_sigma if fill_noise else 0.0, rng=rng, valid=fit_valid,
                         wings=wings, halo_radius_px=halo, sky_sigma=sky_sigma,
                         core_radius_px=settings.mask_radius_fwhm * fwhm_px,
                         mirror_xy=mirror_xy,
                         keep=keep & (out < level) if saturated else keep)   # clipped pixels hold nothing to keep
            records_by_index[i] = StarRecord(sx, sy, mag, STATUS_REPLACED, radius, fit.flux, saturated, halo,
                                             mirror_xy, wings, replaced)
            if judged_on is not None:
                add_star_light(judged_on, records_by_index[i], scale=-1.0)
                judged_on[pending] = data[pending]
    records = [records_by_index[i] for i in range(len(star_xy))]
    return out, records


def _remove_by_wings(out: np.ndarray, *, x_px: float, y_px: float, mag: float, sky_sigma: float, fwhm_px: float,
                     settings: StarSettings, valid: np.ndarray, keep: np.ndarray,
                     galaxy_xy: tuple[float, float] | None, galaxy_radius_px: float,
                     rng: np.random.Generator, fill_noise: bool) -> StarRecord:
    """Fit a listed star centred where ``out`` has no data on its wings (``fit_wings``, out to
    ``max_mask_radius_fwhm`` FWHM, the galaxy left out) and remove it from ``out`` in place as any
    other star: its disc replaced where it reaches valid pixels, its model subtracted beyond."""
    exclude = None
    if galaxy_xy is not None and galaxy_radius_px > 0:
        exclude = protected_pixels(out.shape, protect_xy=[galaxy_xy], radius_px=galaxy_radius_px)
    reach = settings.max_mask_radius_fwhm * fwhm_px
    fit = fit_wings(out, x_px=x_px, y_px=y_px, fwhm_px=fwhm_px, sky_sigma=sky_sigma, psf=settings.psf, valid=valid,
                    reach_px=reach, exclude=exclude)
    if not fit.flux > 0:
        return StarRecord(x_px, y_px, mag, STATUS_NOT_FOUND)
    # its clipped core reaching in: replaced out to 2 FWHM beyond its farthest clipped pixel
    _, flat = flat_top_labels(out, sky_sigma=sky_sigma)
    yy, xx = np.nonzero(flat)
    r_flat = np.hypot(xx - x_px, yy - y_px)
    near = (r_flat <= reach) & valid[yy, xx]   # not another saturated star's core (left out of ``valid``)
    saturated = bool(near.any())
    level = float(out[yy[near], xx[near]].min()) if saturated else None
    radius, halo = star_radii(flux=fit.flux, sky_sigma=sky_sigma, fwhm_px=fwhm_px, settings=settings,
                              saturated_px=float(r_flat[near].max()) if saturated else 0.0)
    wings = _wings(fit, fwhm_px=fwhm_px, psf=settings.psf)
    replaced = replace_disc(out, x_px=x_px, y_px=y_px, radius_px=radius,
                            width_px=annulus_width_px(radius_px=radius, fwhm_px=fwhm_px),
                            noise_sigma=sky_sigma if fill_noise else 0.0, rng=rng, valid=valid, wings=wings,
                            halo_radius_px=halo, sky_sigma=sky_sigma,
                            core_radius_px=settings.mask_radius_fwhm * fwhm_px,
                            keep=((keep & (out < level)) if saturated else keep) | ~valid)
    return StarRecord(x_px, y_px, mag, STATUS_REPLACED, radius, fit.flux, saturated, halo, None, wings, replaced)


def star_light(shape: tuple[int, int], records: list[StarRecord]) -> np.ndarray:
    """(N_y, N_x) the replaced stars' fitted light (image units per pixel) as it was in the image,
    out to each star's halo radius: where it outshines what is left, a pixel is the star's."""
    light = np.zeros(shape)
    for rec in records:
        add_star_light(light, rec)
    return light


def add_star_light(image: np.ndarray, rec: StarRecord, *, scale: float = 1.0) -> None:
    """Add ``scale`` times a replaced star's fitted light, out to its halo radius, to ``image``
    (N_y, N_x) in place; nothing for a star that was not replaced."""
    if rec.status != STATUS_REPLACED or rec.model is None:
        return
    reach = max(rec.halo_radius_px, rec.radius_px)
    ys, ye = max(int(np.floor(rec.y - reach)), 0), min(int(np.ceil(rec.y + reach)) + 1, image.shape[0])
    xs, xe = max(int(np.floor(rec.x - reach)), 0), min(int(np.ceil(rec.x + reach)) + 1, image.shape[1])
    if ys >= ye or xs >= xe:
        return
    yy, xx = np.ogrid[ys:ye, xs:xe]
    r = np.hypot(xx - rec.x, yy - rec.y)
    image[ys:ye, xs:xe] += scale * np.where(r <= reach, rec.model(r), 0.0)


def replaced_pixels(shape: tuple[int, int], records: list[StarRecord]) -> np.ndarray:
    """(N_y, N_x) True where a removed star's pixels were replaced."""
    out = np.zeros(shape, bool)
    for rec in records:
        if rec.status == STATUS_REPLACED and rec.replaced is not None:
            rows, cols, mask = rec.replaced
            out[rows, cols] |= mask
    return out


def protected_pixels(shape: tuple[int, int], *, protect_xy: list[tuple[float, float]], radius_px: float) -> np.ndarray:
    """Pixels within ``radius_px`` of any of ``protect_xy``: the nucleus, never replaced."""
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    keep = np.zeros(shape, bool)
    for px, py in protect_xy:
        keep |= (xx - px) ** 2 + (yy - py) ** 2 < radius_px**2
    return keep


def star_radii(*, flux: float, sky_sigma: float, fwhm_px: float, settings: StarSettings,
               saturated_px: float = 0.0, halo_flux: float | None = None) -> tuple[float, float]:
    """(replaced, halo) radii in px of a star of PSF flux ``flux``: its pixels are replaced where it
    is brighter than ``replace_threshold_sigma`` sky sigma (at least ``mask_radius_fwhm`` FWHM,
    and 2 FWHM beyond a saturated core); its model is subtracted out to where it is fainter than
    ``halo_threshold_sigma`` sky sigma. The replaced radius is capped at ``max_mask_radius_fwhm``
    FWHM, the halo's at HALO_REACH_FACTOR times that (a saturated star's halo left beyond the
    cap would lie over the sky and the galaxy)."""
    max_radius = settings.max_mask_radius_fwhm * fwhm_px
    halo = radius_at_level(flux=flux, level=settings.halo_threshold_sigma * sky_sigma, fwhm_px=fwhm_px,
                           model=settings.psf, max_radius_px=HALO_REACH_FACTOR * max_radius, halo_flux=halo_flux)
    core = radius_at_level(flux=flux, level=settings.replace_threshold_sigma * sky_sigma, fwhm_px=fwhm_px,
                           model=settings.psf, max_radius_px=max_radius, halo_flux=halo_flux)
    radius = min(max(settings.mask_radius_fwhm * fwhm_px, core, saturated_px + 2.0 * fwhm_px), max_radius)
    return radius, max(halo, radius)


def residual_radius(data: np.ndarray, *, x_px: float, y_px: float, radius_px: float,
                    wings: Callable[[np.ndarray], np.ndarray] | None, level: float, max_radius_px: float,
                    mirror_xy: tuple[float, float] | None = None, valid: np.ndarray | None = None) -> float:
    """Grow the replaced radius (px) through 1-px rings while what the star model leaves there
    (ring median of data - model, over the median of a ring at ``max_radius_px``) is above
    ``level`` and at most MAX_WING_EXCESS times the model there: a real star's wings that are
    brighter than the model are replaced, not left, but the light of a galaxy or a neighbour
    beside the star, far above anything its wings could hold, stops the growth.
    ``mirror_xy``: the galaxy's centre when the star sits on its bulge: the point-symmetric
    counterparts are taken out first (a bulge next to the star is not the star's wings). Only
    ``valid`` pixels count."""
    if max_radius_px <= radius_px + 1.0 or wings is None:
        return radius_px
    n_y, n_x = data.shape
    reach = max_radius_px + 2.0
    xs, xe = max(int(np.floor(x_px - reach)), 0), min(int(np.ceil(x_px + reach)) + 1, n_x)
    ys, ye = max(int(np.floor(y_px - reach)), 0), min(int(np.ceil(y_px + reach)) + 1, n_y)
    yy, xx = np.mgrid[ys:ye, xs:xe]
    r = np.hypot(xx - x_px, yy - y_px)
    values = data[ys:ye, xs:xe] - wings(r)
    if valid is not None:   # pixels without data (off the image) hold 0, not the star's or the galaxy's light
        values = np.where(valid[ys:ye, xs:xe], values, np.nan)
    if mirror_xy is not None:
        values = values - mirror_light(data, x_px=xx, y_px=yy, centre_xy=mirror_xy, wings=wings,
                                       star_xy=(x_px, y_px), exclude_radius_px=radius_px)
    far_ring = (r > max_radius_px) & (r <= reach) & np.isfinite(values)
    if far_ring.sum() < 16:
        return radius_px
    far = np.nanmedian(values[far_ring])
    edge = radius_px
    while edge + 1.0 <= max_radius_px:
        ring = (r > edge) & (r <= edge + 1.0)
        if np.isfinite(values[ring]).sum() < 8:
            break
        excess = np.nanmedian(values[ring]) - far
        if not level < excess <= MAX_WING_EXCESS * float(wings(np.asarray(edge + 0.5))):
            break
        edge += 1.0
    return edge


def _noise_area_sqrt(fwhm_px: float, psf: PsfModel) -> float:
    """sqrt of the PSF's noise-equivalent area (px): PSF-fit flux noise / sky sigma per pixel."""
    half = int(np.ceil(4 * fwhm_px))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    p = psf_profile(np.hypot(xx, yy), fwhm_px=fwhm_px, model=psf)
    return float(1.0 / np.sqrt(np.sum(p**2)))


def _wings(fit: PointFit, *, fwhm_px: float, psf: PsfModel) -> Callable[[np.ndarray], np.ndarray] | None:
    """The fitted star's profile (image units per pixel at radius r px)."""
    if not fit.flux > 0:
        return None
    halo = psf.halo_fraction * fit.flux if fit.halo_flux is None else fit.halo_flux
    if fit.core_fwhm_px is None:
        return lambda r: star_profile(r, core_flux=fit.flux - halo, halo_flux=halo, fwhm_px=fwhm_px, model=psf)
    core_psf = replace(psf, core_beta=fit.core_beta)
    return lambda r: ((fit.flux - halo) * core_profile(r, fwhm_px=fit.core_fwhm_px, model=core_psf)
                      + halo * halo_profile(r, fwhm_px=fit.core_fwhm_px, model=psf))


def _peak_value(data: np.ndarray, xy) -> float:
    x, y = int(round(xy[0])), int(round(xy[1]))
    if 0 <= x < data.shape[1] and 0 <= y < data.shape[0]:
        return float(data[y, x])
    return -np.inf


def _is_star(fit: PointFit, *, fwhm_px: float, sky_sigma: float, settings: StarSettings,
             saturated: bool = False) -> bool:
    """A candidate found in the image is a star when the PSF fits it clearly better than a broader
    source (point_like_min_delta_chi2; a saturated core is point-like by its flat top) and, on
    the galaxy (local light above galaxy_level_sigma sky sigma), its peak stands
    min_contrast_on_galaxy times above the local light (a saturated galaxy nucleus does not). Off
    the galaxy over the whole fit (the fitted plane below that level everywhere within it), where
    a compact source is a star or another galaxy, the PSF need only fit it better by
    point_like_min_delta_chi2_off_galaxy (a faint star's own chi2 difference is small: ~6 at
    PSF-optimal S/N 10)."""
    if fit.flux <= 0:
        return False
    level = settings.galaxy_level_sigma * sky_sigma
    highest = fit.background if fit.background_max is None else fit.background_max
    if highest <= level:   # off the galaxy over the whole fit, not only at the source
        return saturated or fit.delta_chi2 >= settings.point_like_min_delta_chi2_off_galaxy
    if not saturated and fit.delta_chi2 < settings.point_like_min_delta_chi2:
        return False
    if fit.background > level:
        peak = fit.flux * float(psf_profile(0.0, fwhm_px=fwhm_px, model=settings.psf))
        return peak >= settings.min_contrast_on_galaxy * fit.background
    return True
