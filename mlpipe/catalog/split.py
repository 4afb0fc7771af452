"""Random train/validation/test split and stable shard assignment."""

from __future__ import annotations

import zlib

import numpy as np


def split_labels(n: int, test_fraction: float, validation_fraction: float, seed: int) -> np.ndarray:
    """``test_fraction`` of the galaxies for testing, then ``validation_fraction`` of the rest for
    validation, the remainder for training; seeded."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(validation_fraction * (n - n_test)))
    labels = np.full(n, "train", dtype=object)
    labels[order[:n_test]] = "test"
    labels[order[n_test:n_test + n_val]] = "validation"
    return labels


def shard_of(objids: np.ndarray, n_shards: int) -> np.ndarray:
    """A galaxy's shard depends on its id alone, so adding galaxies only touches their shards."""
    return np.array([zlib.crc32(str(int(o)).encode()) % n_shards for o in objids], dtype=int)
