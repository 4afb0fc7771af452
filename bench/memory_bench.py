"""Peak memory (max RSS) of the stages that see the whole sample, as it grows from 1,000 to
75,000 galaxies: the features table (gbm-table) and one LightGBM predictor (train-predictor,
g_morph: ~2,200 features). Inputs are synthetic stores in the workflow's own layout (4 shards,
the four CNNs' feature stores with 2,048 pooled ResNet features); the real commands run on them
under /usr/bin/time. Per-shard stages (preprocess, extraction) see one shard whatever the sample
size, so their memory is flat by construction: their numbers at one shard size are in the table too.

Run from the repository root: ``python bench/memory_bench.py --galaxies 1000 10000 75000``.
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
from mlpipe.cnn.extract import feature_names
from mlpipe.gbm.table import IMAGE_STATS, LUMINOSITY
from mlpipe.io.store import create_store, write_matrix, write_table

MODELS = {"cnn1": {"target": "gz2", "export_pooled": True}, "cnn2": {"target": "gz2"},
          "cnn3": {"target": "gz2"}, "cnn4": {"target": "ml"}}


def write_inputs(folder: Path, n: int, shards: int = 4, seed: int = 0) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype=np.int64) + 10**18
    split = rng.choice(["train", "validation", "test"], n, p=[0.81, 0.09, 0.1])
    sample = pd.DataFrame({"objid": ids, "split": split, "ml": rng.lognormal(0, 0.4, n), "z": rng.uniform(0.01, 0.2, n),
                           "pixel_kpc": rng.uniform(0.1, 1.0, n), "gz2_match": True})
    sample["ml_err"] = 0.1 * sample["ml"]
    for band in "ugriz":
        sample[f"lum_{band}"] = rng.lognormal(22, 1, n)
    for answer in gz2.answer_names():
        sample[f"gz2_{answer}"] = rng.random(n)
    sample.to_csv(folder / "sample.csv", index=False)
    paths: dict[str, list[str]] = {"images": [], "features": []}
    for k, part in enumerate(np.array_split(np.arange(n), shards)):
        path = folder / f"images-{k}.h5"
        with create_store(path) as fh:
            fh.create_dataset("objid", data=ids[part])
            write_table(fh, "features", pd.DataFrame(rng.random((len(part), len(LUMINOSITY) + len(IMAGE_STATS))),
                                                     columns=LUMINOSITY + IMAGE_STATS))
        paths["images"].append(str(path))
        for name, cfg in MODELS.items():
            columns = [c for cols in feature_names(name, cfg, 2048).values() for c in cols]
            path = folder / f"{name}-{k}.h5"
            with create_store(path, {"model": name}) as fh:
                fh.create_dataset("objid", data=ids[part])
                write_matrix(fh, pd.DataFrame(rng.random((len(part), len(columns)), dtype=np.float32), columns=columns))
            paths["features"].append(str(path))
    return paths


def peak_mb(args: list[str], cwd: Path) -> tuple[float, float]:
    """(max RSS in MB, wall seconds) of one mlpipe command."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M %e", sys.executable, "-m", "mlpipe", *args], cwd=cwd,
                         capture_output=True, text=True, env=dict(os.environ))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    rss_kb, seconds = out.stderr.strip().splitlines()[-1].split()
    return int(rss_kb) / 1024, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galaxies", type=int, nargs="+", default=[1000, 10000, 75000])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    gbm = {"gbm": {"seed": 5, "grid": {}, "cv_folds": 5, "top_features": 50, "uncertainty": [], "studies": [],
                   "params": {"num_leaves": 40, "min_data_in_leaf": 150, "feature_fraction": 0.4, "bagging_fraction": 0.8,
                              "bagging_freq": 1, "learning_rate": 0.05, "max_bin": 63, "num_boost_round": 3000,
                              "early_stopping_rounds": 100}}}
    print("| galaxies | gbm-table peak | gbm-table time | train-predictor g_morph peak | train-predictor time |")
    print("|---|---|---|---|---|")
    for n in args.galaxies:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            paths = write_inputs(folder, n)
            table_mb, table_s = peak_mb(["gbm-table", "--config-json", json.dumps({"cosmology": {"H0": 70.0, "Om0": 0.3}}),
                                         "--sample", "sample.csv", "--images", *paths["images"], "--features",
                                         *paths["features"], "--out", "features.h5", "--dropped", "dropped.csv"], folder)
            fit_mb, fit_s = peak_mb(["train-predictor", "--config-json", json.dumps(gbm), "--predictor", "g_morph",
                                     "--table", "features.h5", "--model", "m.txt", "--info", "i.json", "--interval",
                                     "q.json", "--predictions", "p.csv", "--threads", str(args.threads)], folder)
        print(f"| {n:,} | {table_mb:,.0f} MB | {table_s:.0f} s | {fit_mb:,.0f} MB | {fit_s:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
