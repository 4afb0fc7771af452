"""Train one CNN: NAdam, learning rate x0.3 after 4 epochs without validation improvement, best
validation checkpoint kept, a checkpoint at the end of an epoch once ``checkpoint_interval_s`` have
passed since the last one, so that a killed job resumes where it stopped.

Each split is read once into memory (on the device when it fits, see ``MemorySplit``); every
epoch's permutation of the training set and its augmentation draw from generators seeded by (seed,
epoch), and the global RNG state is checkpointed, so a resumed run on the CPU equals an
uninterrupted one. The loop never waits for the device within an epoch (losses are summed on it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from mlpipe.cnn.data import GZ2_COLUMNS, MemorySplit, augment, training_table
from mlpipe.cnn.device import arithmetic, autocast, compiled, pick_device
from mlpipe.cnn.models import init_from, model_from_config
from mlpipe.io.atomic import atomic_path, write_csv
from mlpipe.io.integrity import HASH_ATTR, IntegrityError, load_torch, open_store, save_torch

log = logging.getLogger(__name__)


#: seconds of training between checkpoints: a ResNet50 checkpoint (weights, NAdam state, best
#: weights: ~385 MB) takes ~2 s to write, 10 % of a default epoch on 2 CPU cores
CHECKPOINT_INTERVAL_S = 60.0
#: seeds of successive epochs are seed * EPOCH_SEED_STRIDE + epoch: distinct for up to this many epochs
EPOCH_SEED_STRIDE = 1000


def model_seed(base_seed: int, name: str) -> int:
    """One CNN's seed: ``cnn.seed`` plus the character codes of the model's name, so that each model
    draws its own initialisation and batches, the same in every run (no hash randomisation)."""
    return base_seed + sum(map(ord, name))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's batch order and augmentation."""
    return seed * EPOCH_SEED_STRIDE + epoch


