"""Predict M/L, its uncertainty, the stellar mass and the GZ2 morphology of new galaxies.

The same code as the workflow runs on them, with the settings stored in the bundle:
preprocessing (one shard), CNN feature extraction, the features table, the saved predictor.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe import gz2, physics
from mlpipe.catalog.ml_target import band_luminosity
from mlpipe.cnn.extract import extract_shard, extraction_batch_size
from mlpipe.gbm.table import feature_frame, image_features
from mlpipe.io.atomic import write_csv
from mlpipe.io.integrity import open_store
from mlpipe.io.photometry import BANDS
from mlpipe.io.store import read_features, read_table
from mlpipe.io.validation import InputError
from mlpipe.predict.bundle import Bundle, weights_file
from mlpipe.predict.catalogue import read_new_galaxies
from mlpipe.preprocess.shard import process_shard

log = logging.getLogger(__name__)


def luminosities(galaxies: pd.DataFrame, cosmo) -> pd.DataFrame:
    """``lum_<band>`` (L_sun) from the extinction-corrected magnitudes the catalogue reader gave."""
    out = pd.DataFrame(index=galaxies.index)
    for band in BANDS:
        if f"mag_{band}" in galaxies.columns:
            out[f"lum_{band}"] = band_luminosity(galaxies, z=galaxies["z"].to_numpy(), cosmo=cosmo, band=band)
    return out


def required_bands(features: list[str]) -> str:
    """The bands whose photometry the predictor's features need."""
    used = {b for f in features if f.startswith("phot_") for b in f.split("_")[2:] if b in BANDS}
    return "".join(b for b in BANDS if b in used)


def stellar_mass_luminosity(table: pd.DataFrame, lum_g_column: str | None) -> tuple[np.ndarray, str]:
    """L_g for M* = Y L_g: as in training where the catalogue allows, else from the image flux."""
    if lum_g_column and lum_g_column in table:
        return 10.0 ** table[lum_g_column].to_numpy(), f"catalogue column {lum_g_column}"
    if "lum_g" in table and table["lum_g"].notna().all():
        return table["lum_g"].to_numpy(), "catalogue g-band photometry"
    return table["lum_sum"].to_numpy() / physics.solar_luminosity_nu(), "g-band image flux (star-subtracted)"


def image_inputs(features: list[str]) -> list[str]:
    """The features that only the g-band images give (image statistics, CNN outputs)."""
    return [f for f in features if f.startswith("img_") or f.startswith("cnn")]


PIXEL_SCALE_TOLERANCE = 0.02   # relative: beyond this outside the training images' range, a scale differs


def pixel_scale_mismatches(images: pd.DataFrame, training: dict) -> pd.DataFrame:
    """objid and reason of every galaxy whose image pixel scale (arcsec/px, from its WCS) lies
    outside the training images' range by more than PIXEL_SCALE_TOLERANCE."""
    if "pixel_scale_range_arcsec" not in training or "pixel_scale_arcsec" not in images:
        return pd.DataFrame(columns=["objid", "reason"])
    low, high = training["pixel_scale_range_arcsec"]
    scale = images["pixel_scale_arcsec"].to_numpy(float)
    bad = (scale < low * (1 - PIXEL_SCALE_TOLERANCE)) | (scale > high * (1 + PIXEL_SCALE_TOLERANCE))
    where = f"{low:.4g}" if low == high else f"{low:.4g}-{high:.4g}"
    return pd.DataFrame({"objid": images["objid"].to_numpy()[bad],
                         "reason": [f"image pixel scale {s:.4g} arcsec/px differs from the training images' "
                                    f"{where} arcsec/px" for s in scale[bad]]})


