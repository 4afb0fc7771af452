"""HDF5 stores (h5py) exchanged between stages: one per galaxy shard and per model.

A table is a group with one dataset per column (so any column reads alone) and the column
order in the group's ``columns`` attribute. Stores are written atomically.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import h5py
import numpy as np
import pandas as pd

from mlpipe.io.atomic import atomic_path

STRING = h5py.string_dtype()


@contextlib.contextmanager
def create_store(path: str | Path, attrs: dict[str, Any] | None = None) -> Iterator[h5py.File]:
    """Open a new store for writing; it appears at ``path`` only once the block succeeds."""
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as fh:
            for key, value in (attrs or {}).items():
                fh.attrs[key] = json.dumps(value) if isinstance(value, (dict, list)) else value
            yield fh


def write_table(parent: h5py.Group, name: str, df: pd.DataFrame) -> None:
    group = parent.create_group(name)
    group.attrs["columns"] = json.dumps(list(df.columns))
    for col in df.columns:
        if pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            group.create_dataset(col, data=df[col].to_numpy())
        else:
            group.create_dataset(col, data=np.array([str(v) for v in df[col]], dtype=object),
                                 dtype=STRING)


def read_table(parent: h5py.Group, name: str) -> pd.DataFrame:
    group = parent[name]
    columns = json.loads(group.attrs["columns"])
    data = {}
    for col in columns:
        values = group[col][()]
        data[col] = [v.decode() if isinstance(v, bytes) else v for v in values] if values.dtype.kind in "OS" else values
    return pd.DataFrame(data, columns=columns)


def write_matrix(fh: h5py.File, df: pd.DataFrame, name: str = "features") -> None:
    """A wide float32 table as one (N, F) dataset, its columns in the ``{name}_columns`` attribute."""
    fh.create_dataset(name, data=df.to_numpy(np.float32))
    fh.attrs[f"{name}_columns"] = json.dumps([str(c) for c in df.columns])


def read_matrix(fh: h5py.File, name: str = "features") -> pd.DataFrame:
    return pd.DataFrame(fh[name][()], columns=json.loads(fh.attrs[f"{name}_columns"]))


def read_features(path: str | Path) -> pd.DataFrame:
    """A CNN feature store (written by extraction) as a table indexed by objid."""
    with h5py.File(path, "r") as fh:
        table = read_matrix(fh)
        table.index = pd.Index(fh["objid"][()], name="objid")
    return table


def read_examples(path: str | Path) -> tuple[dict[int, np.ndarray], pd.DataFrame]:
    """The example cut-outs of an image store (the few galaxies preprocessing shows): objid ->
    star-replaced, sky-subtracted flux (ny, nx) before scaling; and their rows of the store's
    ``features`` table, indexed by objid. Both empty for a store without examples."""
    with h5py.File(path, "r") as fh:
        group = fh["examples"] if "examples" in fh else {}
        images = {int(name): group[name][()] for name in group}
        features = read_table(fh, "features")
        features.index = pd.Index(fh["objid"][()], name="objid")
    return images, features.loc[list(images)]


def shard_stores(folder: str | Path, n_shards: int) -> list[Path]:
    """The workflow's per-shard stores in ``folder``: shard-0.h5 ... shard-{n-1}.h5. Whole-sample
    steps take a folder and a shard count rather than every path: at ~780 shards the paths alone
    pass the 128 KiB that one shell command may hold."""
    return [Path(folder) / f"shard-{k}.h5" for k in range(n_shards)]


def store_index(stores: Sequence[str | Path]) -> pd.DataFrame:
    """objid -> (store, row) of every galaxy in the image stores, so that a step reading single
    galaxies opens only the stores it needs."""
    frames = []
    for path in stores:
        with h5py.File(path, "r") as fh:
            ids = fh["objid"][()]
        frames.append(pd.DataFrame({"objid": ids, "store": str(path), "row": np.arange(len(ids))}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["objid", "store", "row"])