def weighted_l1(pred: torch.Tensor, ml: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The paper's loss: mean |Y_pred - Y| / dY (weight = 1 / dY)."""
    return (torch.abs(pred - ml) * weight).mean()


#: what each kind of CNN learns (``cnn.models.<name>.target``): its loss, as the learning curve names it
LOSS_LABELS = {"gz2": "MSE of the 37 GZ2 probabilities", "ml": "weighted L1 of M/L"}


def loss_fn(task: str, pred, truth, weight) -> torch.Tensor:
    """The loss of a CNN that learns ``task``: gz2 (the 37 GZ2 answer probabilities, MSE) or ml
    (M/L, weighted L1)."""
    if task == "gz2":
        return torch.mean((pred - truth) ** 2)
    return weighted_l1(pred, truth, weight)


def _save(obj: dict[str, Any], path: Path) -> None:
    save_torch(obj, path)


def evaluate(model, split: MemorySplit, batch_size: int, task: str, device: torch.device,
             precision: str) -> tuple[float, np.ndarray]:
    """Mean loss over a split (in order) and the stacked predictions, computed in ``precision``
    (bfloat16 or float32); one wait for the device."""
    model.eval()
    total, preds = torch.zeros((), dtype=torch.float64, device=device), []
    with torch.no_grad(), autocast(precision, device):
        for images, truth, weight in split.batches(batch_size):
            images = images.contiguous(memory_format=torch.channels_last)
            pred = model(images).float()
            total += loss_fn(task, pred, truth, weight).detach().double() * len(images)
            preds.append(pred)
    return total.item() / max(len(split), 1), (torch.cat(preds).cpu().numpy() if preds else np.empty(0))


def config_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_fingerprint(name: str, model_cfg: Mapping[str, Any], train_cfg: Mapping[str, Any], seed: int,
                           tables: pd.DataFrame, stores: list[str], parent_digest: str | None) -> str:
    """What a checkpoint must have been made from to be resumed: every setting (the epoch count
    included, so that a shorter run never continues a longer one), the galaxies and what they
    are trained on, and the content of the image stores and parent weights (their recorded digests)."""
    galaxies = pd.util.hash_pandas_object(tables.drop(columns=["store", "row"]), index=False).sum()
    inputs = []
    for store in stores:
        with open_store(store, []) as fh:
            inputs.append(fh.attrs.get(HASH_ATTR, f"{Path(store).stat().st_size}:{Path(store).stat().st_mtime_ns}"))
    return config_hash(name, dict(model_cfg), dict(train_cfg), seed, int(galaxies), inputs, parent_digest)


def training_settings(cnn_cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``cnn.training`` with the keys that model ``name`` sets for itself replaced by its own."""
    model_cfg = cnn_cfg["models"][name]
    return cnn_cfg["training"] | {k: v for k, v in model_cfg.items() if k in cnn_cfg["training"]}


@dataclass
class TrainingState:
    """What the epoch loop carries from one epoch to the next (and a checkpoint restores)."""
    history: list[dict[str, float]] = field(default_factory=list)
    best_loss: float = float("inf")
    best_state: dict[str, torch.Tensor] | None = None
    start_epoch: int = 0


def _splits(name: str, sample_csv: str | Path, store_index_csv: str | Path, task: str, size_px: int,
            device: torch.device) -> tuple[pd.DataFrame, pd.DataFrame, MemorySplit, MemorySplit, list[str]]:
    """The training and validation galaxies (tables and in-memory images) and the stores they come from."""
    sample = pd.read_csv(sample_csv)
    index = pd.read_csv(store_index_csv)
    stores = sorted(index["store"].unique())
    train_table = training_table(sample, index, task, "train")
    val_table = training_table(sample, index, task, "validation")
    if len(train_table) == 0 or len(val_table) == 0:
        raise ValueError(f"{name}: no training or validation galaxies with images for target {task}")
    log.info("%s: %d training and %d validation galaxies at %d px", name, len(train_table), len(val_table), size_px)
    return (train_table, val_table, MemorySplit(train_table, size_px, task, device),
            MemorySplit(val_table, size_px, task, device), stores)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """``optimizer.load_state_dict`` that leaves NAdam's running product of momentum factors on the
    host, where a fresh optimizer keeps it: loading moves every state tensor but ``step`` to its
    parameter's device, and NAdam reads ``mu_product`` as a number for every parameter at every
    step, which on a GPU would wait for the device ~160 times per ResNet50 step."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        if group.get("capturable"):
            continue
        for param in group["params"]:
            param_state = optimizer.state.get(param, {})
            if "mu_product" in param_state:
                param_state["mu_product"] = param_state["mu_product"].cpu()


def _resume(ckpt_path: Path, fingerprint: str, name: str, model: torch.nn.Module, optimizer, scheduler) -> TrainingState:
    """The state of the last checkpoint made from the same inputs (model, optimiser, scheduler and
    RNG restored), else a fresh start."""
    ckpt = _load_checkpoint(ckpt_path)
    if ckpt is None:
        return TrainingState()
    if ckpt.get("fingerprint") != fingerprint:
        log.info("%s: ignoring a checkpoint made with other settings", name)
        return TrainingState()
    model.load_state_dict(ckpt["state_dict"])
    load_optimizer_state(optimizer, ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["rng"])
    log.info("%s: resuming after epoch %d from %s", name, ckpt["epoch"] + 1, ckpt_path)
    return TrainingState(ckpt["history"], ckpt["best_loss"], ckpt["best_state"], ckpt["epoch"] + 1)


def _train_epochs(name: str, *, model: torch.nn.Module, forward, optimizer, scheduler, state: TrainingState,
                  train_split: MemorySplit, val_split: MemorySplit, task: str, train_cfg: Mapping[str, Any],
                  seed: int, device: torch.device, precision: str, fingerprint: str, ckpt_path: Path,
                  checkpoint_interval_s: float) -> None:
    """The epochs from ``state.start_epoch`` on, updating ``state``; a checkpoint after an epoch
    once ``checkpoint_interval_s`` have passed since the last one (never after the last epoch: the
    outputs follow it)."""
    batch_size = train_cfg["batch_size"]
    last_checkpoint = time.monotonic()
    for epoch in range(state.start_epoch, train_cfg["epochs"]):
        t0 = time.time()
        model.train()
        aug_gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        order_gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        total = torch.zeros((), dtype=torch.float64, device=device)
        for images, truth, weight in train_split.batches(batch_size, order_gen):
            if train_cfg["augment"]:
                images = augment(images, aug_gen, train_cfg["zoom_range"])
            images = images.contiguous(memory_format=torch.channels_last)
            with autocast(precision, device):
                pred = forward(images).float()
            loss = loss_fn(task, pred, truth, weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach().double() * len(images)
        train_loss = total.item() / len(train_split)
        val_loss, _ = evaluate(forward, val_split, batch_size, task, device, precision)
        scheduler.step(val_loss)
        lr = optimizer.param_groups[0]["lr"]
        state.history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                              "lr": lr, "seconds": time.time() - t0})
        log.info("%s epoch %d/%d: train %.5f, validation %.5f, lr %.2e, %.1f s", name, epoch + 1,
                 train_cfg["epochs"], train_loss, val_loss, lr, time.time() - t0)
        if val_loss < state.best_loss:
            state.best_loss = val_loss
            state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if epoch + 1 == train_cfg["epochs"] or time.monotonic() - last_checkpoint < checkpoint_interval_s:
            continue
        _save({"fingerprint": fingerprint, "epoch": epoch, "state_dict": model.state_dict(),
               "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "rng": torch.get_rng_state(), "history": state.history, "best_loss": state.best_loss,
               "best_state": state.best_state}, ckpt_path)
        last_checkpoint = time.monotonic()


def _save_outputs(out_dir: Path, name: str, model_cfg: Mapping[str, Any], state: TrainingState,
                  metrics: dict[str, float], precision: str) -> None:
    """model.pt (the best epoch's weights, and the ``precision`` it was trained in), history.csv and metrics.json."""
    _save({"name": name, "model_cfg": dict(model_cfg), "state_dict": state.best_state, "metrics": metrics,
           "precision": precision},
          out_dir / "model.pt")
    write_csv(pd.DataFrame(state.history), out_dir / "history.csv")
    with atomic_path(out_dir / "metrics.json", ".json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))


def train_model(name: str, *, cnn_cfg: Mapping[str, Any], sample_csv: str | Path, store_index_csv: str | Path,
                out_dir: str | Path, init_state: str | Path | None = None,
                device_name: str = "auto", checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S) -> dict[str, float]:
    """The stage's entry point: train model ``name`` of ``cnn_cfg['models']`` (the ``cnn`` config
    section) and write model.pt, history.csv and metrics.json to ``out_dir``.

    ``sample_csv``: the sample (objid, split, gz2_match, the 37 ``gz2_*`` answer probabilities,
    ``ml`` and ``ml_err`` in solar units); ``store_index_csv``: each galaxy's place in the image
    stores (objid, store, row; written by ``index-image-stores``), whose ``images/<image_size>``
    datasets (n, image_size, image_size) are the inputs. ``init_state``: a model.pt to start from
    (CNN 4 from CNN 1). ``device_name``: auto, cpu, cuda or cuda:N; ``cnn_cfg['compile']`` (none,
    or a torch.compile mode) applies on CUDA only; ``cnn_cfg['precision']`` (auto, float32 or
    bfloat16; :data:`mlpipe.cnn.device.PRECISIONS`) sets the arithmetic, recorded in model.pt. A
    checkpoint is written after an epoch once ``checkpoint_interval_s`` seconds have passed since
    the last one (0: after every epoch but the last); one made from the same inputs is resumed.
    Returns the validation metrics (those of metrics.json).
    """
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "checkpoint" / "last.pt"
    model_cfg = cnn_cfg["models"][name]
    train_cfg = training_settings(cnn_cfg, name)
    task, size_px = model_cfg["target"], model_cfg["image_size"]
    seed = model_seed(cnn_cfg["seed"], name)
    device = pick_device(device_name)
    requested = cnn_cfg.get("precision", "auto")
    precision = arithmetic(requested, device)
    log.info("%s computes in %s (cnn.precision: %s)", name, precision, requested)
    torch.manual_seed(seed)
    train_table, val_table, train_split, val_split, stores = _splits(name, sample_csv, store_index_csv, task, size_px,
                                                                     device)

    model = model_from_config(model_cfg)
    parent = load_torch(init_state, "parent CNN model file") if init_state is not None else None
    if parent is not None:
        init_from(model, parent["state_dict"])
        log.info("%s starts from %s", name, init_state)
    model = model.to(device, memory_format=torch.channels_last)
    forward = compiled(model, cnn_cfg.get("compile", "none"), device)
    optimizer = torch.optim.NAdam(model.parameters(), lr=train_cfg["learning_rate"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=train_cfg["lr_factor"],
                                                           patience=train_cfg["lr_patience"])
    for store in stores:  # every image the training reads, checked against its store's digest once
        with open_store(store, ["objid", f"images/{size_px}"]):
            pass
    fingerprint = checkpoint_fingerprint(name, model_cfg, train_cfg | {"precision": precision}, cnn_cfg["seed"],
                                         pd.concat([train_table, val_table]), stores,
                                         parent and parent.get(HASH_ATTR))
    state = _resume(ckpt_path, fingerprint, name, model, optimizer, scheduler)
    _train_epochs(name, model=model, forward=forward, optimizer=optimizer, scheduler=scheduler, state=state,
                  train_split=train_split, val_split=val_split, task=task, train_cfg=train_cfg, seed=seed,
                  device=device, precision=precision, fingerprint=fingerprint, ckpt_path=ckpt_path,
                  checkpoint_interval_s=checkpoint_interval_s)

    model.load_state_dict(state.best_state)
    _, val_pred = evaluate(forward, val_split, train_cfg["batch_size"], task, device, precision)
    metrics = validation_metrics(task, val_pred, train_table, val_table) | {"best_val_loss": state.best_loss}
    _save_outputs(out_dir, name, model_cfg, state, metrics, precision)
    log.info("%s validation metrics: %s", name, metrics)
    return metrics


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The last checkpoint, or None when there is none or it is damaged (training then starts
    afresh, which gives the same model)."""
    if not path.exists():
        return None
    try:
        return load_torch(path, "training checkpoint")
    except IntegrityError as err:
        log.warning("ignoring the checkpoint: %s", err)
        return None


def validation_metrics(task: str, pred: np.ndarray, train: pd.DataFrame, val: pd.DataFrame) -> dict[str, float]:
    """The model against the simplest baseline: predicting the training mean (GZ2) or the
    training set's weighted median (M/L)."""
    if task == "gz2":
        truth = val[GZ2_COLUMNS].to_numpy()
        mean = train[GZ2_COLUMNS].to_numpy().mean(axis=0)
        return {"rmse": float(np.sqrt(np.mean((pred - truth) ** 2))),
                "rmse_training_mean": float(np.sqrt(np.mean((mean - truth) ** 2)))}
    y, dy = val["ml"].to_numpy(), val["ml_err"].to_numpy()
    order = np.argsort(train["ml"].to_numpy())
    weights = (1.0 / train["ml_err"].to_numpy())[order]
    median = train["ml"].to_numpy()[order][np.searchsorted(np.cumsum(weights), 0.5 * weights.sum())]
    return {"l1": float(np.mean(np.abs(pred - y) / dy)),
            "l1_constant": float(np.mean(np.abs(median - y) / dy))}
