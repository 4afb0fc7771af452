"""Foreground-star subtraction guided by a point-source catalogue.

Each catalogue star inside the field is looked for near its listed position; a peak is accepted
only if it is point-like (DAOStarFinder sharpness and roundness) and is not the galaxy's own
nucleus. Its pixels are replaced by the local background: a bicubic surface fitted to the
surrounding annulus, plus noise of the annulus' residual scatter so the texture stays uniform.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from photutils.detection import DAOStarFinder
from photutils.utils.exceptions import NoDetectionsWarning

STATUS_REPLACED = "replaced"


@dataclass
class StarRecord:
    x: float
    y: float
    mag: float
    status: str   # replaced, not found, not point-like, galaxy nucleus, outside
    radius_px: float = 0.0


def _bicubic_design(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Terms of a bicubic polynomial surface (degree <= 3 in x and y together)."""
    return np.stack([dx**i * dy**j for i in range(4) for j in range(4 - i)], axis=-1)


def replace_disc(data: np.ndarray, x: float, y: float, radius: float, width: float,
                 rng: np.random.Generator) -> None:
    """Replace the pixels within ``radius`` of (x, y) by a bicubic fit to the annulus around them."""
    n_y, n_x = data.shape
    r_out = radius + width
    xs, xe = max(int(np.floor(x - r_out)), 0), min(int(np.ceil(x + r_out)) + 1, n_x)
    ys, ye = max(int(np.floor(y - r_out)), 0), min(int(np.ceil(y + r_out)) + 1, n_y)
    yy, xx = np.mgrid[ys:ye, xs:xe]
    r = np.hypot(xx - x, yy - y)
    inner = r <= radius
    ring = (r > radius) & (r <= r_out)
    if ring.sum() < 16:
        return
    norm = r_out
    design = _bicubic_design((xx[ring] - x) / norm, (yy[ring] - y) / norm)
    values = data[ys:ye, xs:xe][ring]
    coeffs, *_ = np.linalg.lstsq(design, values, rcond=None)
    scatter = float(np.std(values - design @ coeffs))
    fill = _bicubic_design((xx[inner] - x) / norm, (yy[inner] - y) / norm) @ coeffs
    block = data[ys:ye, xs:xe]
    block[inner] = fill + rng.normal(0.0, scatter, inner.sum())


def _finder(sky_sigma: float, fwhm_px: float, cfg: Mapping[str, Any]) -> DAOStarFinder:
    return DAOStarFinder(threshold=cfg["detection_sigma"] * sky_sigma, fwhm=fwhm_px,
                         sharpness_range=tuple(cfg["sharpness_range"]),
                         roundness_range=tuple(cfg["roundness_range"]), exclude_border=False)


def find_point_sources(data: np.ndarray, sky_sigma: float, fwhm_px: float,
                       cfg: Mapping[str, Any]) -> np.ndarray:
    """Point-like peaks over the whole field: the prior when no star catalogue covers it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found = _finder(sky_sigma, fwhm_px, cfg).find_stars(data)
    if found is None:
        return np.empty((0, 2))
    return np.column_stack([np.asarray(found["x_centroid"]), np.asarray(found["y_centroid"])])


def subtract_stars(data: np.ndarray, star_xy: np.ndarray, star_mag: np.ndarray, sky_sigma: float,
                   fwhm_px: float, galaxy_xy: tuple[float, float], cfg: Mapping[str, Any],
                   rng: np.random.Generator) -> tuple[np.ndarray, list[StarRecord]]:
    """Return a star-subtracted copy of ``data`` and what happened to each catalogue star."""
    out = data.copy()
    records: list[StarRecord] = []
    n_y, n_x = data.shape
    search = cfg["search_radius_fwhm"] * fwhm_px
    half = int(np.ceil(search + 2 * fwhm_px))
    finder = _finder(sky_sigma, fwhm_px, cfg)
    for (x, y), mag in zip(star_xy, star_mag):
        if not (0 <= x < n_x and 0 <= y < n_y):
            records.append(StarRecord(x, y, mag, "outside"))
            continue
        if np.hypot(x - galaxy_xy[0], y - galaxy_xy[1]) < cfg["nucleus_protect_fwhm"] * fwhm_px:
            records.append(StarRecord(x, y, mag, "galaxy nucleus"))
            continue
        xs, ys = max(int(x) - half, 0), max(int(y) - half, 0)
        stamp = out[ys:min(int(y) + half + 1, n_y), xs:min(int(x) + half + 1, n_x)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoDetectionsWarning)
            found = finder.find_stars(stamp) if min(stamp.shape) >= 5 else None
        if found is None or len(found) == 0:
            records.append(StarRecord(x, y, mag, "not found"))
            continue
        dist = np.hypot(np.asarray(found["x_centroid"]) + xs - x, np.asarray(found["y_centroid"]) + ys - y)
        best = int(np.argmin(dist))
        if dist[best] > search:
            records.append(StarRecord(x, y, mag, "not found"))
            continue
        sx, sy = float(found["x_centroid"][best]) + xs, float(found["y_centroid"][best]) + ys
        if np.hypot(sx - galaxy_xy[0], sy - galaxy_xy[1]) < cfg["nucleus_protect_fwhm"] * fwhm_px:
            records.append(StarRecord(sx, sy, mag, "galaxy nucleus"))
            continue
        peak_snr = max(float(found["peak"][best]) / sky_sigma, 1.0)
        radius = fwhm_px * min(cfg["mask_radius_fwhm"] + 0.5 * np.log10(peak_snr), cfg["max_mask_radius_fwhm"])
        replace_disc(out, sx, sy, radius, max(2.0, fwhm_px), rng)
        records.append(StarRecord(sx, sy, mag, STATUS_REPLACED, radius))
    return out, records
