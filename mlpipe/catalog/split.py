"""Train/validation/test split and shard assignment, both from a hash of the galaxy's id (and the
seed), so that neither depends on the order of the rows in the input files."""

from __future__ import annotations

import hashlib
import zlib

import numpy as np


def id_hash(objids: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per id, fixed by the id and the seed alone."""
    out = np.empty(len(objids))
    for i, objid in enumerate(np.asarray(objids)):
        digest = hashlib.blake2b(f"{int(seed)}:{int(objid)}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") / 2.0**64
    return out


def split_labels(objids: np.ndarray, *, test_fraction: float, validation_fraction: float, seed: int) -> np.ndarray:
    """``test_fraction`` of the galaxies for testing, then ``validation_fraction`` of the rest for
    validation, the remainder for training: the galaxies ranked by the hash of id and seed, so a
    galaxy's split does not depend on where its row is in the file (counts are exact)."""
    n = len(objids)
    order = np.lexsort((np.asarray(objids), id_hash(objids, seed)))
    n_test = int(round(test_fraction * n))
    n_val = int(round(validation_fraction * (n - n_test)))
    labels = np.full(n, "train", dtype=object)
    labels[order[:n_test]] = "test"
    labels[order[n_test:n_test + n_val]] = "validation"
    return labels


def shard_of(objids: np.ndarray, *, n_shards: int) -> np.ndarray:
    """A galaxy's shard depends on its id alone, so adding galaxies only touches their shards."""
    return np.array([zlib.crc32(str(int(o)).encode()) % n_shards for o in objids], dtype=int)
