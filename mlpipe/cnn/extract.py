"""Run a trained CNN over one shard's image store and write its features with readable names."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlpipe import gz2
from mlpipe.cnn.device import pick_device
from mlpipe.cnn.models import build_model
from mlpipe.io.integrity import load_torch, open_store
from mlpipe.io.store import create_store, write_matrix

log = logging.getLogger(__name__)


def feature_names(name: str, model_cfg: dict, n_pooled: int) -> dict[str, list[str]]:
    """Column names per output: ``cnn1_gz2_q01_smooth_or_features_smooth``, ``cnn1_pool_0042``..."""
    names: dict[str, list[str]] = {}
    if model_cfg["target"] == "gz2":
        names["output"] = [f"{name}_gz2_{a}" for a in gz2.answer_names()]
    else:
        names["hidden"] = [f"{name}_hidden_{i:02d}" for i in range(gz2.N_ANSWERS)]
        names["output"] = [f"{name}_ml"]
    if model_cfg.get("export_pooled"):
        names["pooled"] = [f"{name}_pool_{i:04d}" for i in range(n_pooled)]
    return names


def extract_shard(model_path: str | Path, image_store: str | Path, out_path: str | Path,
                  batch_size: int = 64, device_name: str = "auto") -> int:
    """Write ``objid`` and a ``features`` matrix (float32) with its ``columns`` attribute."""
    saved = load_torch(model_path, "CNN model file")
    name, model_cfg = saved["name"], saved["model_cfg"]
    model = build_model(model_cfg | {"pretrained": None})
    model.load_state_dict(saved["state_dict"])
    device = pick_device(device_name)
    model.to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    with open_store(image_store, ["objid", f"images/{model_cfg['image_size']}"]) as fh:
        ids = fh["objid"][()]
        # One contiguous read of the shard (a few hundred MB at most), not one read per galaxy:
        # extraction is then bound by the forward pass.
        images = torch.from_numpy(fh["images"][str(model_cfg["image_size"])][()]).unsqueeze(1)
    if device.type == "cuda":
        images = images.pin_memory()
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            n = len(batch)
            # Every batch gets the same shape: the matrix products' blocking follows the batch size,
            # so unpadded, a galaxy's features would depend (in the last float32 digit) on how many
            # galaxies share its shard, and `mlpipe predict` could not reproduce the workflow.
            batch = torch.cat([batch, batch.new_zeros((batch_size - n, *batch.shape[1:]))])
            batch = batch.to(device, non_blocking=True)
            if device.type == "cuda":
                batch = batch.contiguous(memory_format=torch.channels_last)
            out = model.forward_all(batch)
            for key, value in out.items():
                parts.setdefault(key, []).append(value[:n].float().reshape(n, -1).cpu().numpy())
    n_pooled = model.head[0].in_features
    names = feature_names(name, model_cfg, n_pooled)
    blocks, columns = [], []
    for key, cols in names.items():
        blocks.append(np.concatenate(parts[key]) if parts else np.empty((0, len(cols)), np.float32))
        columns += cols
    matrix = np.concatenate(blocks, axis=1).astype(np.float32)
    with create_store(out_path, {"model": name}) as fh:
        fh.create_dataset("objid", data=ids)
        write_matrix(fh, pd.DataFrame(matrix, columns=columns))
    log.info("%s: %d galaxies x %d features from %s", name, len(ids), len(columns), image_store)
    return len(ids)
