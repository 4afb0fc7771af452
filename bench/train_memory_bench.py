"""Peak memory (max RSS) of ``mlpipe train-cnn`` as the sample grows: each split is held in memory
(host memory on the CPU, and in pinned host memory on a GPU whose free memory it does not fit), so
the peak grows by the images' bytes, N x S x S x 4 for the training and validation galaxies.

Synthetic stores at the paper preset's largest size (197 px, 500 galaxies per store); the network is
the small custom CNN so that the CPU run stays short (the network's own memory does not grow with
the sample); one epoch, batch 64, 2 threads. Run from the repository root:
``python bench/train_memory_bench.py --galaxies 1000 4000``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe import gz2
from mlpipe.cnn.data import GZ2_COLUMNS
from mlpipe.io.store import create_store, store_index

SIZE, PER_STORE = 197, 500


def write_inputs(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    stores = []
    for k, part in enumerate(np.array_split(np.arange(n), max(1, n // PER_STORE))):
        stores.append(folder / f"shard-{k}.h5")
        with create_store(stores[-1]) as fh:
            fh.create_dataset("objid", data=part.astype(np.int64))
            fh.create_dataset(f"images/{SIZE}", data=rng.random((len(part), SIZE, SIZE), dtype=np.float32),
                              chunks=(1, SIZE, SIZE))
    split = rng.choice(["train", "validation", "test"], n, p=[0.81, 0.09, 0.1])
    sample = pd.DataFrame({"objid": np.arange(n), "split": split, "gz2_match": True, "ml": 1.0, "ml_err": 0.1})
    sample[GZ2_COLUMNS] = gz2.normalise(rng.random((n, gz2.N_ANSWERS)))
    sample.to_csv(folder / "sample.csv", index=False)
    store_index(stores).to_csv(folder / "stores.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galaxies", type=int, nargs="+", default=[1000, 4000])
    args = parser.parse_args()
    cnn = {"seed": 0, "compile": "none", "models": {"cnn3": {"architecture": "custom", "image_size": SIZE, "target": "gz2"}},
           "training": {"epochs": 1, "batch_size": 64, "learning_rate": 1e-3, "lr_factor": 0.3, "lr_patience": 4,
                        "augment": True, "zoom_range": [0.7, 1.3]}}
    rows = []
    for n in args.galaxies:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_inputs(folder, n)
            run = subprocess.run(["/usr/bin/time", "-f", "%M %e", sys.executable, "-m", "mlpipe", "train-cnn",
                                  "--config-json", json.dumps({"cnn": cnn}), "--model", "cnn3", "--sample", "sample.csv",
                                  "--store-index", "stores.csv", "--outdir", "out", "--figure", "curve.png",
                                  "--device", "cpu", "--threads", "2"], cwd=folder, capture_output=True, text=True,
                                 env=dict(os.environ), check=False)
            if run.returncode != 0:
                raise RuntimeError(run.stderr[-2000:])
            rss_kb, seconds = run.stderr.strip().splitlines()[-1].split()
            held = int(0.9 * n) * SIZE * SIZE * 4 / 2**20
            rows.append((n, int(rss_kb) / 1024, float(seconds), held))
            print(f"{n:,} galaxies: {rows[-1][1]:,.0f} MB, {seconds} s", file=sys.stderr, flush=True)
    print(f"| galaxies | max RSS | wall | training + validation images at {SIZE} px |\n|---|---|---|---|")
    for n, mb, seconds, held in rows:
        print(f"| {n:,} | {mb:,.0f} MB | {seconds:.0f} s | {held:,.0f} MB |")
    if len(rows) > 1:
        (n1, m1, _, _), (n2, m2, _, _) = rows[0], rows[-1]
        slope = (m2 - m1) / (n2 - n1)
        print(f"\ngrowth {slope * 1024:.0f} KB per galaxy; extrapolated to 75,000 galaxies: "
              f"{m1 + slope * (75_000 - n1):,.0f} MB")


if __name__ == "__main__":
    main()
