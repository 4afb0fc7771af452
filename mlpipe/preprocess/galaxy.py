"""Preprocess one galaxy: FITS cut-out -> star-subtracted flux -> features -> log-scaled,
resized images. Any problem raises Rejected with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe.io.fits_image import Image
from mlpipe.preprocess.cutout import cut_field_of_view
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.features import NANOMAGGY_CGS, log_image_features, luminosity_features
from mlpipe.preprocess.resize import resize
from mlpipe.preprocess.scaling import log_stretch, noise_level, rescale_unit, solve_scaling
from mlpipe.preprocess.stars import StarRecord, find_point_sources, subtract_stars


@dataclass
class ProcessedGalaxy:
    images: dict[int, np.ndarray]
    features: dict[str, float]
    stars: list[StarRecord]
    stages: dict[str, np.ndarray] = field(default_factory=dict)  # for the preprocessing figure


def psf_fwhm_arcsec(image: Image, default: float) -> float:
    """The PSF FWHM from the header (PSF_FWHM or SEEING), else the configured default."""
    for key in ("PSF_FWHM", "SEEING"):
        value = image.header.get(key)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return default


def preprocess_galaxy(image: Image, gal: pd.Series, stars: pd.DataFrame, distance_cm: float,
                      sizes: list[int], cfg: Mapping[str, Any], rng: np.random.Generator,
                      keep_stages: bool = False) -> ProcessedGalaxy:
    """Run every preprocessing step on one galaxy's image."""
    cut = cut_field_of_view(image, gal["ra"], gal["dec"], gal["d25_arcmin"], cfg["fov_d25"],
                            cfg["min_fov_coverage"], cfg["max_bad_pixel_fraction"])
    fwhm_px = psf_fwhm_arcsec(image, cfg["psf_fwhm_arcsec"]) / cut.pixel_scale_arcsec
    n = cut.data.shape[0]
    centre = ((n - 1) / 2.0, (n - 1) / 2.0)
    if len(stars):
        sx, sy = image.wcs.celestial.all_world2pix(stars["ra"].to_numpy(), stars["dec"].to_numpy(), 0)
        star_xy = np.column_stack([sx - cut.x0, sy - cut.y0])
    elif cfg["stars"]["detect_without_catalogue"]:
        star_xy = find_point_sources(cut.data, cut.sky_sigma, fwhm_px, cfg["stars"])
    else:
        star_xy = np.empty((0, 2))
    star_mag = stars["psfMag_g"].to_numpy() if len(stars) else np.full(len(star_xy), np.nan)
    clean, records = subtract_stars(cut.data, star_xy, star_mag, cut.sky_sigma, fwhm_px, centre,
                                    cfg["stars"], rng)

    central = clean[int(centre[1]) - 2:int(centre[1]) + 3, int(centre[0]) - 2:int(centre[0]) + 3]
    snr = central.sum() / (cut.sky_sigma * np.sqrt(central.size))
    if not snr >= cfg["min_central_snr"]:
        raise Rejected(f"no signal: the central 5x5 pixels hold {snr:.2f} sigma of flux "
                       f"(< {cfg['min_central_snr']})")

    in_nanomaggies = str(image.header.get("BUNIT", "")).lower().startswith("nanomaggy")
    unit_cgs = NANOMAGGY_CGS if in_nanomaggies else 1.0
    features = luminosity_features(clean, distance_cm, unit_cgs)
    unit = rescale_unit(clean)
    level = noise_level(unit, cfg["clip_sigma"])
    a = solve_scaling(level, cfg["noise_level_target"])
    scaled = log_stretch(unit, a)
    features |= log_image_features(scaled)
    features |= {"image_size_px": float(n), "scale_a": a, "noise_level": level,
                 "sky": cut.sky, "sky_sigma": cut.sky_sigma, "bad_pixel_fraction": cut.bad_fraction,
                 "stars_replaced": float(sum(r.status == "replaced" for r in records))}
    stages = {"raw": cut.data, "clean": clean, "scaled": scaled} if keep_stages else {}
    return ProcessedGalaxy({s: resize(scaled, s) for s in sizes}, features, records, stages)
