"""Preprocess one galaxy: FITS cut-out -> star-subtracted flux -> features -> log-scaled,
resized images. Any problem raises Rejected with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import ndimage

from mlpipe import physics
from mlpipe.io.fits_image import Image, world_to_pixel
from mlpipe.io.validation import RANGES
from mlpipe.preprocess.cosmic_rays import cosmic_ray_pixels, replace_cosmic_rays
from mlpipe.preprocess.cutout import Cutout, cut_field_of_view, sky_level
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.features import log_image_features, luminosity_features
from mlpipe.preprocess.margin import (
    NEAR_EDGE_FWHM,
    edge_gap_px,
    field_with_margin,
    margin_px,
    record_in_field,
    stars_reaching_field,
)
from mlpipe.preprocess.psf import header_fwhm_arcsec, measure_fwhm_px
from mlpipe.preprocess.resize import reference_pixels, resample_flux, resize
from mlpipe.preprocess.saturation import clear_saturation, saturated_plateaus, unlisted_saturated_cores
from mlpipe.preprocess.scaling import (
    galaxy_range,
    log_stretch,
    noise_level,
    rescale_unit,
    solve_scaling,
    within_radius,
)
from mlpipe.preprocess.stars import (
    NUCLEUS_MATCH_FWHM,
    SATURATED_MIN_PIXELS,
    STATUS_GALAXY,
    STATUS_NUCLEUS,
    STATUS_OUTSIDE,
    STATUS_REPLACED,
    StarRecord,
    StarSettings,
    find_point_sources,
    replaced_pixels,
    saturated_cores,
    star_light,
    subtract_stars,
)
from mlpipe.preprocess.units import ImageUnit, image_unit

#: with ``detect``, the point-like peaks are found again with the measured FWHM where it differs
#: from the guess by more than this fraction (DAOStarFinder's sharpness is relative to its kernel)
REFIND_FWHM_CHANGE = 0.1


@dataclass(frozen=True)
class PreprocessSettings:
    """The ``preprocess`` section of the configuration (and the configured image unit), unpacked."""
    fov_d25: float = 1.125
    min_fov_coverage: float = 0.9
    max_bad_pixel_fraction: float = 0.1
    max_masked_d25_fraction: float = 0.2
    min_zero_run_px: int = 5
    psf_fwhm_arcsec: float = 1.4
    psf_fwhm_range_arcsec: tuple[float, float] = (0.3, 5.0)
    min_central_snr: float = 5.0
    clip_sigma: float = 3.0
    noise_level_target: float = 0.2
    stars: StarSettings = field(default_factory=StarSettings)
    image_unit: str = "nanomaggies"
    image_zero_point_mag: float | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, image_unit: str = "nanomaggies",
                    image_zero_point_mag: float | None = None) -> "PreprocessSettings":
        names = set(cls.__dataclass_fields__) - {"stars", "image_unit", "image_zero_point_mag"}
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if k in names}
        return cls(stars=StarSettings.from_config(cfg["stars"]), image_unit=image_unit,
                   image_zero_point_mag=image_zero_point_mag, **values)


@dataclass
class ProcessedGalaxy:
    images: dict[int, np.ndarray]
    features: dict[str, float]
    stars: list[StarRecord]
    unit: ImageUnit | None = None
    stages: dict[str, np.ndarray] = field(default_factory=dict)  # for the preprocessing figure


def brightest_peak(data: np.ndarray, *, fwhm_px: float, within_px: float) -> tuple[float, float] | None:
    """The brightest point of the PSF-smoothed image within ``within_px`` of the field's centre
    when it is a peak there (not the rim of something brighter further out) and not a saturated
    core: the galaxy's nucleus, protected from star removal even when off the catalogue position."""
    n = data.shape[0]
    c = (n - 1) / 2.0
    lo, hi = max(int(c - within_px), 0), min(int(np.ceil(c + within_px)) + 1, n)
    box = ndimage.gaussian_filter(data[lo:hi, lo:hi], fwhm_px / 2.3548)
    yy, xx = np.mgrid[lo:hi, lo:hi]
    r = np.hypot(xx - c, yy - c)
    box = np.where(r <= within_px, box, -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(box)), box.shape)
    if r[iy, ix] > within_px - 1.0:
        return None
    y, x = iy + lo, ix + lo
    near = data[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3]
    if np.sum(near == near.max()) >= SATURATED_MIN_PIXELS:   # a flat-topped, saturated star
        return None
    return float(ix + lo), float(iy + lo)


