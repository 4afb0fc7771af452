"""CNN throughput: extraction from an HDF5 image store against the bare forward pass on the same
images in memory (the data pipeline's overhead), and training images per second.

    python bench/cnn_bench.py --images 512 --batch 64 [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlpipe import gz2
from mlpipe.cnn.data import GZ2_COLUMNS
from mlpipe.cnn.device import pick_device
from mlpipe.cnn.extract import extract_shard
from mlpipe.cnn.models import build_model
from mlpipe.cnn.train import train_model
from mlpipe.io.store import create_store, store_index

MODELS = {"cnn1": ("resnet50", 64), "cnn2": ("xception", 64), "cnn3": ("custom", 69)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", nargs="*", default=None, help="override: name=size, e.g. cnn1=197")
    args = ap.parse_args()
    device = pick_device(args.device)
    sizes = dict(MODELS)
    for item in args.sizes or []:
        name, size = item.split("=")
        sizes[name] = (sizes[name][0], int(size))
    rng = np.random.default_rng(0)
    print(f"device: {device}; {args.images} images, batch {args.batch}, torch threads {torch.get_num_threads()}")
    print("| model | size | bare forward img/s | extraction img/s | overhead | training img/s |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = tmp / "shard-0.h5"
        with create_store(store) as fh:
            fh.create_dataset("objid", data=np.arange(args.images))
            for size in {s for _, s in sizes.values()}:
                fh.create_dataset(f"images/{size}", data=rng.random((args.images, size, size), dtype=np.float32),
                                  chunks=(1, size, size))
        sample = pd.DataFrame({"objid": np.arange(args.images), "gz2_match": True, "ml": 2.0, "ml_err": 0.2,
                               "split": np.where(np.arange(args.images) % 5 == 0, "validation", "train")})
        sample[GZ2_COLUMNS] = gz2.normalise(rng.random((args.images, 37)))
        sample.to_csv(tmp / "sample.csv", index=False)
        for name, (arch, size) in sizes.items():
            cfg = {"architecture": arch, "image_size": size, "target": "gz2"}
            model = build_model(cfg).to(device).eval()
            images = torch.rand(args.images, 1, size, size)
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                model(images[: args.batch].to(device))  # warm-up
                t0 = time.perf_counter()
                for start in range(0, args.images, args.batch):
                    model.forward_all(images[start:start + args.batch].to(device))
                if device.type == "cuda":
                    torch.cuda.synchronize()
                bare = args.images / (time.perf_counter() - t0)
            torch.save({"name": name, "model_cfg": cfg, "state_dict": model.state_dict(), "metrics": {}},
                       tmp / f"{name}.pt")
            t0 = time.perf_counter()
            extract_shard(tmp / f"{name}.pt", store, tmp / f"{name}_features.h5", batch_size=args.batch,
                          device_name=str(device))
            extraction = args.images / (time.perf_counter() - t0)
            cnn_cfg = {"seed": 0, "models": {name: cfg},
                       "training": {"epochs": 1, "batch_size": args.batch, "learning_rate": 1e-3, "lr_factor": 0.3,
                                    "lr_patience": 4, "augment": True, "zoom_range": [0.7, 1.3]}}
            store_index([store]).to_csv(tmp / "stores.csv", index=False)
            train_model(name, cnn_cfg, tmp / "sample.csv", tmp / "stores.csv", tmp / name, device_name=str(device))
            epoch = pd.read_csv(tmp / name / "history.csv")["seconds"].iloc[0]
            n_train = int((sample["split"] == "train").sum())
            print(f"| {name} ({arch}) | {size} | {bare:.0f} | {extraction:.0f} | {bare / extraction - 1:+.0%} | "
                  f"{n_train / epoch:.0f} |")


if __name__ == "__main__":
    main()
