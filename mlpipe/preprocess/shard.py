"""Preprocess every galaxy of one shard into ``results/images/shard-{k}.h5``.

A galaxy that cannot be processed is listed under ``rejects`` with its reason; the shard still
completes, and the store is written atomically.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from mlpipe import physics
from mlpipe.io.fits_image import Image, ImageError, galaxy_image_path, read_image
from mlpipe.io.stars import read_stars, stars_within
from mlpipe.io.store import create_store, write_table
from mlpipe.io.validation import InputError
from mlpipe.preprocess.cutout import pixel_scale_arcsec
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.galaxy import PreprocessSettings, ProcessedGalaxy, preprocess_galaxy
from mlpipe.preprocess.stars import STATUS_REPLACED

log = logging.getLogger(__name__)
STORE_VERSION = 1


def image_reader(images_dir: str | Path, image_index: Mapping[int, str] | None) -> Callable[[int], Image]:
    """Read a galaxy's image: ``{objid}.fits`` (or .fits.gz, .fit, ...: :data:`IMAGE_SUFFIXES`), or
    its frame from the index (the last few frames kept in memory, as neighbouring galaxies often
    share one). A folder that does not exist is an InputError, not a missing image per galaxy."""
    if not Path(images_dir).is_dir():
        raise InputError(f"{images_dir}: no such folder of images")
    if image_index is None:
        def read_own(objid: int) -> Image:
            path = galaxy_image_path(images_dir, objid)
            if not path.exists():
                raise ImageError(f"image file missing: {path.name} (nor {objid}.fits.gz, .fits.fz, .fit, ...)")
            return read_image(path)

        return read_own
    read_frame = lru_cache(maxsize=4)(read_image)

    def read(objid: int) -> Image:
        if objid not in image_index:
            raise ImageError("no entry in the image index")
        return read_frame(Path(images_dir) / image_index[objid])

    return read


#: stars are looked up within this fraction of the field of view from the galaxy's centre: more
#: than the half-diagonal (sqrt(2)/2) of the square cut-out, so that the corners' stars are included
STAR_SEARCH_FOV_FRACTION = 0.75


def star_search_radius_arcsec(*, d25_arcmin: float, settings: PreprocessSettings) -> float:
    """Radius (arcsec) around a galaxy within which the catalogue's stars are handed to its
    preprocessing: the field's corners, and beyond them the margin where a star centred outside the
    field may still reach into it (``max_mask_radius_fwhm`` FWHM, for FWHMs up to twice
    ``psf_fwhm_arcsec``: a measured FWHM is used up to twice the configured one)."""
    margin = settings.stars.max_mask_radius_fwhm * 2.0 * settings.psf_fwhm_arcsec
    return STAR_SEARCH_FOV_FRACTION * settings.fov_d25 * d25_arcmin * 60.0 + margin


@dataclass
class _ShardContent:
    """What the galaxies of a shard give, in shard order: the store's rows and the rejects."""
    sizes: list[int]
    ids: list[int] = field(default_factory=list)
    images: dict[int, list[np.ndarray]] = field(default_factory=dict)
    features: list[dict[str, Any]] = field(default_factory=list)
    star_rows: list[tuple] = field(default_factory=list)
    unit_rows: list[tuple[int, str, str]] = field(default_factory=list)
    rejects: list[tuple[int, str]] = field(default_factory=list)
    shown: dict[int, ProcessedGalaxy] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "process": 0.0})
    kept_as_galaxy: int = 0

    def __post_init__(self) -> None:
        self.images = {s: [] for s in self.sizes}

    def add(self, objid: int, gal: pd.Series, image: Image, result: ProcessedGalaxy) -> None:
        self.ids.append(objid)
        for s in self.sizes:
            self.images[s].append(result.images[s])
        self.features.append(result.features | {"z": gal["z"], "pixel_kpc": gal["pixel_kpc"],
                                                "pixel_scale_arcsec": pixel_scale_arcsec(image)})
        self.star_rows += [(objid, r.x, r.y, r.mag, r.status, r.radius_px, r.flux, r.saturated,
                            r.halo_radius_px) for r in result.stars]
        self.kept_as_galaxy += int(result.features["stars_kept_as_galaxy"])
        self.unit_rows.append((objid, result.unit.name, result.unit.source))
        if result.stages:
            self.shown[objid] = result


def _process_galaxies(shard: pd.DataFrame, *, read: Callable[[int], Image], stars: pd.DataFrame,
                      distances_cm: np.ndarray, sizes: list[int], settings: PreprocessSettings, seed: int,
                      n_figure: int) -> _ShardContent:
    """Preprocess each galaxy of the shard; one that fails is a reject with its reason."""
    content = _ShardContent(sizes)
    # ids from their own int64 column: a row Series of an all-numeric table is float64, which
    # cannot hold 19-digit SDSS ids
    for objid, (_, gal), distance in zip(shard["objid"].to_numpy(), shard.iterrows(), distances_cm):
        objid = int(objid)
        rng = np.random.default_rng([seed, objid % 2**32])
        try:
            t0 = time.perf_counter()
            image = read(objid)
            t1 = time.perf_counter()
            radius_arcsec = star_search_radius_arcsec(d25_arcmin=float(gal["d25_arcmin"]), settings=settings)
            result = preprocess_galaxy(image, ra_deg=float(gal["ra"]), dec_deg=float(gal["dec"]),
                                       d25_arcmin=float(gal["d25_arcmin"]),
                                       stars=stars_within(stars, gal["ra"], gal["dec"], radius_arcsec),
                                       distance_cm=float(distance), sizes=sizes, settings=settings, rng=rng,
                                       keep_stages=len(content.shown) < n_figure)
            content.timing["read"] += t1 - t0
            content.timing["process"] += time.perf_counter() - t1
        except (Rejected, ImageError) as err:
            content.rejects.append((objid, str(err)))
            log.warning("galaxy %d rejected: %s", objid, err)
            continue
        except Exception as err:  # never lose the shard to one galaxy
            content.rejects.append((objid, f"unexpected error: {type(err).__name__}: {err}"))
            log.exception("galaxy %d failed", objid)
            continue
        content.add(objid, gal, image, result)
    return content


