"""What the per-predictor CV tuning costs in the default run: the default mock survey's sample
(workflow_config.yaml, ~1,100 galaxies), its catalogue features, and every predictor small enough to
be tuned (``gbm.tuning.max_features``) fitted as ``train_predictor`` does, with the tuning and without
(``max_features: 0``: the paper's values), in CPU seconds. ``abl_lum_distance_only`` (image luminosity
features) is timed on stand-in image features: its cost depends on the number of features and
galaxies, not their values.

    python bench/tuning_bench.py [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from mlpipe import physics
from mlpipe.catalog.sample import build_sample
from mlpipe.gbm.predictors import MORPHOLOGY, all_predictors, select_columns
from mlpipe.gbm.run import fit_predictor
from mlpipe.gbm.settings import FitSettings
from mlpipe.gbm.table import IMAGE_LUMINOSITY_FEATURES, feature_frame
from mlpipe.mock.survey import write_mock_catalogues

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="1: CPU time without OpenMP spin on a busy machine")
    args = ap.parse_args()
    cfg = yaml.safe_load((REPO / "workflow_config.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        write_mock_catalogues(cfg["mock"], cfg["cosmology"], tmp)
        paths = {k: f"{tmp}/{f}" for k, f in (("gswlc", "GSWLC-X2.dat"), ("hyperleda", "hyperleda.csv"),
                                              ("gz2", "gz2_hart16.csv"), ("photometry", "sdss_photometry.csv"))}
        sample, _ = build_sample(paths, catalog_cfg=cfg["catalog"], cosmo_cfg=cfg["cosmology"], inputs=cfg["inputs"])
    table = sample.set_index("objid", drop=False)
    rng = np.random.default_rng(0)
    for name in IMAGE_LUMINOSITY_FEATURES:  # stand-in image luminosities (the real ones need the images)
        table[name] = table["lum_g"] * rng.lognormal(0.0, 0.3, len(table))
    for name in ("log_sum", "log_mean", "log_std", "log_centre", "log_centre5", "image_size_px", "scale_a"):
        table[name] = rng.random(len(table))
    cosmo = physics.cosmology(cfg["cosmology"]["H0"], cfg["cosmology"]["Om0"])
    features = feature_frame(table, cnn_tables=[], cosmo=cosmo).reset_index(drop=True).astype(np.float32)
    meta = sample[["objid", "split", "ml", "ml_err", "lum_g"]]
    off = copy.deepcopy(cfg["gbm"])
    off["tuning"]["max_features"] = 0
    print(f"{len(sample)} galaxies ({(meta['split'] == 'train').sum()} training), threads {args.threads}")
    print("| predictor | features | CPU s, paper's values | CPU s, CV-tuned | chosen | validation L1 before -> after |")
    print("|---|---|---|---|---|---|")
    totals = [0.0, 0.0]
    for name, predictor in all_predictors(cfg["gbm"]).items():
        n = len(select_columns(predictor, list(features.columns)))
        cnn = any(p in MORPHOLOGY for p in predictor.include)   # thousands of CNN features in the real run
        if predictor.kind != "gbm" or cnn or n == 0 or n > cfg["gbm"]["tuning"]["max_features"]:
            continue
        row = []
        for i, gbm_cfg in enumerate((off, cfg["gbm"])):
            t0 = time.process_time()
            _, info, _ = fit_predictor(predictor, meta=meta, features=features, settings=FitSettings.from_config(gbm_cfg),
                                       threads=args.threads)
            totals[i] += time.process_time() - t0
            row.append((time.process_time() - t0, info))
        chosen = ", ".join(f"{k}={v}" for k, v in row[1][1]["chosen"].items() if k != "learning_rate")
        print(f"| {name} | {n} | {row[0][0]:.2f} | {row[1][0]:.2f} | {chosen} | "
              f"{row[0][1]['validation_l1']:.3f} -> {row[1][1]['validation_l1']:.3f} |")
    print(f"| **total** | | {totals[0]:.1f} | {totals[1]:.1f} | | |")


if __name__ == "__main__":
    main()
