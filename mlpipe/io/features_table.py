"""The features table store (``results/gbm/features.h5``): one row per galaxy, what every
predictor reads.

Datasets: ``objid`` (n,), ``split`` (n,) strings, the ``targets`` matrix (ml and ml_err in solar
units, lum_g in log10 L_sun), ``gz2_match`` (n,) booleans and the float32 ``features`` matrix
(n, n_features) with its ``columns``; the attribute ``dropped_dead_features`` lists the CNN features
left out. Readers need no cosmology or table assembly, so a predictor job imports neither.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mlpipe.io.integrity import open_store
from mlpipe.io.store import create_store, read_matrix, write_matrix

#: the table store's matrix of the M/L target: ml, ml_err and lum_g (its stored name, kept for existing stores)
ML_TARGET_MATRIX = "targets"


def write_table_store(meta: pd.DataFrame, features: pd.DataFrame, dead: list[str], path: str | Path) -> None:
    """Write ``meta`` (objid, split, ml, ml_err, lum_g, gz2_match) and ``features`` (same rows) to ``path``."""
    with create_store(path, {"dropped_dead_features": dead}) as fh:
        fh.create_dataset("objid", data=meta["objid"].to_numpy())
        fh.create_dataset("split", data=meta["split"].astype(str).to_numpy().astype(object),
                          dtype=h5py.string_dtype())
        write_matrix(fh, meta[["ml", "ml_err", "lum_g"]].astype(float), ML_TARGET_MATRIX)
        fh.create_dataset("gz2_match", data=meta["gz2_match"].astype(bool).to_numpy())
        write_matrix(fh, features.astype(np.float32))


def read_table_store(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(meta, features) of a table store, checked against its digests."""
    with open_store(path) as fh:
        meta = read_matrix(fh, ML_TARGET_MATRIX)
        meta.insert(0, "split", [s.decode() if isinstance(s, bytes) else s for s in fh["split"][()]])
        meta.insert(0, "objid", fh["objid"][()])
        meta["gz2_match"] = fh["gz2_match"][()]
        features = read_matrix(fh)
    return meta, features
