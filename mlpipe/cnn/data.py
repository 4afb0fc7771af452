"""Images, and what the CNNs learn from them, for training and extraction, read from the per-shard HDF5 image stores.

Both read stores in contiguous blocks, never galaxy by galaxy: training loads each split once into
memory (:class:`MemorySplit`), extraction streams whole stores on background threads
(:class:`StoreStream`).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mlpipe import gz2
from mlpipe.io.integrity import open_store, verify_values

log = logging.getLogger(__name__)

GZ2_COLUMNS = [f"gz2_{n}" for n in gz2.answer_names()]
# Share of the free device memory one split may take; the rest is for the model, its activations
# and the optimiser state.
DEVICE_SHARE = 0.4
# Threads that read and check image stores during extraction: 2 read ~1.5x as fast as 1 on two cores
# (BENCHMARKS.md); each holds one store (500 galaxies at 197 px: 78 MB).
MAX_READERS = 4


def training_table(sample: pd.DataFrame, store_index: pd.DataFrame, task: str, split: str) -> pd.DataFrame:
    """The galaxies of one split that have an image (and, for a CNN that learns the GZ2 answers
    (``task`` gz2), a GZ2 match), with their place in the image stores (``store_index``: objid,
    store, row)."""
    rows = sample[sample["split"] == split]
    if task == "gz2":
        rows = rows[rows["gz2_match"].astype(bool)]
    return rows.merge(store_index, on="objid", how="inner").reset_index(drop=True)


def _image_dataset(fh: h5py.File, path, size: int) -> h5py.Dataset:
    key = f"images/{size}"
    if key not in fh:
        sizes = sorted(fh["images"]) if "images" in fh else []
        raise ValueError(f"{path}: no images of {size} px in this store (it has {', '.join(sizes) or 'none'}); "
                         "preprocess with the CNN's image_size")
    return fh[key]


def truth_and_weights(table: pd.DataFrame, task: str | None) -> tuple[np.ndarray, np.ndarray]:
    """What a CNN learns: (N, 37) GZ2 answer probabilities (``task`` gz2) or (N,) M/L (ml), and
    the loss weights (1 / M/L error for M/L)."""
    if task == "gz2":
        return table[GZ2_COLUMNS].to_numpy(np.float32), np.ones(len(table), np.float32)
    if task == "ml":
        return table["ml"].to_numpy(np.float32), (1.0 / table["ml_err"]).to_numpy(np.float32)
    return np.zeros(len(table), np.float32), np.ones(len(table), np.float32)


def _placement(nbytes: int, device: torch.device) -> str:
    """Where a split lives: on the device when it fits, else in pinned host memory (CUDA), else
    in ordinary host memory (CPU)."""
    if device.type != "cuda":
        return "host"
    free, _ = torch.cuda.mem_get_info(device)
    return "device" if nbytes <= DEVICE_SHARE * free else "pinned"


class MemorySplit:
    """One split's images (N, 1, S, S) float32, truth (what the CNN learns) and loss weights, read once from the stores
    (one contiguous block per store) and kept where the step runs: on the device when it fits,
    else in pinned host memory. Batches are drawn by a seeded permutation of the galaxies."""

    def __init__(self, table: pd.DataFrame, size: int, task: str | None, device: torch.device) -> None:
        self.device = device
        n = len(table)
        truth, weights = truth_and_weights(table, task)
        self.placement = _placement(n * size * size * 4, device)
        self.images = torch.empty((n, 1, size, size), dtype=torch.float32,
                                  device=device if self.placement == "device" else "cpu",
                                  pin_memory=self.placement == "pinned")
        rows = table["row"].to_numpy()
        for store, positions in table.groupby("store", sort=True).indices.items():
            wanted = rows[positions]
            lo, hi = int(wanted.min()), int(wanted.max()) + 1
            with h5py.File(store, "r") as fh:
                block = _image_dataset(fh, store, size)[lo:hi]
            self.images[torch.from_numpy(positions).to(self.images.device)] = \
                torch.from_numpy(np.ascontiguousarray(block[wanted - lo])).unsqueeze(1).to(self.images.device)
        self.truth = torch.from_numpy(truth).to(device)
        self.weights = torch.from_numpy(weights).to(device)
        log.info("%d images of %d px (%.0f MB) in %s memory", n, size, n * size * size * 4 / 2**20,
                 {"device": str(device), "pinned": "pinned host", "host": "host"}[self.placement])

    def __len__(self) -> int:
        return len(self.truth)

    def batches(self, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(images, truth, weights) on the device, ``batch_size`` at a time: in a permutation
        drawn from ``generator``, or in order without one. Nothing here waits for the device."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
        on_device = to_device(order, self.device)
        for start in range(0, n, batch_size):
            index = on_device[start:start + batch_size]
            if self.placement == "pinned":
                host = order[start:start + batch_size]
                staged = torch.empty((len(host), *self.images.shape[1:]), pin_memory=True)
                torch.index_select(self.images, 0, host, out=staged)
                images = staged.to(self.device, non_blocking=True)
            else:
                images = self.images[index]
            yield images, self.truth[index], self.weights[index]


def read_store_images(path, size: int, pin: bool) -> tuple[np.ndarray, torch.Tensor]:
    """objid (N,) and images (N, 1, S, S) float32 of one store, in one contiguous read (into
    pinned memory when ``pin``, so that the copy to the device runs asynchronously), each checked
    against the store's recorded digest as read: the file is read once."""
    with open_store(path, []) as fh:   # a file HDF5 cannot read is an IntegrityError naming it
        ids = fh["objid"][()]
        verify_values(fh, path, "objid", ids)
        dataset = _image_dataset(fh, path, size)
        images = torch.empty((len(ids), 1, size, size), dtype=torch.float32, pin_memory=pin)
        flat = images.numpy().reshape(len(ids), size, size)
        if len(ids):
            dataset.read_direct(flat)
        verify_values(fh, path, dataset.name, flat)
    return ids, images


