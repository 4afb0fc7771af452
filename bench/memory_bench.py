"""Peak memory (max RSS) and wall time of every stage that sees the whole sample, as it grows from
1,000 to 75,000 galaxies: the image-store index, the features table (~2,200 features), the five
main predictors (with their quantile models), permutation importance, evaluation, figures and
report, run as the real ``mlpipe`` commands under /usr/bin/time with the paper preset's GBM and
evaluation settings (``config/paper.yaml``: 255 bins, 100,000 bootstrap resamples). Inputs are
synthetic stores in the workflow's own layout (4 shards, the four CNNs' feature stores with 2,048
pooled ResNet features). Per-shard stages (render, preprocess, extraction) see one shard whatever
the sample size, so their memory is flat by construction.

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
from mlpipe.config import load_merged
from mlpipe.evaluate.registry import evaluation_figures, figure_path
from mlpipe.gbm.predictors import all_predictors
from mlpipe.gbm.table import IMAGE_LUMINOSITY_FEATURES, IMAGE_STATS
from mlpipe.io.store import create_store, write_matrix, write_table

REPO = Path(__file__).resolve().parents[1]
MODELS = {"cnn1": {"target": "gz2", "export_pooled": True}, "cnn2": {"target": "gz2"},
          "cnn3": {"target": "gz2"}, "cnn4": {"target": "ml"}}


def write_inputs(folder: Path, n: int, shards: int = 4, seed: int = 0) -> None:
    """sample.csv, images/shard-K.h5 and features/MODEL/shard-K.h5, as the workflow lays them out."""
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
    pd.DataFrame(columns=["objid", "stage", "reason", "redchisq", "ml", "ml_err"]).to_csv(folder / "rejected.csv", index=False)
    for k, part in enumerate(np.array_split(np.arange(n), shards)):
        path = folder / "images" / f"shard-{k}.h5"
        path.parent.mkdir(exist_ok=True)
        with create_store(path) as fh:
            fh.create_dataset("objid", data=ids[part])
            write_table(fh, "features", pd.DataFrame(rng.random((len(part), len(IMAGE_LUMINOSITY_FEATURES) + len(IMAGE_STATS))),
                                                     columns=IMAGE_LUMINOSITY_FEATURES + IMAGE_STATS))
        for name, cfg in MODELS.items():
            names = feature_names(name, task=cfg["target"], export_pooled=bool(cfg.get("export_pooled")), n_pooled=2048)
            columns = [c for cols in names.values() for c in cols]
            path = folder / "features" / name / f"shard-{k}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            with create_store(path, {"model": name}) as fh:
                fh.create_dataset("objid", data=ids[part])
                write_matrix(fh, pd.DataFrame(rng.random((len(part), len(columns)), dtype=np.float32), columns=columns))


def peak_mb(args: list[str], cwd: Path) -> tuple[float, float]:
    """(max RSS in MB, wall seconds) of one mlpipe command."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M %e", sys.executable, "-m", "mlpipe", *args], cwd=cwd,
                         capture_output=True, text=True, env=dict(os.environ))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    rss_kb, seconds = out.stderr.strip().splitlines()[-1].split()
    return int(rss_kb) / 1024, float(seconds)


def paper_config() -> dict:
    """workflow_config.yaml with config/paper.yaml merged in, as Snakemake merges them; the GBM
    studies left out (each is one more predictor job like the main ones)."""
    cfg = load_merged(REPO / "workflow_config.yaml", REPO / "config" / "paper.yaml")
    cfg["gbm"]["studies"] = []
    return cfg


def stage_commands(cfg: dict, threads: int) -> list[tuple[str, list[str]]]:
    """(label, mlpipe arguments) of each whole-sample stage, in workflow order."""
    figures_ = evaluation_figures(cfg["evaluate"]["importance"]["predictors"])

    def sections(*names: str) -> str:
        return json.dumps({name: cfg[name] for name in names})

    steps = [("index-image-stores", ["index-image-stores", "--images-dir", "images", "--shards", "4", "--out", "stores.csv"]),
             ("gbm-table", ["gbm-table", "--config-json", sections("cosmology"), "--sample", "sample.csv",
                            "--images-dir", "images", "--features-dir", "features", "--models", *MODELS,
                            "--shards", "4", "--out", "features.h5", "--dropped", "dropped.csv"])]
    for name in all_predictors(cfg["gbm"]):
        steps.append((f"train-predictor {name}", [
            "train-predictor", "--config-json", sections("gbm"), "--predictor", name, "--table", "features.h5",
            "--model", f"gbm/{name}/model.txt", "--info", f"gbm/{name}/fit.json", "--interval",
            f"gbm/{name}/interval.json", "--predictions", f"predictions/{name}.csv", "--threads", str(threads)]))
    for name in cfg["evaluate"]["importance"]["predictors"]:
        steps.append((f"importance {name}", ["importance", "--config-json", sections("evaluate"), "--predictor", name,
                                             "--table", "features.h5", "--model", f"gbm/{name}/model.txt",
                                             "--out", f"metrics/importance_{name}.csv"]))
    steps += [("evaluate", ["evaluate", "--config-json", sections("gbm", "evaluate"), "--table", "features.h5",
                            "--predictions", "predictions", "--outdir", "metrics"]),
              ("figures", ["figures", "--config-json", sections("evaluate", "preprocess"), "--table", "features.h5",
                           "--predictions", "predictions", "--metrics", "metrics", "--sample", "sample.csv",
                           "--rejected", "rejected.csv", "--store-index", "stores.csv", "--outdir", "figures"]),
              ("report", ["report", "--config-json", sections("data", "catalog"), "--metrics", "metrics",
                          "--figures", *[figure_path(s, "figures") for s in figures_], "--captions",
                          *sorted({str(REPO / "report" / f"{s.caption_name}.rst") for s in figures_}),
                          "--out", "report.md"])]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galaxies", type=int, nargs="+", default=[1000, 10000, 75000])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cfg = paper_config()
    results: dict[str, list[str]] = {}
    for n in args.galaxies:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_inputs(folder, n)
            for sub in ["predictions", "metrics", "figures"] + [f"gbm/{p}" for p in all_predictors(cfg["gbm"])]:
                (folder / sub).mkdir(parents=True)
            for label, command in stage_commands(cfg, args.threads):
                mb, seconds = peak_mb(command, folder)
                results.setdefault(label, []).append(f"{mb:,.0f} MB, {seconds:.0f} s")
                print(f"{n:,} galaxies: {label}: {mb:,.0f} MB, {seconds:.0f} s", file=sys.stderr, flush=True)
    print("| stage | " + " | ".join(f"{n:,} galaxies" for n in args.galaxies) + " |")
    print("|---|" + "---|" * len(args.galaxies))
    for label, cells in results.items():
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
