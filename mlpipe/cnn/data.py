"""Images, and what the CNNs learn from them, for training and extraction, read from the per-shard HDF5 image stores.

Both read stores in contiguous blocks, never galaxy by galaxy: training loads each split once into
memory (:class:`MemorySplit`), extraction streams whole stores on a background thread
(:class:`StoreStream`).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Iterator, Sequence

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mlpipe import gz2

log = logging.getLogger(__name__)

GZ2_COLUMNS = [f"gz2_{n}" for n in gz2.answer_names()]
# Share of the free device memory one split may take; the rest is for the model, its activations
# and the optimiser state.
DEVICE_SHARE = 0.4


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
        on_device = order.to(self.device, non_blocking=True)
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
    pinned memory when ``pin``, so that the copy to the device runs asynchronously)."""
    with h5py.File(path, "r") as fh:
        ids = fh["objid"][()]
        dataset = _image_dataset(fh, path, size)
        images = torch.empty((len(ids), 1, size, size), dtype=torch.float32, pin_memory=pin)
        if len(ids):
            dataset.read_direct(images.numpy().reshape(len(ids), size, size))
    return ids, images


class StoreStream:
    """Iterate over (path, objid, images) of image stores, read one after another on a background
    thread that keeps up to ``ahead`` stores ready: reading the next store overlaps the work on
    this one."""

    def __init__(self, paths: Sequence, size: int, pin: bool, ahead: int = 2) -> None:
        self.paths, self.size, self.pin = list(paths), size, pin
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="store-reader", daemon=True)

    def _read(self) -> None:
        for path in self.paths:
            try:
                item = (path, *read_store_images(path, self.size, self.pin))
            except Exception as err:  # noqa: BLE001 (handed to the consumer, which raises it)
                item = err
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, Exception) or self._stop.is_set():
                return

    def __iter__(self) -> Iterator[tuple[object, np.ndarray, torch.Tensor]]:
        self._thread.start()
        try:
            for _ in self.paths:
                item = self._queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self._stop.set()


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
    theta = theta.to(images.device, images.dtype, non_blocking=True)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