def _write_store(out_path: str | Path, content: _ShardContent, rejects: pd.DataFrame, attrs: dict[str, Any]) -> None:
    """The shard's image store: objid, images/<size>, the features, stars, rejects and units
    tables, and the figure galaxies' cut-outs before scaling."""
    ids, sizes = content.ids, content.sizes
    with create_store(out_path, attrs) as fh:
        fh.create_dataset("objid", data=np.asarray(ids, dtype=np.int64))
        group = fh.create_group("images")
        for s in sizes:
            data = np.stack(content.images[s]) if ids else np.empty((0, s, s), np.float32)
            group.create_dataset(str(s), data=data, chunks=(1, s, s) if ids else None)
        write_table(fh, "features", pd.DataFrame(content.features))
        write_table(fh, "stars", pd.DataFrame(content.star_rows, columns=["objid", "x", "y", "mag", "status",
                                                                          "radius_px", "flux", "saturated",
                                                                          "halo_radius_px"]))
        write_table(fh, "rejects", rejects.astype({"reason": str}))
        write_table(fh, "units", pd.DataFrame(content.unit_rows, columns=["objid", "image_unit", "source"]))
        examples = fh.create_group("examples")  # the shown galaxies' cut-outs before scaling (Fig. 1)
        for objid, result in content.shown.items():
            examples.create_dataset(str(objid), data=result.stages["clean"].astype(np.float32))


def process_shard(shard_csv: str | Path, *, images_dir: str | Path, stars_csv: str | Path, sizes: list[int],
                  preprocess_cfg: Mapping[str, Any], cosmo_cfg: Mapping[str, Any], out_path: str | Path,
                  n_figure: int = 0, image_index: Mapping[int, str] | None = None, image_unit: str = "nanomaggies",
                  image_zero_point_mag: float | None = None,
                  star_columns: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, dict[int, ProcessedGalaxy]]:
    """The stage's entry point: write the shard's image store ``out_path``; return the rejects
    (objid, reason) and the first ``n_figure`` galaxies with their stages, for the figure.

    ``shard_csv``: the shard's galaxies (objid, ra, dec in deg, z, d25_arcmin, pixel_kpc);
    ``images_dir``: their g-band images ``{objid}.fits``, or the frames named by ``image_index``
    ({objid: file}); ``stars_csv``: the point-source catalogue (``star_columns``: its column map
    {our name: its name}). ``sizes``: the cut-out sizes S in pixels; the store holds ``objid`` (n,),
    ``images/<S>`` (n, S, S) float32 and the per-galaxy ``features`` table. ``preprocess_cfg`` and
    ``cosmo_cfg``: the config's ``preprocess`` and ``cosmology`` sections; ``image_unit`` /
    ``image_zero_point_mag``: the unit of images without BUNIT (``data.real.image_unit``,
    ``data.real.image_zero_point_mag``)."""
    settings = PreprocessSettings.from_config(preprocess_cfg, image_unit=image_unit,
                                              image_zero_point_mag=image_zero_point_mag)
    shard = pd.read_csv(shard_csv)
    stars = read_stars(stars_csv, star_columns)
    cosmo = physics.cosmology(cosmo_cfg["H0"], cosmo_cfg["Om0"])
    distances = physics.luminosity_distance_cm(shard["z"].to_numpy(), cosmo) if len(shard) else []
    read = image_reader(images_dir, image_index) if len(shard) else None   # an empty shard needs no folder
    content = _process_galaxies(shard, read=read, stars=stars,
                                distances_cm=distances, sizes=sizes, settings=settings, seed=preprocess_cfg["seed"],
                                n_figure=n_figure)
    rejects = pd.DataFrame(content.rejects, columns=["objid", "reason"])
    attrs = {"config": dict(preprocess_cfg), "cosmology": dict(cosmo_cfg), "sizes": list(sizes),
             "store_version": STORE_VERSION,
             "image_unit": {"configured": image_unit, "zero_point_mag": image_zero_point_mag}}
    _write_store(out_path, content, rejects, attrs)
    n = max(len(content.ids), 1)
    log.info("shard done: %d processed, %d rejected; read %.1f ms, process %.1f ms per galaxy",
             len(content.ids), len(content.rejects), 1e3 * content.timing["read"] / n,
             1e3 * content.timing["process"] / n)
    replaced = sum(row[4] == STATUS_REPLACED for row in content.star_rows)
    log.info("stars: %d replaced, %d candidates kept as galaxy structure (not point-like against the "
             "PSF, or not standing above the galaxy's light)", replaced, content.kept_as_galaxy)
    return rejects, content.shown