def image_fwhm_px(data: np.ndarray, *, header, listed_xy: np.ndarray, sky_sigma: float,
                  pixel_scale_arcsec: float, settings: PreprocessSettings,
                  detect: bool) -> tuple[float, np.ndarray]:
    """The PSF FWHM (px) for the star removal, and, with ``detect``, the candidate stars found in
    the image ((N, 2) x, y: ``find_point_sources`` with its faint peaks; else empty).

    The header's PSF_FWHM or SEEING; without one, the FWHM of the image's own stars
    (``measure_fwhm_px``, the nucleus zone left out): the listed stars ``listed_xy`` where two
    or more measure it (they are stars; peaks found may be compact galaxies too), else the
    listed and the found together; else ``settings.psf_fwhm_arcsec``."""
    stars = settings.stars
    header_arcsec = header_fwhm_arcsec(header, default_arcsec=None, valid_range_arcsec=settings.psf_fwhm_range_arcsec)
    guess_px = (header_arcsec or settings.psf_fwhm_arcsec) / pixel_scale_arcsec

    def candidates(kernel_fwhm_px: float) -> np.ndarray:
        # the candidates include the faint peaks; the FWHM is measured on the others
        return (find_point_sources(data, sky_sigma=sky_sigma, fwhm_px=kernel_fwhm_px, settings=stars, faint=True)
                if detect else np.empty((0, 2)))

    if header_arcsec is not None:
        return guess_px, candidates(guess_px)
    found = find_point_sources(data, sky_sigma=sky_sigma, fwhm_px=guess_px, settings=stars)
    n = data.shape[0]
    centre = ((n - 1) / 2.0, (n - 1) / 2.0)
    saturated = saturated_cores(data, sky_sigma=sky_sigma)
    nucleus = [centre] + [p for p in [brightest_peak(data, fwhm_px=guess_px, within_px=2.0 * guess_px)] if p]

    def measure(xy: np.ndarray) -> float | None:
        return measure_fwhm_px(data, xy=xy, guess_fwhm_px=guess_px, sky_sigma=sky_sigma, exclude_xy=nucleus,
                               exclude_radius_px=stars.nucleus_protect_fwhm * guess_px, saturated_xy=saturated,
                               model=stars.psf)

    measured = measure(listed_xy) if len(listed_xy) else None
    if measured is None and len(found):
        if len(listed_xy):   # a listed star found again counts once
            near = np.hypot(*(found[:, None, :] - listed_xy[None, :, :]).transpose(2, 0, 1)).min(axis=1)
            measured = measure(np.vstack([listed_xy, found[near > guess_px]]))
        else:
            measured = measure(found)
    if measured is not None and 0.5 * guess_px <= measured <= 2.0 * guess_px:
        # the finder's kernel at the guessed width misses stars much narrower or broader than it
        return measured, candidates(measured if abs(measured / guess_px - 1.0) > REFIND_FWHM_CHANGE else guess_px)
    return guess_px, candidates(guess_px)


def star_light_share(clean: np.ndarray, star_pixels: np.ndarray, *, radius_px: float) -> float:
    """The fraction of the galaxy's light (the star-subtracted image, negative pixels as 0) within
    ``radius_px`` of the field's centre (D25) that lies in ``star_pixels``: what there is made by
    the star's removal, not seen."""
    total = light_within(clean, radius_px=radius_px)
    return light_within(clean, radius_px=radius_px, where=star_pixels) / total if total > 0 else 0.0


def light_within(clean: np.ndarray, *, radius_px: float, where: np.ndarray | None = None) -> float:
    """The light (image units, negative pixels as 0) of ``clean`` within ``radius_px`` of the
    field's centre, over the pixels ``where`` is True (default: all)."""
    inside = within_radius(clean.shape, radius_px=radius_px)
    if where is not None:
        inside &= where
    return float(np.clip(clean[inside], 0.0, None).sum())