def _check_pixel_scale(bundle: Bundle, images: pd.DataFrame, scales: pd.DataFrame, rejected: pd.DataFrame,
                       mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Warn about, or with ``mode="refuse"`` reject, galaxies imaged at another pixel scale."""
    mismatched = pixel_scale_mismatches(scales, bundle.manifest.get("training_images", {}))
    if len(mismatched):
        log.warning("%d galaxies have images at another pixel scale than the training data (%s); %s",
                    len(mismatched), mismatched["reason"].iloc[0],
                    "they are rejected" if mode == "refuse" else "their predictions may be biased")
        if mode == "refuse":
            rejected = pd.concat([rejected, mismatched], ignore_index=True)
            images = images.drop(index=mismatched["objid"])
    return images, rejected


def predict_galaxies(bundle: Bundle, *, catalogue: str | Path, images_dir: str | Path | None, stars: str | Path | None,
                     out_path: str | Path, rejected_path: str | Path, device: str = "auto",
                     column_map: dict[str, str] | None = None, pixel_scale_mismatch: str = "warn") -> pd.DataFrame:
    """The stage's entry point: write one row per predicted galaxy to ``out_path`` and every galaxy that could not be
    predicted, with its reason, to ``rejected_path``; return the predictions. A predictor that reads
    no image (``g_ref``, ``gi_powerlaw``, ``gi_gbm``, the band-only ones) needs no ``images_dir``
    and no D25; one that does stops, naming what it needs, when ``images_dir`` is None.
    ``column_map``: the catalogue's column names ({our name: yours}) over the bundle's
    ``inputs.predict.columns``. A galaxy whose image pixel scale differs from the training images'
    is predicted with a warning (``pixel_scale_mismatch="warn"``) or rejected (``"refuse"``).

    The predictions, one row per galaxy: objid, z, ``ml_pred`` (M/L, solar units; ``ml_p16`` and
    ``ml_p84`` where the predictor has interval models), ``lum_g`` (L_sun) and ``lum_g_source``,
    ``log_mstar_pred`` (log10 M_sun; and its percentiles), and with the morphology model the 37
    ``gz2_*`` unconditional answer probabilities."""
    cfg = bundle.config
    name = bundle.predictor.name
    from_images = image_inputs(bundle.predictor.features)
    if from_images and images_dir is None:
        raise InputError(f"predictor {name} reads the g-band images ({len(from_images)} image/CNN features, e.g. "
                         f"{', '.join(from_images[:3])}): give --images (a folder of {{objid}}.fits cut-outs) and "
                         "d25_arcmin (or logd25) in the catalogue, or use a predictor that reads no image "
                         "(g_ref, gi_powerlaw, gi_gbm)")
    cosmo = physics.cosmology(cfg["cosmology"]["H0"], cfg["cosmology"]["Om0"])
    inputs = cfg.get("inputs", {})
    columns = {**inputs.get("predict", {}).get("columns", {}), **(column_map or {})}
    lum_column = cfg["catalog"]["lum_g_column"]
    galaxies, rejected = read_new_galaxies(catalogue, bands=required_bands(bundle.predictor.features),
                                           needs_d25=bool(from_images), photometry=inputs.get("photometry"),
                                           column_map=columns, lum_g_column=lum_column or None,
                                           optional_bands="g")
    if galaxies.empty:
        write_csv(rejected, rejected_path)
        raise InputError(f"{catalogue}: no galaxy can be predicted (every row is rejected; reasons in {rejected_path})")
    galaxies["pixel_kpc"] = physics.kpc_per_arcsec(galaxies["z"].to_numpy(), cosmo) * physics.SDSS_PIXEL_ARCSEC
    galaxies = pd.concat([galaxies, luminosities(galaxies, cosmo)], axis=1)
    cnn_tables: list[pd.DataFrame] = []
    table = galaxies.set_index("objid", drop=False)
    if from_images:
        images, cnn_tables, rejected, scales = _image_features(bundle, galaxies, rejected, images_dir, stars,
                                                               catalogue, rejected_path, device)
        images, rejected = _check_pixel_scale(bundle, images, scales, rejected, pixel_scale_mismatch)
        table = table.join(images, how="inner")
        if table.empty:
            write_csv(rejected, rejected_path)
            raise InputError(f"{catalogue}: every galaxy was rejected; each is listed with its reason in {rejected_path}")
    features = feature_frame(table, cnn_tables=cnn_tables, cosmo=cosmo).astype(np.float32)
    bundle.check_features(features.columns)
    predicted = bundle.predictor.predict(features)
    out = pd.DataFrame({"objid": table["objid"].to_numpy(), "z": table["z"].to_numpy()})
    for col in predicted.columns:
        out[col] = predicted[col].to_numpy()
    lum_g, source = stellar_mass_luminosity(table, lum_column)
    out["lum_g"], out["lum_g_source"] = lum_g, source
    for col in [c for c in predicted.columns if c.startswith("ml_")]:
        out[col.replace("ml_", "log_mstar_")] = np.log10(out[col] * lum_g)
    morph = bundle.manifest.get("morphology_model")
    if morph and from_images:
        for answer in gz2.answer_names():  # unconditional probabilities, from the normalisation layer
            out[f"gz2_{answer}"] = features[f"{morph}_gz2_{answer}"].to_numpy()
    write_csv(out, out_path)
    write_csv(rejected, rejected_path)
    log.info("predicted %d galaxies with %s (L_g from %s); %d rejected", len(out), name, source, len(rejected))
    return out


def _image_features(bundle: Bundle, galaxies: pd.DataFrame, rejected: pd.DataFrame, images_dir, stars, catalogue,
                    rejected_path, device: str):
    """Preprocess the galaxies' images and run the bundle's CNNs: (image features by objid, CNN
    feature tables, rejected galaxies so far, each image's pixel scale)."""
    cfg = bundle.config
    models = {name: cfg["cnn"]["models"][name] for name in bundle.manifest["cnn_models"]}
    sizes = sorted({m["image_size"] for m in models.values()})
    with tempfile.TemporaryDirectory(prefix="mlpipe-predict-") as tmp:
        work = Path(tmp)
        galaxies.to_csv(work / "galaxies.csv", index=False)
        if stars is None:
            stars = work / "no_stars.csv"
            pd.DataFrame(columns=["ra", "dec", "psfMag_g"]).to_csv(stars, index=False)
        store = work / "images.h5"
        real = cfg.get("data", {}).get("real", {})
        shard_rejects, _ = process_shard(work / "galaxies.csv", images_dir=images_dir, stars_csv=stars, sizes=sizes,
                                         preprocess_cfg=cfg["preprocess"], cosmo_cfg=cfg["cosmology"], out_path=store,
                                         image_unit=real.get("image_unit", "nanomaggies"),
                                         image_zero_point_mag=real.get("image_zero_point_mag"))
        rejected = pd.concat([rejected, shard_rejects], ignore_index=True)
        if len(shard_rejects) == len(galaxies):  # nothing to predict: say why instead of an empty table
            write_csv(rejected, rejected_path)
            reasons = rejected["reason"].value_counts().head(3).to_dict()
            raise InputError(f"{catalogue}: no galaxy could be preprocessed (reasons: {reasons}); "
                             f"every galaxy is listed in {rejected_path}")
        cnn_tables = []
        for name in models:
            extract_shard(weights_file(bundle, name, work), image_store=store, out_path=work / f"{name}.h5",
                          batch_size=extraction_batch_size(cfg["cnn"]), device_name=device,
                          compile_mode=cfg["cnn"].get("compile", "none"), precision=cfg["cnn"].get("precision", "auto"))
            cnn_tables.append(read_features(work / f"{name}.h5"))
        images = image_features([store]).set_index("objid")
        with open_store(store, ["objid", "features"]) as fh:
            scales = read_table(fh, "features").assign(objid=fh["objid"][()])
    return images, cnn_tables, rejected, scales