def reader_threads() -> int:
    """Reader threads for :class:`StoreStream`: the cores this process may use (a Slurm job's
    allocation included), at most :data:`MAX_READERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_READERS, cores))


class StoreStream:
    """Iterate over (path, objid, images) of image stores, in order, read by ``readers`` background
    threads (default :func:`reader_threads`) that keep up to ``ahead`` stores in flight (default:
    one per reader): reading the next stores overlaps the work on this one, and one thread's
    digest check (hashlib runs without the GIL) overlaps another's read."""

    def __init__(self, paths: Sequence, size: int, pin: bool, ahead: int | None = None,
                 readers: int | None = None) -> None:
        self.paths, self.size, self.pin = list(paths), size, pin
        self.readers = max(readers or reader_threads(), 1)
        self.ahead = max(ahead or self.readers, 1)

    def _read(self, path) -> tuple[object, np.ndarray, torch.Tensor]:
        return (path, *read_store_images(path, self.size, self.pin))

    def __iter__(self) -> Iterator[tuple[object, np.ndarray, torch.Tensor]]:
        todo = iter(self.paths)
        with ThreadPoolExecutor(max_workers=self.readers, thread_name_prefix="store-reader") as pool:
            pending = deque(pool.submit(self._read, path) for path in itertools.islice(todo, self.ahead))
            try:
                while pending:
                    item = pending.popleft().result()   # a reader's exception is raised here
                    following = next(todo, None)
                    if following is not None:
                        pending.append(pool.submit(self._read, following))
                    yield item
            finally:   # stopped early (an error, or the consumer's): read no further stores
                for future in pending:
                    future.cancel()


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without making the host wait: on CUDA it is staged in pinned
    memory first, since a copy from pageable memory waits for every kernel already queued (once per
    batch, that would keep the host from running ahead of the device)."""
    if device.type == "cuda" and tensor.device.type == "cpu" and not tensor.is_pinned():
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def augment(images: torch.Tensor, generator: torch.Generator, zoom: Sequence[float]) -> torch.Tensor:
    """Random rotation (0-360 deg), zoom and horizontal/vertical flips, on the images' device
    (the random numbers come from the CPU ``generator``, so that they do not depend on the device)."""
    n = images.shape[0]
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    scale = zoom[0] + torch.rand(n, generator=generator) * (zoom[1] - zoom[0])
    flip_x = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    flip_y = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip_x, -sin, torch.zeros(n)], 1),
                         torch.stack([sin, cos * flip_y, torch.zeros(n)], 1)], 1)
    theta = to_device(theta, images.device).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