#: what a removed star leaves where its model was subtracted may not sum below minus this share of
#: the galaxy's light within D25 beyond it: where galaxy light and noise leave about 0 or more when the
#: model fits, a deficit that size is the star's model taking more light than the star had
OVERSUBTRACTED_LIGHT_FRACTION = 0.5


#: a listed star taken for the nucleus (within NUCLEUS_MATCH_FWHM of the centre, where the two
#: cannot be told apart) may hold at most this share of the galaxy's light within D25 by its
#: catalogue magnitude: a brighter one would be counted as the galaxy's
NUCLEUS_STAR_MAX_LIGHT_FRACTION = 0.1


def _check_no_bright_star_on_nucleus(clean: np.ndarray, records: list[StarRecord], *, unit: ImageUnit,
                                     r25_px: float, fwhm_px: float, pixel_scale_arcsec: float) -> None:
    """Reject the galaxy where a listed star taken for its nucleus is, by its catalogue magnitude
    (``psfMag_g``, AB), brighter than NUCLEUS_STAR_MAX_LIGHT_FRACTION of the galaxy's light within
    D25 (``r25_px``: the light in ``clean``, image units ``unit``, less the star's): its light
    cannot be told from the nucleus's, and left in it would be counted as the galaxy's. A star
    without a magnitude is the nucleus, as the image alone cannot say otherwise."""
    n = clean.shape[0]
    light = light_within(clean, radius_px=r25_px)
    for rec in records:
        if rec.status != STATUS_NUCLEUS or not RANGES["star_mag"][0] <= rec.mag <= RANGES["star_mag"][1]:
            continue   # no magnitude (NaN) or none a star has
        star = physics.AB_ZERO_POINT_CGS * 10.0 ** (-0.4 * float(rec.mag)) / unit.cgs
        galaxy = light - star
        if star > NUCLEUS_STAR_MAX_LIGHT_FRACTION * galaxy:
            offset = np.hypot(rec.x - (n - 1) / 2.0, rec.y - (n - 1) / 2.0)
            raise Rejected(f"a listed star (psfMag_g = {rec.mag:.2f}) lies on the nucleus, {offset * pixel_scale_arcsec:.1f} "
                           f"arcsec ({offset / fwhm_px:.1f} FWHM) from the centre, where it cannot be told from the "
                           f"galaxy, and holds {star / galaxy if galaxy > 0 else np.inf:.2g} times the galaxy's light "
                           f"within D25 (> {NUCLEUS_STAR_MAX_LIGHT_FRACTION})")


def _check_not_oversubtracted(clean: np.ndarray, stars_light: np.ndarray, *, handled: np.ndarray,
                              r25_px: float, sky_sigma: float) -> None:
    """Reject the galaxy where the removed stars' models took more light than the stars had: the
    sum of what is left where their light exceeded the sky noise (beyond the replaced and missing
    pixels, ``handled``) lies below -OVERSUBTRACTED_LIGHT_FRACTION times the galaxy's light
    within D25 (``r25_px``) beyond it: a star's wings steeper than the PSF model's, fitted beyond
    a saturated core, which would leave a luminosity near 0 or negative."""
    footprint = (stars_light > sky_sigma) & ~handled
    if not footprint.any():
        return
    galaxy = light_within(clean, radius_px=r25_px, where=~footprint)
    left = float(clean[footprint].sum())
    if left < -OVERSUBTRACTED_LIGHT_FRACTION * galaxy:
        raise Rejected(f"a removed star's model does not fit it: where its light was, what is left sums to "
                       f"{left / galaxy if galaxy > 0 else -np.inf:.2g} times the galaxy's light within D25 (its "
                       "wings were over-subtracted)")


