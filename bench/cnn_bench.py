"""The CNN stages of a preset against the device's own limit, per model and in one run.

For each CNN of the preset (its architecture, image size and training settings):
- **device limit**: the bare forward pass on images already on the device (channels-last, and
  bfloat16 autocast where ``cnn.precision`` gives it, as in the workflow), and one training step
  (forward, backward, NAdam) at the preset's batch size;
- **store stream**: extraction's reading of the stores alone (one read and the digest check per
  store, into pinned memory on CUDA) with 1 and 2 reader threads: the host side's ceiling;
- **extraction as the workflow runs it**: ``mlpipe extract-features`` as a whole process (start-up
  included) over ``--shards`` synthetic image stores of the preset's shard size; the process's own
  log gives the rate after its start-up;
- **training**: ``train_model`` on the same stores at the preset's settings (batch size,
  augmentation, split fractions), images/s of the last of ``--epochs`` epochs (validation included);
- the **projected wall time** of the preset's CNN stages on this device: every model's epochs over
  the preset's training set, and its extraction over all galaxies, one after the other.

``--parts`` picks some of these (the projection needs extraction and training). A model whose
measurement fails is reported as failed (its traceback on stderr) and the others
still run; the command then exits with 1. With ``--json``, the numbers so far are written after
each model.

It also measures, in a fresh interpreter, the fixed start-up cost every CNN process pays (import
torch, import timm, building each network).

    python bench/cnn_bench.py --device cuda --preset config/paper.yaml   # < 5 min on one H100
    python bench/cnn_bench.py --device cpu --preset tests/configs/tiny.yaml --models cnn3 \\
        --shards 2 --shard-galaxies 24 --galaxies 1130                    # seconds, on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlpipe import gz2
from mlpipe.cnn.data import GZ2_COLUMNS, StoreStream, augment
from mlpipe.cnn.device import PRECISIONS, arithmetic, autocast, compiled, pick_device
from mlpipe.cnn.models import model_from_config
from mlpipe.cnn.train import loss_fn, train_model, training_settings
from mlpipe.config import load_merged
from mlpipe.io.store import create_store, store_index

REPO = Path(__file__).resolve().parents[1]
PAPER_GALAXIES = 75_000   # the paper preset's sample (config/paper.yaml)
PARTS = ("limit", "stream", "extraction", "training")

STARTUP = r"""
import json, sys, time
t0 = time.perf_counter(); import torch; t1 = time.perf_counter()
import timm; t2 = time.perf_counter()
from mlpipe.cnn.models import model_from_config; t3 = time.perf_counter()
out = {"import torch": t1 - t0, "import timm": t2 - t1, "import mlpipe.cnn": t3 - t2}
if sys.argv[1] == "cuda":
    t = time.perf_counter(); torch.zeros(1, device="cuda"); torch.cuda.synchronize()
    out["CUDA context"] = time.perf_counter() - t
for name, cfg in json.loads(sys.argv[2]).items():
    t = time.perf_counter(); model_from_config(cfg, pretrained=False); out[f"build {name}"] = time.perf_counter() - t
