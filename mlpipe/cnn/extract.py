"""Run a trained CNN over image stores and write each store's features with readable names.

One process extracts one model over every shard: the start-up (importing torch and timm, building
the network, loading its weights, the first batch's kernel selection) is paid once per model, not
once per shard. Stores stream from disk on up to four reader threads, each read once and checked
against its digest as it is read; each is copied to the device in one asynchronous block, and its
features come back one store behind, so the device never waits on the host within a store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlpipe import gz2
from mlpipe.cnn.data import StoreStream
from mlpipe.cnn.device import arithmetic, autocast, compiled, pick_device
from mlpipe.cnn.models import MorphologyNet, model_from_config
from mlpipe.io.integrity import load_torch
from mlpipe.io.store import create_store, write_matrix

log = logging.getLogger(__name__)

#: images per forward pass for a config without ``cnn.extraction_batch_size`` (one written before it existed)
EXTRACTION_BATCH_SIZE = 64


def extraction_batch_size(cnn_cfg: dict) -> int:
    """Images per forward pass of the ``cnn`` config section: the same in the workflow and in
    `mlpipe predict`, which reproduces its features."""
    return int(cnn_cfg.get("extraction_batch_size", EXTRACTION_BATCH_SIZE))


def feature_names(name: str, *, task: str, export_pooled: bool, n_pooled: int) -> dict[str, list[str]]:
    """Column names per output of model ``name`` (``task`` gz2 or ml; the ``n_pooled`` pooled
    features when ``export_pooled``): ``cnn1_gz2_q01_smooth_or_features_smooth``, ``cnn1_pool_0042``..."""
    names: dict[str, list[str]] = {}
    if task == "gz2":
        names["output"] = [f"{name}_gz2_{a}" for a in gz2.answer_names()]
    else:
        names["hidden"] = [f"{name}_hidden_{i:02d}" for i in range(gz2.N_ANSWERS)]
        names["output"] = [f"{name}_ml"]
    if export_pooled:
        names["pooled"] = [f"{name}_pool_{i:04d}" for i in range(n_pooled)]
    return names


def load_trained(model_path: str | Path, device: torch.device) -> tuple[str, dict, MorphologyNet]:
    """(name, model config, network in eval mode on ``device``) of a model.pt written by train-cnn."""
    saved = load_torch(model_path, "CNN model file")
    name, model_cfg = saved["name"], saved["model_cfg"]
    model = model_from_config(model_cfg, pretrained=False)
    model.load_state_dict(saved["state_dict"])
    model = model.to(device, memory_format=torch.channels_last).eval()
    return name, model_cfg, model


def _forward_padded(forward, images: torch.Tensor, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Every output of ``forward`` for one store's images (N, 1, S, S), as float32 (N, F) tensors
    on the device.

    Every batch gets the same shape (the last one is padded with blank images): the matrix
    products' blocking follows the batch size, so unpadded, a galaxy's features would depend (in
    the last float32 digit) on how many galaxies share its store, and `mlpipe predict` could not
    reproduce the workflow."""
    n = len(images)
    n_batches = -(-n // batch_size)
    padded = torch.zeros((n_batches * batch_size, *images.shape[1:]), dtype=images.dtype, device=device)
    padded[:n].copy_(images, non_blocking=True)
    parts: dict[str, list[torch.Tensor]] = {}
    for b in range(n_batches):
        batch = padded[b * batch_size:(b + 1) * batch_size].contiguous(memory_format=torch.channels_last)
        for key, value in forward(batch).items():
            parts.setdefault(key, []).append(value.float().reshape(batch_size, -1))
    return {key: torch.cat(values)[:n] for key, values in parts.items()}


def _to_host(outputs: dict[str, torch.Tensor], device: torch.device):
    """Start copying a store's outputs to host memory; return them and an event to wait on."""
    if device.type != "cuda":
        return outputs, None
    host = {}
    for key, value in outputs.items():
        host[key] = torch.empty(value.shape, dtype=value.dtype, pin_memory=True)
        host[key].copy_(value, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return host, event


def _write(out_path, name: str, ids: np.ndarray, outputs: dict[str, torch.Tensor], event,
           names: dict[str, list[str]], precision: str) -> None:
    """Write ``objid`` and a ``features`` matrix (float32) with its ``columns`` attribute; the
    store's attributes name the model and the ``precision`` it ran in."""
    if event is not None:
        event.synchronize()
    blocks, columns = [], []
    for key, cols in names.items():
        blocks.append(outputs[key].numpy() if key in outputs else np.empty((len(ids), len(cols)), np.float32))
        columns += cols
    matrix = np.concatenate(blocks, axis=1).astype(np.float32)
    with create_store(out_path, {"model": name, "precision": precision}) as fh:
        fh.create_dataset("objid", data=ids)
        write_matrix(fh, pd.DataFrame(matrix, columns=columns))


def extract_stores(model_path: str | Path, *, image_stores: Sequence[str | Path], out_paths: Sequence[str | Path],
                   batch_size: int = EXTRACTION_BATCH_SIZE, device_name: str = "auto",
                   compile_mode: str = "none", precision: str = "auto") -> int:
    """The stage's entry point: write the features of every galaxy of ``image_stores[k]`` to
    ``out_paths[k]`` with the network of ``model_path`` (a model.pt of train-cnn); return the
    number of galaxies.

    Each image store holds ``objid`` (n,) and ``images/<S>`` (n, S, S) at the model's image size;
    each feature store gets ``objid`` (n,) and a float32 ``features`` matrix (n, n_features) whose
    columns are named by :func:`feature_names`. ``device_name``: auto, cpu, cuda or cuda:N;
    ``compile_mode``: none, or a torch.compile mode (default, reduce-overhead = CUDA graphs,
    max-autotune), used on CUDA only; ``precision``: ``cnn.precision`` (auto, float32, bfloat16)."""
    if len(image_stores) != len(out_paths):
        raise ValueError(f"{len(image_stores)} image stores but {len(out_paths)} output paths")
    t_start = time.perf_counter()
    device = pick_device(device_name)
    name, model_cfg, model = load_trained(model_path, device)
    names = feature_names(name, task=model_cfg["target"], export_pooled=bool(model_cfg.get("export_pooled")),
                          n_pooled=model.head[0].in_features)
    forward = compiled(model.forward_all, compile_mode, device)
    t_ready = time.perf_counter()
    total, pending = 0, None
    computed_in = arithmetic(precision, device)
    log.info("%s computes in %s (cnn.precision: %s)", name, computed_in, precision)
    with torch.inference_mode(), autocast(computed_in, device):
        # Every store is checked against its recorded digest as the stream reads it.
        stream = StoreStream(image_stores, model_cfg["image_size"], pin=device.type == "cuda")
        for (_store, ids, images), out_path in zip(stream, out_paths):
            outputs = _to_host(_forward_padded(forward, images, batch_size, device), device)
            if pending is not None:   # the previous store: its copy is done by now, write it
                _write(*pending, names, computed_in)
            pending = (out_path, name, ids, *outputs)
            total += len(ids)
        if pending is not None:
            _write(*pending, names, computed_in)
    t_end = time.perf_counter()
    log.info("%s: %d galaxies x %d features from %d stores; start-up %.2f s (device, model), "
             "extraction %.2f s (%.0f galaxies/s)", name, total, sum(map(len, names.values())), len(out_paths),
             t_ready - t_start, t_end - t_ready, total / max(t_end - t_ready, 1e-9))
    return total


def extract_shard(model_path: str | Path, *, image_store: str | Path, out_path: str | Path,
                  batch_size: int = EXTRACTION_BATCH_SIZE, device_name: str = "auto",
                  compile_mode: str = "none", precision: str = "auto") -> int:
    """One store's features, as :func:`extract_stores` writes them (what `mlpipe predict` runs on
    the new galaxies)."""
    return extract_stores(model_path, image_stores=[image_store], out_paths=[out_path], batch_size=batch_size,
                          device_name=device_name, compile_mode=compile_mode, precision=precision)