def _remove_stars(image: Image, cut: Cutout, data: np.ndarray, *, star_xy: np.ndarray, star_mag: np.ndarray,
                  fwhm_px: float, r25_px: float, from_catalogue: bool, settings: PreprocessSettings,
                  rng: np.random.Generator, fill_noise: bool) -> tuple[np.ndarray, list[StarRecord]]:
    """The field ``data`` freed of its stars (``subtract_stars``), and a record per candidate: the
    listed stars (``star_xy`` (N, 2) px in the field's frame; those outside it too), then, from a
    catalogue, the saturated cores no listed star explains. Where a listed star centred outside
    the field reaches into it (``stars_reaching_field``), or one on it lies within NEAR_EDGE_FWHM of
    its edge, the stars are removed on the field with a margin of the image around it
    (``field_with_margin``), and the result is cut back."""
    star_settings = settings.stars
    n = data.shape[0]
    gap = edge_gap_px(star_xy, side_px=n) if len(star_xy) else np.zeros(0)
    on_field = gap <= 0
    width = margin_px(fwhm_px=fwhm_px, settings=star_settings)
    work, valid, margin = data, ~cut.missing, 0
    reaching = np.zeros(len(star_xy), bool)
    near_edge = on_field & (gap > -NEAR_EDGE_FWHM * fwhm_px)
    if from_catalogue and (near_edge.any() or ((gap > 0) & (gap <= width)).any()):
        wide, wide_valid = field_with_margin(image.data, field=data, field_missing=cut.missing, x0_px=cut.x0,
                                             y0_px=cut.y0, margin_px=width, sky=cut.sky,
                                             min_zero_run_px=settings.min_zero_run_px)
        reaching = stars_reaching_field(wide, wide_valid, star_xy=star_xy + width, gap_px=gap,
                                        sky_sigma=cut.sky_sigma, fwhm_px=fwhm_px, settings=star_settings)
        if reaching.any() or near_edge.any():
            work, valid, margin = wide, wide_valid, width
    used = on_field | reaching
    xy, mag = star_xy[used] + margin, star_mag[used]
    if from_catalogue:
        unlisted = unlisted_saturated_cores(work, listed_xy=xy, sky_sigma=cut.sky_sigma, fwhm_px=fwhm_px, valid=valid)
        xy = np.vstack([xy, unlisted])
        mag = np.concatenate([mag, np.full(len(unlisted), np.nan)])
    centre = ((n - 1) / 2.0 + margin, (n - 1) / 2.0 + margin)
    protect = [centre]
    peak = brightest_peak(data, fwhm_px=fwhm_px, within_px=2.0 * fwhm_px) if len(xy) else None
    if peak is not None:
        peak = (peak[0] + margin, peak[1] + margin)
        # the brightest central peak is a listed star's, not the nucleus, when the star lies on it
        # and away from the galaxy's centre
        near = NUCLEUS_MATCH_FWHM * fwhm_px
        on_star = from_catalogue and bool(np.any(
            (np.hypot(xy[:, 0] - peak[0], xy[:, 1] - peak[1]) < near)
            & (np.hypot(xy[:, 0] - centre[0], xy[:, 1] - centre[1]) >= near)))
        if not on_star:
            protect.append(peak)
    clean, removed = subtract_stars(work, star_xy=xy, star_mag=mag, sky_sigma=cut.sky_sigma, fwhm_px=fwhm_px,
                                    protect_xy=protect, settings=star_settings, rng=rng,
                                    from_catalogue=from_catalogue, valid=valid, fill_noise=fill_noise,
                                    galaxy_radius_px=r25_px)
    if margin:
        clean = clean[margin:margin + n, margin:margin + n]
        removed = [record_in_field(rec, margin_px=margin, side_px=n) for rec in removed]
    records = [StarRecord(x, y, m, STATUS_OUTSIDE) for (x, y), m in zip(star_xy, star_mag)]
    for k, i in enumerate(np.flatnonzero(used)):
        records[i] = removed[k]
    return clean, records + removed[int(used.sum()):]


