"""Images and targets for training and extraction, read from the per-shard HDF5 image stores."""

from __future__ import annotations

import math
from typing import Sequence

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mlpipe import gz2

GZ2_COLUMNS = [f"gz2_{n}" for n in gz2.answer_names()]


def training_table(sample: pd.DataFrame, store_index: pd.DataFrame, target: str, split: str) -> pd.DataFrame:
    """The galaxies of one split that have an image (and, for GZ2 targets, a GZ2 match), with
    their place in the image stores (``store_index``: objid, store, row)."""
    rows = sample[sample["split"] == split]
    if target == "gz2":
        rows = rows[rows["gz2_match"].astype(bool)]
    return rows.merge(store_index, on="objid", how="inner").reset_index(drop=True)


class StoreDataset(Dataset):
    """One image (1, S, S) and its target per item; each worker opens the stores it needs once."""

    def __init__(self, table: pd.DataFrame, size: int, target: str | None) -> None:
        self.stores = table["store"].to_numpy()
        self.rows = table["row"].to_numpy()
        self.size = str(size)
        if target == "gz2":
            self.targets = table[GZ2_COLUMNS].to_numpy(np.float32)
            self.weights = np.ones(len(table), np.float32)
        elif target == "ml":
            self.targets = table["ml"].to_numpy(np.float32)
            self.weights = (1.0 / table["ml_err"]).to_numpy(np.float32)
        else:
            self.targets = np.zeros(len(table), np.float32)
            self.weights = np.ones(len(table), np.float32)
        self._files: dict[str, h5py.File] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        path = self.stores[i]
        if path not in self._files:
            self._files[path] = h5py.File(path, "r")
        image = self._files[path]["images"][self.size][self.rows[i]]
        return torch.from_numpy(image[None]), self.targets[i], self.weights[i]


def augment(images: torch.Tensor, generator: torch.Generator, zoom: Sequence[float]) -> torch.Tensor:
    """Random rotation (0-360 deg), zoom and horizontal/vertical flips, on the images' device."""
    n = images.shape[0]
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    scale = zoom[0] + torch.rand(n, generator=generator) * (zoom[1] - zoom[0])
    flip_x = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    flip_y = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip_x, -sin, torch.zeros(n)], 1),
                         torch.stack([sin, cos * flip_y, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
