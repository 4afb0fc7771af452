"""Preprocess every galaxy of one shard into ``results/images/shard-{k}.h5``.

A galaxy that cannot be processed is listed under ``rejects`` with its reason; the shard still
completes, and the store is written atomically.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from mlpipe import physics
from mlpipe.io.fits_image import Image, ImageError, read_image
from mlpipe.io.stars import read_stars, stars_within
from mlpipe.io.store import create_store, write_table
from mlpipe.preprocess.cutout import pixel_scale_arcsec
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.galaxy import PreprocessSettings, ProcessedGalaxy, preprocess_galaxy
from mlpipe.preprocess.stars import STATUS_REPLACED

log = logging.getLogger(__name__)
STORE_VERSION = 1


def image_reader(images_dir: str | Path, image_index: Mapping[int, str] | None) -> Callable[[int], Image]:
    """Read a galaxy's image: ``{objid}.fits``, or its frame from the index (the last few frames
    kept in memory, as neighbouring galaxies often share one)."""
    if image_index is None:
        return lambda objid: read_image(Path(images_dir) / f"{objid}.fits")
    read_frame = lru_cache(maxsize=4)(read_image)

    def read(objid: int) -> Image:
        if objid not in image_index:
            raise ImageError("no entry in the image index")
        return read_frame(Path(images_dir) / image_index[objid])

    return read


def process_shard(shard_csv: str | Path, images_dir: str | Path, stars_csv: str | Path,
                  sizes: list[int], cfg: Mapping[str, Any], cosmo_cfg: Mapping[str, Any],
                  out_path: str | Path, n_figure: int = 0,
                  image_index: Mapping[int, str] | None = None, image_unit: str = "nanomaggies",
                  image_zero_point_mag: float | None = None,
                  star_columns: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, dict[int, ProcessedGalaxy]]:
    """Write the shard's image store; returns the rejects and a few galaxies for the figure.

    ``cfg``: the ``preprocess`` config section; ``image_unit`` / ``image_zero_point_mag``: the unit
    of images without BUNIT (``data.real.image_unit``, ``data.real.image_zero_point_mag``);
    ``star_columns``: the star catalogue's column map ({our name: its name})."""
    settings = PreprocessSettings.from_config(cfg, image_unit=image_unit,
                                              image_zero_point_mag=image_zero_point_mag)
    shard = pd.read_csv(shard_csv)
    stars = read_stars(stars_csv, star_columns)
    cosmo = physics.cosmology(cosmo_cfg["H0"], cosmo_cfg["Om0"])
    distances = physics.luminosity_distance_cm(shard["z"].to_numpy(), cosmo) if len(shard) else []
    ids, images, features, star_rows, rejects = [], {s: [] for s in sizes}, [], [], []
    shown: dict[int, ProcessedGalaxy] = {}
    timing = {"read": 0.0, "process": 0.0}
    kept_as_galaxy = 0
    unit_rows: list[tuple[int, str, str]] = []
    read = image_reader(images_dir, image_index)
    # ids from their own int64 column: a row Series of an all-numeric table is float64, which
    # cannot hold 19-digit SDSS ids
    for objid, (_, gal), distance in zip(shard["objid"].to_numpy(), shard.iterrows(), distances):
        objid = int(objid)
        rng = np.random.default_rng([cfg["seed"], objid % 2**32])
        try:
            t0 = time.perf_counter()
            image = read(objid)
            t1 = time.perf_counter()
            radius = 0.75 * cfg["fov_d25"] * gal["d25_arcmin"] * 60.0
            result = preprocess_galaxy(image, ra_deg=float(gal["ra"]), dec_deg=float(gal["dec"]),
                                       d25_arcmin=float(gal["d25_arcmin"]),
                                       stars=stars_within(stars, gal["ra"], gal["dec"], radius),
                                       distance_cm=float(distance), sizes=sizes, settings=settings, rng=rng,
                                       keep_stages=len(shown) < n_figure)
            timing["read"] += t1 - t0
            timing["process"] += time.perf_counter() - t1
        except (Rejected, ImageError) as err:
            rejects.append((objid, str(err)))
            log.warning("galaxy %d rejected: %s", objid, err)
            continue
        except Exception as err:  # never lose the shard to one galaxy
            rejects.append((objid, f"unexpected error: {type(err).__name__}: {err}"))
            log.exception("galaxy %d failed", objid)
            continue
        ids.append(objid)
        for s in sizes:
            images[s].append(result.images[s])
        features.append(result.features | {"z": gal["z"], "pixel_kpc": gal["pixel_kpc"],
                                           "pixel_scale_arcsec": pixel_scale_arcsec(image)})
        star_rows += [(objid, r.x, r.y, r.mag, r.status, r.radius_px, r.flux, r.saturated,
                      r.halo_radius_px) for r in result.stars]
        kept_as_galaxy += int(result.features["stars_kept_as_galaxy"])
        unit_rows.append((objid, result.unit.name, result.unit.source))
        if result.stages:
            shown[objid] = result
    rejects_df = pd.DataFrame(rejects, columns=["objid", "reason"])
    feature_df = pd.DataFrame(features)
    attrs = {"config": dict(cfg), "cosmology": dict(cosmo_cfg), "sizes": list(sizes),
             "store_version": STORE_VERSION,
             "image_unit": {"configured": image_unit, "zero_point_mag": image_zero_point_mag}}
    with create_store(out_path, attrs) as fh:
        fh.create_dataset("objid", data=np.asarray(ids, dtype=np.int64))
        group = fh.create_group("images")
        for s in sizes:
            data = np.stack(images[s]) if ids else np.empty((0, s, s), np.float32)
            group.create_dataset(str(s), data=data, chunks=(1, s, s) if ids else None)
        write_table(fh, "features", feature_df)
        write_table(fh, "stars", pd.DataFrame(star_rows, columns=["objid", "x", "y", "mag", "status",
                                                                  "radius_px", "flux", "saturated", "halo_radius_px"]))
        write_table(fh, "rejects", rejects_df.astype({"reason": str}))
        write_table(fh, "units", pd.DataFrame(unit_rows, columns=["objid", "image_unit", "source"]))
        examples = fh.create_group("examples")  # the shown galaxies' cut-outs before scaling (Fig. 1)
        for objid, result in shown.items():
            examples.create_dataset(str(objid), data=result.stages["clean"].astype(np.float32))
    n = max(len(ids), 1)
    log.info("shard done: %d processed, %d rejected; read %.1f ms, process %.1f ms per galaxy",
             len(ids), len(rejects), 1e3 * timing["read"] / n, 1e3 * timing["process"] / n)
    replaced = sum(row[4] == STATUS_REPLACED for row in star_rows)
    log.info("stars: %d replaced, %d candidates kept as galaxy structure (not point-like against the "
             "PSF, or not standing above the galaxy's light)", replaced, kept_as_galaxy)
    return rejects_df, shown
