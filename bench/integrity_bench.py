"""Cost of the content hashes: writing an image store with and without its SHA-256 seal, and
verifying it as a reader does (every dataset, read in slabs).

    python bench/integrity_bench.py --galaxies 2000 --sizes 69 128 197 --repeats 3

Prints store size, seal and verify time and throughput; the same for a model.pt of ResNet50's size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from mlpipe.io import integrity
from mlpipe.io.atomic import atomic_path
from mlpipe.io.integrity import load_torch, open_store, save_torch


def write(path: Path, images: dict[int, np.ndarray], seal: bool) -> float:
    t0 = time.perf_counter()
    with atomic_path(path, ".h5") as tmp, h5py.File(tmp, "w") as fh:
        fh.create_dataset("objid", data=np.arange(len(images[next(iter(images))]), dtype=np.int64))
        group = fh.create_group("images")
        for size, data in images.items():
            group.create_dataset(str(size), data=data, chunks=(1, size, size))
        if seal:
            integrity.seal_store(fh)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--galaxies", type=int, default=2000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[69, 128, 197])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    images = {s: rng.random((args.galaxies, s, s), dtype=np.float32) for s in args.sizes}
    mb = sum(a.nbytes for a in images.values()) / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shard.h5"
        plain = min(write(path, images, False) for _ in range(args.repeats))
        sealed = min(write(path, images, True) for _ in range(args.repeats))
        verify = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with open_store(path):
                pass
            verify.append(time.perf_counter() - t0)
        read = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with h5py.File(path, "r") as fh:
                for s in args.sizes:
                    fh["images"][str(s)][()]
            read.append(time.perf_counter() - t0)
        print(f"image store: {args.galaxies} galaxies x {args.sizes} px = {mb:.0f} MB")
        print(f"  write {plain:.2f} s, write + seal {sealed:.2f} s (+{sealed - plain:.2f} s)")
        print(f"  plain read of every image {min(read):.2f} s; verify every dataset {min(verify):.2f} s "
              f"({mb / min(verify):.0f} MB/s)")

        import timm
        import torch

        model = timm.create_model("resnet50", pretrained=False, num_classes=0)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        pt = Path(tmp) / "model.pt"
        t0 = time.perf_counter()
        torch.save({"state_dict": state}, pt)
        bare_save = time.perf_counter() - t0
        t0 = time.perf_counter()
        save_torch({"state_dict": state}, pt)
        hashed_save = time.perf_counter() - t0
        t0 = time.perf_counter()
        torch.load(pt, weights_only=True)
        bare_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_torch(pt)
        hashed_load = time.perf_counter() - t0
        print(f"model.pt ({pt.stat().st_size / 2**20:.0f} MB, ResNet50): save {bare_save:.2f} s -> "
              f"{hashed_save:.2f} s with digest; load {bare_load:.2f} s -> {hashed_load:.2f} s verified")


if __name__ == "__main__":
    main()