def preprocess_galaxy(image: Image, *, ra_deg: float, dec_deg: float, d25_arcmin: float,
                      stars: pd.DataFrame, distance_cm: float, sizes: list[int],
                      settings: PreprocessSettings, rng: np.random.Generator,
                      keep_stages: bool = False, fill_noise: bool = True) -> ProcessedGalaxy:
    """Run every preprocessing step on one galaxy's image.

    ``stars``: the catalogue's point sources near the galaxy (ra, dec in degrees, psfMag_g);
    ``distance_cm``: luminosity distance. Returns the log-scaled images (size, size) per size in
    ``sizes``, the features (luminosities in erg/s/Hz per SDSS pixel of 0.396": a field of other
    pixels is resampled to them after the star removal; sky, masks, scaling) and what happened to
    each star."""
    cut = cut_field_of_view(image, ra_deg=ra_deg, dec_deg=dec_deg, d25_arcmin=d25_arcmin,
                            fov_d25=settings.fov_d25, min_coverage=settings.min_fov_coverage,
                            max_bad_fraction=settings.max_bad_pixel_fraction,
                            min_zero_run_px=settings.min_zero_run_px,
                            max_masked_d25_fraction=settings.max_masked_d25_fraction)
    unit = image_unit(image.header, configured_unit=settings.image_unit,
                      configured_zero_point_mag=settings.image_zero_point_mag, primary_header=image.primary_header)
    n = cut.data.shape[0]
    # never within 2 FWHM (the configured one) of the centre: an undersampled nucleus can be as sharp
    nucleus = within_radius(cut.data.shape, radius_px=max(3.0, 2.0 * settings.psf_fwhm_arcsec / cut.pixel_scale_arcsec))
    cosmic = cosmic_ray_pixels(cut.data, sky_sigma=cut.sky_sigma, valid=~cut.missing & ~nucleus)
    data = replace_cosmic_rays(cut.data, cosmic)
    centre = ((n - 1) / 2.0, (n - 1) / 2.0)
    r25_px = n / (2.0 * settings.fov_d25)
    star_settings = settings.stars
    from_catalogue = len(stars) > 0 or not star_settings.detect_without_catalogue
    if len(stars):
        sx, sy = world_to_pixel(image.wcs, ra_deg=stars["ra"].to_numpy(), dec_deg=stars["dec"].to_numpy())
        star_xy = np.column_stack([sx - cut.x0, sy - cut.y0])
    else:
        star_xy = np.empty((0, 2))
    fwhm_px, found = image_fwhm_px(data, header=image.header, listed_xy=star_xy, sky_sigma=cut.sky_sigma,
                                   pixel_scale_arcsec=cut.pixel_scale_arcsec, settings=settings,
                                   detect=not from_catalogue)
    if not from_catalogue:
        star_xy = found
    fwhm_arcsec = fwhm_px * cut.pixel_scale_arcsec
    star_mag = stars["psfMag_g"].to_numpy() if len(stars) else np.full(len(star_xy), np.nan)
    clean, records = _remove_stars(image, cut, data, star_xy=star_xy, star_mag=star_mag, fwhm_px=fwhm_px,
                                   r25_px=r25_px, from_catalogue=from_catalogue, settings=settings, rng=rng,
                                   fill_noise=fill_noise)
    sky = cut.sky
    if any(r.status == STATUS_REPLACED for r in records):
        # a bright star's halo in the corners raised the sky measured there: measured again on
        # the star-subtracted field
        residual_sky, _ = sky_level(clean, ~cut.missing)
        clean = np.where(cut.missing, 0.0, clean - residual_sky)
        sky += residual_sky
    clean, saturated_left = clear_saturation(
        clean, saturated_plateaus(data, sky_sigma=cut.sky_sigma),
        handled=replaced_pixels(clean.shape, records), fwhm_px=fwhm_px, r25_px=r25_px)

    # where a removed star's model error could outshine what is left, the pixels are the star's,
    # not the galaxy's: left out of the scaling; when they (and the replaced pixels) hold most of
    # the galaxy's light, the image shows the star's removal rather than the galaxy
    stars_light = star_light(clean.shape, records)
    _check_no_bright_star_on_nucleus(clean, records, unit=unit, r25_px=r25_px, fwhm_px=fwhm_px,
                                     pixel_scale_arcsec=cut.pixel_scale_arcsec)
    _check_not_oversubtracted(clean, stars_light, handled=replaced_pixels(clean.shape, records) | cut.missing,
                              r25_px=r25_px, sky_sigma=cut.sky_sigma)
    star_pixels = star_settings.star_model_error * stars_light > np.maximum(np.abs(clean), cut.sky_sigma)
    star_share = star_light_share(clean, star_pixels | replaced_pixels(clean.shape, records), radius_px=r25_px)
    if star_share > star_settings.max_star_light_fraction:
        raise Rejected(f"the galaxy is under a star: {100 * star_share:.0f} % of its light within D25 lies in a "
                       f"removed star's pixels (replaced, or where its model error outshines what is left; > "
                       f"preprocess.stars.max_star_light_fraction = {star_settings.max_star_light_fraction})")
    core = (slice(int(centre[1]) - 2, int(centre[1]) + 3), slice(int(centre[0]) - 2, int(centre[0]) + 3))
    if cut.missing[core].sum() > cut.missing[core].size // 2:
        raise Rejected(f"the nucleus has no data: {int(cut.missing[core].sum())} of the central 5x5 pixels are "
                       "missing (NaN, infinite, zero runs or off the image)")
    central = clean[core]
    snr = central.sum() / (cut.sky_sigma * np.sqrt(central.size))
    if not snr >= settings.min_central_snr:
        raise Rejected(f"no signal: the central 5x5 pixels hold {snr:.2f} sigma of flux "
                       f"(< {settings.min_central_snr})")

    # the image features are defined on SDSS pixels (the paper's): a field of other pixels is
    # resampled to them, its flux kept, so that per-pixel luminosities, the scaling and the image's
    # size mean the same whatever the survey
    n_ref = reference_pixels(side_px=n, pixel_scale_arcsec=cut.pixel_scale_arcsec,
                             reference_arcsec=physics.SDSS_PIXEL_ARCSEC)
    sky_sigma = cut.sky_sigma
    if n_ref != n:
        per_pixel = (n / n_ref) ** 2    # native pixels per reference pixel
        clean, stars_light = resample_flux(clean, n_ref), resample_flux(stars_light, n_ref)
        star_pixels = resize(star_pixels.astype(float), n_ref) > 0
        # the sum of per_pixel pixels' noise where they are averaged; interpolated, one pixel's, scaled
        sky_sigma *= np.sqrt(per_pixel) if per_pixel >= 1 else per_pixel
        r25_px *= n_ref / n
        n = n_ref
    features = luminosity_features(clean, distance_cm, unit.cgs)
    if not features["lum_sum"] > 0:   # light cannot sum to nothing: what the star removal left is not the galaxy
        raise Rejected(f"the field's light sums to {features['lum_sum']:.3g} erg/s/Hz (<= 0) after the star removal: "
                       "a removed star took more light than it had")
    # the floor (the sky's noise floor) where no star's model error exceeds the sky noise
    lo, hi = galaxy_range(clean, radius_px=r25_px, exclude=star_pixels,
                          exclude_min=star_settings.star_model_error * stars_light > sky_sigma)
    unit_image = rescale_unit(clean, min_value=lo, max_value=hi)
    # the noise level of the galaxy and the sky, not of what the star's model leaves
    level = noise_level(unit_image[~star_pixels] if (~star_pixels).sum() >= 100 else unit_image,
                        settings.clip_sigma)
    a = solve_scaling(level, settings.noise_level_target)
    scaled = log_stretch(unit_image, a)
    features |= log_image_features(scaled)
    kept = sum(r.status == STATUS_GALAXY for r in records)
    features |= {"image_size_px": float(n), "scale_a": a, "noise_level": level,
                 "sky": sky, "sky_sigma": cut.sky_sigma, "bad_pixel_fraction": cut.bad_fraction,
                 "stars_replaced": float(sum(r.status == STATUS_REPLACED for r in records)),
                 "stars_kept_as_galaxy": float(kept), "masked_d25_fraction": cut.masked_d25_fraction,
                 "scale_min": lo, "scale_max": hi, "psf_fwhm_arcsec": fwhm_arcsec,
                 "cosmic_ray_pixels": float(cosmic.sum()), "saturated_pixels_cleared": float(saturated_left),
                 "flux_unit_cgs": unit.cgs}
    stages = {"raw": cut.data, "clean": clean, "scaled": scaled} if keep_stages else {}
    return ProcessedGalaxy({s: resize(scaled, s) for s in sizes}, features, records, unit, stages)