print(json.dumps(out))
"""


def env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_rate(step, n_per_call: int, device: torch.device, seconds: float, min_calls: int = 3) -> float:
    """Items per second of ``step`` after two warm-up calls, over at least ``min_calls`` calls and
    ``seconds`` of wall time (one wait for the device at the end of each round)."""
    step(), step()
    sync(device)
    calls, t0 = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < seconds:
        for _ in range(min_calls):
            step()
        calls += min_calls
        sync(device)
    return calls * n_per_call / (time.perf_counter() - t0)


def device_limit(cfg: dict, train_cfg: dict, device: torch.device, batch: int, seconds: float,
                 compile_mode: str, precision: str) -> tuple[float, float]:
    """(bare forward img/s at ``batch``, training step img/s at the preset's batch size) on
    synthetic images already on the device, in the arithmetic ``precision`` (``cnn.precision``) gives."""
    computed_in = arithmetic(precision, device)
    model = model_from_config(cfg, pretrained=False).to(device, memory_format=torch.channels_last)
    forward = compiled(model, compile_mode, device)
    size = cfg["image_size"]
    images = torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=torch.channels_last)

    model.eval()

    def infer():
        with torch.inference_mode(), autocast(computed_in, device):
            forward(images)

    bare = timed_rate(infer, batch, device, seconds)
    print(f"  bare forward: {bare:,.0f} img/s", flush=True)
    model.train()
    n = train_cfg["batch_size"]
    x = torch.rand(n, 1, size, size, device=device)
    y = torch.rand(n, gz2.N_ANSWERS, device=device) if cfg["target"] == "gz2" else torch.rand(n, device=device)
    w = torch.ones(n, device=device)
    optimizer = torch.optim.NAdam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def train_step():
        batch_images = augment(x, generator, train_cfg["zoom_range"]).contiguous(memory_format=torch.channels_last)
        with autocast(computed_in, device):
            pred = forward(batch_images).float()
        loss = loss_fn(cfg["target"], pred, y, w)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step = timed_rate(train_step, n, device, seconds)
    return bare, step


def write_stores(folder: Path, shards: int, per_shard: int, sizes: set[int], fractions: tuple[float, float]) -> pd.DataFrame:
    """Synthetic image stores shard-K.h5 (the preprocessing layout) and their sample table."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(shards):
        with create_store(folder / f"shard-{k}.h5") as fh:
            fh.create_dataset("objid", data=np.arange(k * per_shard, (k + 1) * per_shard, dtype=np.int64))
            for size in sizes:
                fh.create_dataset(f"images/{size}", data=rng.random((per_shard, size, size), dtype=np.float32),
                                  chunks=(1, size, size))
    n = shards * per_shard
    test, validation = fractions
    split = rng.choice(["train", "validation", "test"], n,
                       p=[(1 - test) * (1 - validation), (1 - test) * validation, test])
    sample = pd.DataFrame({"objid": np.arange(n), "split": split, "gz2_match": True,
                           "ml": rng.lognormal(0, 0.3, n), "ml_err": 0.1})
    sample[GZ2_COLUMNS] = gz2.normalise(rng.random((n, gz2.N_ANSWERS)))
    return sample


def extraction_process(name: str, cnn_cfg: dict, model_file: Path, images: Path, shards: int, out: Path,
                       device: torch.device, threads: int | None) -> dict[str, float]:
    """Run ``mlpipe extract-features`` as the rule does; wall time, and the loop's own time from its log."""
    args = [sys.executable, "-m", "mlpipe", "extract-features", "--config-json", json.dumps({"cnn": cnn_cfg}),
            "--model-file", str(model_file), "--images-dir", str(images), "--shards", str(shards),
            "--outdir", str(out), "--device", str(device)]
    if threads:
        args += ["--threads", str(threads)]
    t0 = time.perf_counter()
    run = subprocess.run(args, capture_output=True, text=True, env=env(), check=False)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(f"extract-features {name} failed:\n{run.stderr[-3000:]}")
    found = re.search(r": (\d+) galaxies x \d+ features from (\d+) stores; start-up ([\d.]+) s .*extraction ([\d.]+) s",
                      run.stderr)
    if not found or int(found.group(2)) != shards or len(list(out.glob("shard-*.h5"))) != shards:
        raise RuntimeError(f"extract-features {name} did not report or write {shards} stores:\n{run.stderr[-3000:]}")
    galaxies, loop = int(found.group(1)), float(found.group(4))
    return {"galaxies": galaxies, "wall_s": wall, "loop_s": loop, "startup_s": wall - loop}


def stream_rate(images: Path, shards: int, size: int, device: torch.device, readers: int) -> float:
    """Images/s of extraction's store stream alone (read, digest check, into pinned memory on
    CUDA): the host side's ceiling on the extraction rate."""
    paths = [images / f"shard-{k}.h5" for k in range(shards)]
    t0, n = time.perf_counter(), 0
    for _path, ids, _images in StoreStream(paths, size, pin=device.type == "cuda", readers=readers):
        n += len(ids)
    return n / (time.perf_counter() - t0)


def measure_model(name: str, model_cfg: dict, cnn_cfg: dict, tmp: Path, sample: pd.DataFrame,
                  args: argparse.Namespace, device: torch.device, n_train_preset: float) -> dict:
    """The measurements of ``args.parts`` for one CNN of the preset (see the module's docstring);
    the projection needs the extraction and the training."""
    train_cfg = training_settings(cnn_cfg, name)
    r = {"architecture": model_cfg["architecture"], "size": model_cfg["image_size"],
         "batch": train_cfg["batch_size"], "epochs": train_cfg["epochs"]}
    if "limit" in args.parts:
        r["bare_forward_img_s"], r["train_step_img_s"] = device_limit(model_cfg, train_cfg, device, args.forward_batch,
                                                                      args.seconds, args.compile,
                                                                      cnn_cfg.get("precision", "auto"))
        print(f"{name} device limit: bare forward {r['bare_forward_img_s']:,.0f} img/s (batch {args.forward_batch}), "
              f"training step {r['train_step_img_s']:,.0f} img/s (batch {r['batch']})", flush=True)
    if "stream" in args.parts:
        for readers in (1, 2):
            r[f"stream_img_s_{readers}_readers"] = stream_rate(tmp / "images", args.shards, model_cfg["image_size"],
                                                               device, readers)
        print(f"{name} store stream alone (read + digest check): "
              f"{r['stream_img_s_1_readers']:,.0f} img/s with 1 reader, {r['stream_img_s_2_readers']:,.0f} with 2",
              flush=True)
    if "extraction" in args.parts:
        model_file = tmp / f"{name}.pt"
        torch.save({"name": name, "model_cfg": dict(model_cfg),
                    "state_dict": model_from_config(model_cfg, pretrained=False).state_dict(), "metrics": {}},
                   model_file)
        extraction = extraction_process(name, cnn_cfg, model_file, tmp / "images", args.shards,
                                        tmp / "features" / name, device, args.threads)
        r["extraction"] = extraction
        r["extraction_img_s_with_startup"] = extraction["galaxies"] / extraction["wall_s"]
        r["extraction_img_s_after_startup"] = extraction["galaxies"] / extraction["loop_s"]
        extraction_s = extraction["startup_s"] + args.galaxies / r["extraction_img_s_after_startup"]
        r["extraction_img_s_preset_with_startup"] = args.galaxies / extraction_s
        print(f"{name} extraction: {extraction}", flush=True)
    if "training" in args.parts:
        measured = {k: v for k, v in model_cfg.items() if k != "init_from"} | {"epochs": args.epochs}
        one = {"models": {name: measured},
               "training": cnn_cfg["training"] | {"epochs": args.epochs}, "seed": 0, "compile": args.compile,
               "precision": cnn_cfg.get("precision", "auto")}
        train_model(name, cnn_cfg=one, sample_csv=tmp / "sample.csv", store_index_csv=tmp / "stores.csv",
                    out_dir=tmp / "train" / name, device_name=str(device))
        history = pd.read_csv(tmp / "train" / name / "history.csv")
        r["training_img_s"] = int((sample["split"] == "train").sum()) / history["seconds"].iloc[-1]
        print(f"{name} training: {r['training_img_s']:,.0f} img/s (epoch {len(history)})", flush=True)
    if {"extraction", "training"} <= set(args.parts):
        r["projected"] = {"training_s": r["epochs"] * n_train_preset / r["training_img_s"],
                          "extraction_s": extraction_s}
    return r


def _rate(r: dict, key: str) -> str:
    return f"{r[key]:,.0f}" if key in r else "-"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default=str(REPO / "config" / "paper.yaml"),
                    help="config merged over workflow_config.yaml (models, sizes, training settings)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", nargs="*", help="default: every CNN of the preset")
    ap.add_argument("--galaxies", type=int, default=PAPER_GALAXIES, help="the preset's sample, for the projection")
    ap.add_argument("--shards", type=int, default=8, help="image stores extracted by one process")
    ap.add_argument("--shard-galaxies", type=int, help="galaxies per store (default: the preset's galaxies per shard)")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs measured (the last one counts)")
    ap.add_argument("--forward-batch", type=int, default=256, help="batch of the bare forward pass")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum time per device-limit measurement")
    ap.add_argument("--compile", default="none", help="cnn.compile mode for every measurement (CUDA only)")
    ap.add_argument("--precision", choices=PRECISIONS, help="cnn.precision for every measurement (default: the preset's)")
    ap.add_argument("--threads", type=int, help="CPU threads for torch, here and in the extraction process")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                    help="what to measure (the projection needs extraction and training)")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_merged(REPO / "workflow_config.yaml", args.preset)
    cnn_cfg = cfg["cnn"] | {"compile": args.compile, "precision": args.precision or cfg["cnn"].get("precision", "auto")}
    names = args.models or list(cnn_cfg["models"])
    per_shard = args.shard_galaxies or round(args.galaxies / cfg["catalog"]["n_shards"])
    device = pick_device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    fractions = (cfg["catalog"]["test_fraction"], cfg["catalog"]["validation_fraction"])
    n_train_preset = args.galaxies * (1 - fractions[0]) * (1 - fractions[1])
    t_start = time.perf_counter()
    print(f"device: {device} ({gpu}); preset {args.preset}; {args.shards} stores x {per_shard} galaxies; "
          f"torch {torch.__version__}; compile {args.compile}; precision {cnn_cfg['precision']} "
          f"({arithmetic(cnn_cfg['precision'], device)} here)", flush=True)

    models = {name: cnn_cfg["models"][name] for name in names}
    startup = subprocess.run([sys.executable, "-c", STARTUP, device.type, json.dumps(models)],
                             capture_output=True, text=True, env=env(), check=False)
    if startup.returncode != 0:
        raise RuntimeError(startup.stderr[-3000:])
    startup = json.loads(startup.stdout)
    print("\nfixed start-up of one CNN process (fresh interpreter): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in startup.items()), flush=True)

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="cnn-bench-") as tmp:
        tmp = Path(tmp)
        sample = write_stores(tmp / "images", args.shards, per_shard, {m["image_size"] for m in models.values()},
                              fractions)
        sample.to_csv(tmp / "sample.csv", index=False)
        store_index(sorted((tmp / "images").glob("shard-*.h5"))).to_csv(tmp / "stores.csv", index=False)
        for name, model_cfg in models.items():
            try:
                results[name] = measure_model(name, model_cfg, cnn_cfg, tmp, sample, args, device, n_train_preset)
            except Exception as err:  # noqa: BLE001 (one model's failure is reported; the others still run)
                traceback.print_exc()
                results[name] = {"error": f"{type(err).__name__}: {err}"[:300]}
            print(f"{name} done ({time.perf_counter() - t_start:.0f} s so far)", flush=True)
            if args.json:   # what is measured so far survives a run cut short
                Path(args.json).write_text(json.dumps({"device": gpu, "models": results}, indent=2))

    print(f"\n| model | size | bare forward img/s (batch {args.forward_batch}) | training step img/s | "
          "store stream img/s (2 readers) | "
          f"extraction img/s, whole process over {args.shards} stores | after start-up | start-up s | "
          f"whole process over {args.galaxies:,} galaxies (projected) | training img/s | "
          f"projected: {args.galaxies:,} galaxies |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    total = 0.0
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | failed: {r['error']} |")
            continue
        p = r.get("projected")
        total += p["training_s"] + p["extraction_s"] if p else 0.0
        e = r.get("extraction", {})
        cells = [f"{name} ({r['architecture']})", r["size"], _rate(r, "bare_forward_img_s"),
                 f"{_rate(r, 'train_step_img_s')} (batch {r['batch']})", _rate(r, "stream_img_s_2_readers"),
                 _rate(r, "extraction_img_s_with_startup"),
                 _rate(r, "extraction_img_s_after_startup"), f"{e['startup_s']:.1f}" if e else "-",
                 _rate(r, "extraction_img_s_preset_with_startup"), _rate(r, "training_img_s"),
                 f"{r['epochs']} epochs {p['training_s'] / 60:.1f} min + extraction {p['extraction_s'] / 60:.1f} min"
                 if p else "-"]
        print("| " + " | ".join(map(str, cells)) + " |")
    measured = [name for name, r in results.items() if "projected" in r]
    if measured:
        print(f"\nprojected CNN stages of the preset on this device ({', '.join(measured)}, one after the other): "
              f"{total / 60:.1f} min", end="; ")
    print(f"bench wall time {time.perf_counter() - t_start:.0f} s")
    report = {"device": gpu, "preset": args.preset, "compile": args.compile, "precision": cnn_cfg["precision"],
              "startup_s": startup,
              "models": results, "projected_total_s": total, "bench_wall_s": time.perf_counter() - t_start}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(1 if any("error" in r for r in main()["models"].values()) else 0)
