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
from mlpipe.catalog.targets import g_luminosity
from mlpipe.cnn.extract import extract_shard
from mlpipe.gbm.table import feature_frame, image_features
from mlpipe.io.atomic import write_csv
from mlpipe.io.photometry import BANDS
from mlpipe.io.store import read_features
from mlpipe.io.validation import InputError
from mlpipe.predict.bundle import Bundle, weights_file
from mlpipe.predict.catalogue import read_new_galaxies
from mlpipe.preprocess.shard import process_shard

log = logging.getLogger(__name__)


def luminosities(galaxies: pd.DataFrame, cosmo) -> pd.DataFrame:
    """``lum_<band>`` (L_sun) from modelMag and extinction wherever the catalogue has both."""
    out = pd.DataFrame(index=galaxies.index)
    for band in BANDS:
        if {f"modelMag_{band}", f"extinction_{band}"} <= set(galaxies.columns):
            out[f"lum_{band}"] = g_luminosity(galaxies, galaxies["z"].to_numpy(), cosmo, band)
    return out


def _required_photometry(features: list[str]) -> list[str]:
    bands = sorted({b for f in features if f.startswith("phot_") for b in f.split("_")[2:] if b in BANDS})
    return [f"{kind}_{b}" for b in bands for kind in ("modelMag", "extinction")]


def stellar_mass_luminosity(table: pd.DataFrame, lum_g_column: str | None) -> tuple[np.ndarray, str]:
    """L_g for M* = Y L_g: as in training where the catalogue allows, else from the image flux."""
    if lum_g_column and lum_g_column in table:
        return 10.0 ** table[lum_g_column].to_numpy(), f"catalogue column {lum_g_column}"
    if "lum_g" in table:
        return table["lum_g"].to_numpy(), "modelMag_g - extinction_g"
    return table["lum_sum"].to_numpy() / physics.solar_luminosity_nu(), "g-band image flux (star-subtracted)"


def predict_galaxies(bundle: Bundle, catalogue: str | Path, images_dir: str | Path, stars: str | Path | None,
                     out_path: str | Path, rejected_path: str | Path, batch_size: int = 64,
                     device: str = "auto") -> pd.DataFrame:
    """Write one row per predicted galaxy to ``out_path`` and every galaxy that could not be
    predicted, with its reason, to ``rejected_path``; return the predictions."""
    cfg = bundle.config
    cosmo = physics.cosmology(cfg["cosmology"]["H0"], cfg["cosmology"]["Om0"])
    galaxies, rejected = read_new_galaxies(catalogue)
    needed = [c for c in _required_photometry(bundle.predictor.features) if c not in galaxies]
    if needed:
        raise InputError(f"{catalogue}: predictor {bundle.predictor.name} needs column(s) {', '.join(needed)}")
    galaxies["pixel_kpc"] = physics.kpc_per_arcsec(galaxies["z"].to_numpy(), cosmo) * physics.SDSS_PIXEL_ARCSEC
    galaxies = pd.concat([galaxies, luminosities(galaxies, cosmo)], axis=1)
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
        shard_rejects, _ = process_shard(work / "galaxies.csv", images_dir, stars, sizes, cfg["preprocess"],
                                         cfg["cosmology"], store, image_unit=real.get("image_unit", "nanomaggies"),
                                         image_zero_point_mag=real.get("image_zero_point_mag"))
        rejected = pd.concat([rejected, shard_rejects], ignore_index=True)
        if len(shard_rejects) == len(galaxies):  # nothing to predict: say why instead of an empty table
            write_csv(rejected, rejected_path)
            reasons = rejected["reason"].value_counts().head(3).to_dict()
            raise InputError(f"{catalogue}: no galaxy could be preprocessed (reasons: {reasons}); "
                             f"every galaxy is listed in {rejected_path}")
        cnn_tables = []
        for name in models:
            extract_shard(weights_file(bundle, name, work), store, work / f"{name}.h5", batch_size, device,
                          cfg["cnn"].get("compile", "none"))
            cnn_tables.append(read_features(work / f"{name}.h5"))
        images = image_features([store]).set_index("objid")
    table = galaxies.set_index("objid", drop=False).join(images, how="inner")
    features = feature_frame(table, cnn_tables, cfg["cosmology"]).astype(np.float32)
    bundle.check_features(features.columns)
    predicted = bundle.predictor.predict(features)
    out = pd.DataFrame({"objid": table["objid"].to_numpy(), "z": table["z"].to_numpy()})
    for col in predicted.columns:
        out[col] = predicted[col].to_numpy()
    lum_g, source = stellar_mass_luminosity(table, cfg["catalog"]["lum_g_column"])
    out["lum_g"], out["lum_g_source"] = lum_g, source
    for col in [c for c in predicted.columns if c.startswith("ml_")]:
        out[col.replace("ml_", "log_mstar_")] = np.log10(out[col] * lum_g)
    morph = bundle.manifest["morphology_model"]
    for answer in gz2.answer_names():  # unconditional probabilities, from the normalisation layer
        out[f"gz2_{answer}"] = features[f"{morph}_gz2_{answer}"].to_numpy()
    write_csv(out, out_path)
    write_csv(rejected, rejected_path)
    log.info("predicted %d galaxies with %s (L_g from %s); %d rejected", len(out), bundle.predictor.name,
             source, len(rejected))
    return out
