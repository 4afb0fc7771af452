"""Assemble the features table: catalogue photometry, image statistics and every CNN feature,
one row per galaxy with an image, named so that a feature says where it comes from."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mlpipe import physics
from mlpipe.io.atomic import write_csv
from mlpipe.io.features_table import write_table_store
from mlpipe.io.integrity import open_store
from mlpipe.io.photometry import BANDS
from mlpipe.io.store import read_matrix, read_table

log = logging.getLogger(__name__)

IMAGE_LUMINOSITY_FEATURES = ["lum_sum", "lum_mean", "lum_max", "lum_min", "lum_std", "lum_centre", "lum_centre5"]
IMAGE_STATS = ["log_sum", "log_mean", "log_std", "log_centre", "log_centre5", "image_size_px", "scale_a"]
META = ["objid", "split", "ml", "ml_err", "lum_g", "gz2_match"]


def _image_features(stores: Sequence[str | Path]) -> pd.DataFrame:
    frames = []
    for path in stores:
        with open_store(path, ["objid", "features"]) as fh:
            table = read_table(fh, "features")
            table.insert(0, "objid", fh["objid"][()])
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def cnn_features(stores: Sequence[str | Path]) -> list[pd.DataFrame]:
    """One table per model, its shards stacked."""
    by_model: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for path in stores:
        with open_store(path, ["objid", "features"]) as fh:
            model = fh.attrs["model"]
            by_model[model].append(read_matrix(fh).set_axis(pd.Index(fh["objid"][()], name="objid")))
    return [pd.concat(parts) for parts in by_model.values()]


def image_features(stores: Sequence[str | Path]) -> pd.DataFrame:
    """The luminosity and image statistics of every galaxy in the image stores."""
    return _image_features(stores)[["objid", *IMAGE_LUMINOSITY_FEATURES, *IMAGE_STATS]]


def feature_frame(table: pd.DataFrame, *, cnn_tables: Sequence[pd.DataFrame], cosmo) -> pd.DataFrame:
    """The model inputs of the galaxies in ``table`` (n rows indexed by objid: redshift ``z``,
    ``pixel_kpc`` (kpc per pixel), photometric luminosities ``lum_<band>`` (L_sun) where known, the
    image features ``lum_*`` (L_sun) and statistics, the ``gz2_q*`` answers where matched), the CNN
    features of ``cnn_tables`` (each indexed by objid) joined by objid; ``cosmo``: the astropy
    cosmology of the distances. Returns (n, n_features), same index. Training and
    ``mlpipe predict`` both build their inputs here."""
    features = pd.DataFrame({"z": table["z"], "pixel_kpc": table["pixel_kpc"]}, index=table.index)
    lum = {band: table[f"lum_{band}"] if f"lum_{band}" in table else pd.Series(np.nan, index=table.index)
           for band in BANDS}
    for band in BANDS:
        features[f"phot_lum_{band}"] = lum[band]
    for pair in ("ug", "gr", "ri", "iz", "gi"):
        features[f"phot_ratio_{pair[0]}_{pair[1]}"] = lum[pair[0]] / lum[pair[1]]
    if set(IMAGE_LUMINOSITY_FEATURES) <= set(table.columns):  # a table-only run or prediction has no image features
        for name in IMAGE_LUMINOSITY_FEATURES:
            features[f"img_{name}"] = table[name]
        distance = physics.luminosity_distance_cm(table["z"].to_numpy(), cosmo)
        for name in IMAGE_LUMINOSITY_FEATURES:  # what the image shows without knowing the distance
            features[f"img_flux_{name[4:]}"] = table[name] / (4 * np.pi * distance**2)
        for name in IMAGE_STATS:
            features[f"img_{name}"] = table[name]
    for col in [c for c in table.columns if c.startswith("gz2_q")]:
        features[f"true_{col}"] = table[col]
    for cnn in cnn_tables:
        features = features.join(cnn, how="left")
    return features


def assemble(sample_csv: str | Path, *, image_stores: Sequence[str | Path], feature_stores: Sequence[str | Path],
             cosmo) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (meta, features) for every galaxy with an image (every galaxy of the sample when
    there are no image stores: a table-only run): meta holds ids, split and the M/L target,
    features the model inputs."""
    sample = pd.read_csv(sample_csv)
    if image_stores:
        sample = sample.merge(image_features(image_stores), on="objid", how="inner")
    table = sample.set_index("objid", drop=False)
    features = feature_frame(table, cnn_tables=cnn_features(feature_stores), cosmo=cosmo)
    return table[META].reset_index(drop=True), features.reset_index(drop=True)


def drop_dead_features(meta: pd.DataFrame, features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Remove CNN features that are zero for every training galaxy (dead neurons)."""
    train = features[meta["split"].to_numpy() == "train"]
    cnn_cols = [c for c in features.columns if c.startswith("cnn")]
    dead = [c for c in cnn_cols if (train[c].fillna(0) == 0).all()]
    return features.drop(columns=dead), dead


def build_features_table(*, sample_csv: str | Path, image_stores: Sequence[str | Path],
                         feature_stores: Sequence[str | Path], cosmo_cfg: Mapping[str, Any], out_path: str | Path,
                         dropped_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The stage's entry point: assemble the features table (:func:`assemble`), drop the dead CNN
    features and write the table store ``out_path`` and the list of dropped features (CSV:
    feature, reason); return (meta, features, dropped)."""
    meta, features = assemble(sample_csv, image_stores=image_stores, feature_stores=feature_stores,
                              cosmo=physics.cosmology(cosmo_cfg["H0"], cosmo_cfg["Om0"]))
    features, dead = drop_dead_features(meta, features)
    write_table_store(meta, features, dead, out_path)
    write_csv(pd.DataFrame({"feature": dead, "reason": "zero for every training galaxy"}), dropped_path)
    return meta, features, dead
