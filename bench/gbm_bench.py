"""LightGBM at the paper's scale on synthetic data: ~60,000 training galaxies x 2,200 features,
weighted L1, the paper's tree settings, early stopping on 6,600 validation galaxies; then the
same on the 50 most-used features. The paper: ~5 min (all features) and 40 CPU s (top 50) on a
dual-core Intel i5.

    python bench/gbm_bench.py --threads 2 [--max-bin 255]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from mlpipe import losses
from mlpipe.gbm import lightgbm_fit


def synthetic(n: int, n_features: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """M/L-like targets depending non-linearly on 20 of the features, the rest noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_features), dtype=np.float32)
    signal = 0.3 * x[:, 0] + 0.2 * np.tanh(x[:, 1] * x[:, 2]) + 0.1 * (x[:, 3:20] ** 2).sum(axis=1) / 17
    y = 10 ** (0.4 + 0.3 * signal + rng.normal(0, 0.05, n))
    dy = np.maximum(y * rng.uniform(0.05, 0.3, n), 0.05 * y)
    return pd.DataFrame(x, columns=[f"f{i:04d}" for i in range(n_features)]), y, dy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=59637)
    ap.add_argument("--validation", type=int, default=6627)
    ap.add_argument("--features", type=int, default=2200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-bin", type=int, default=255)
    ap.add_argument("--learning-rate", type=float, default=0.05)
    args = ap.parse_args()
    x, y, dy = synthetic(args.train + args.validation, args.features, 0)
    tr, va = slice(0, args.train), slice(args.train, None)
    params = {"num_leaves": 40, "min_data_in_leaf": 150, "feature_fraction": 0.4, "bagging_fraction": 0.8,
              "bagging_freq": 1, "learning_rate": args.learning_rate, "max_bin": args.max_bin,
              "num_boost_round": 5000, "early_stopping_rounds": 100}
    t0 = time.perf_counter()
    fit, info = lightgbm_fit.fit(x_train=x[tr], ml_train=y[tr], ml_err_train=dy[tr], x_val=x[va], ml_val=y[va],
                                 ml_err_val=dy[va], loss="l1", params=params, grid={}, cv_folds=5, seed=0,
                                 threads=args.threads)
    t_all = time.perf_counter() - t0
    l1_all = losses.l1(fit.predict(x[va]), y[va], dy[va])
    top = lightgbm_fit.most_used_features(fit.booster, n=50)
    t0 = time.perf_counter()
    fit50, info50 = lightgbm_fit.fit(x_train=x[tr][top], ml_train=y[tr], ml_err_train=dy[tr], x_val=x[va][top],
                                     ml_val=y[va], ml_err_val=dy[va], loss="l1", params=params, grid={}, cv_folds=5,
                                     seed=0, threads=args.threads)
    t_top = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit50.predict(x[tr][top])
    t_eval = time.perf_counter() - t0
    print(f"data: {args.train} x {args.features} (+{args.validation} validation), threads {args.threads}, "
          f"max_bin {args.max_bin}, learning rate {args.learning_rate}")
    print("| fit | wall time | iterations | validation L1 | paper |\n|---|---|---|---|---|")
    print(f"| all {args.features} features | {t_all:.0f} s | {info['best_iteration']} | {l1_all:.3f} | ~300 s (dual core) |")
    print(f"| top 50 features | {t_top:.1f} s | {info50['best_iteration']} | "
          f"{losses.l1(fit50.predict(x[va][top]), y[va], dy[va]):.3f} | 40 CPU s |")
    print(f"| predict training set, top 50 | {t_eval:.1f} s | | | 4.2 CPU s |")


if __name__ == "__main__":
    main()
