"""Catalogue-level oracle of the mock survey at several training-set sizes, seeds and type mixes.

For each seed (and each type mix) one catalogue-only population is drawn (no images), large
enough for the largest training set; the sample (D25 cut) is cut to (5/4) x n_train galaxies and
mlpipe.evaluate.oracle cross-validates colour-only against colour + true morphology, L_g + z
against L_g + z + true morphology, and the g-i power law, with 5 folds.

    python bench/mock_oracle_bench.py --train 5000 20000 --seeds 2019 1 2 --alt-mix

prints one markdown table (the numbers in BENCHMARKS.md) and, with --out, writes it as CSV.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mlpipe import physics
from mlpipe.evaluate.oracle import N_FOLDS, observed_sample, oracle_table
from mlpipe.mock.population import draw_population

REPO = Path(__file__).resolve().parents[1]
# another mix of types: fewer ellipticals at high mass, more irregulars at low mass
ALT_MIX = {"elliptical_max_fraction": 0.55, "elliptical_log_mass": 10.8,
           "irregular_max_fraction": 0.5, "irregular_log_mass": 9.7}
SAMPLE_FRACTION = 0.05  # galaxies passing D25 > 0.4' per mock GSWLC row, a lower bound (measured ~0.055)


def run(cfg: dict, seed: int, mix: str, train_sizes: list[int], n_resamples: int) -> list[dict]:
    mock = copy.deepcopy(cfg["mock"])
    mock["seed"] = seed
    if mix == "alt":
        mock["types"] = mock["types"] | ALT_MIX
    largest = int(np.ceil(max(train_sizes) * N_FOLDS / (N_FOLDS - 1)))
    mock["n_galaxies"] = int(largest / SAMPLE_FRACTION)
    cosmo = physics.cosmology(cfg["cosmology"]["H0"], cfg["cosmology"]["Om0"])
    for _ in range(5):
        start = time.perf_counter()
        truth = draw_population(mock, cosmo)
        draw_s = time.perf_counter() - start
        sample = observed_sample(truth, d25_min_arcmin=cfg["catalog"]["d25_min_arcmin"],
                                 log_ml_error_range_dex=tuple(mock["sed_fit"]["log_mass_error_range"]),
                                 relative_error_floor=cfg["catalog"]["relative_error_floor"], seed=seed)
        if len(sample) >= largest:
            break
        # a type mix with smaller galaxies passes the D25 cut less often: draw more
        mock["n_galaxies"] = int(mock["n_galaxies"] * 1.2 * largest / max(len(sample), 1))
    else:
        raise SystemExit(f"seed {seed}: only {len(sample)} galaxies pass the cut, {largest} needed")
    rows = []
    for n_train in train_sizes:
        part = sample.iloc[: int(np.ceil(n_train * N_FOLDS / (N_FOLDS - 1)))].reset_index(drop=True)
        start = time.perf_counter()
        table = oracle_table(part, seed=seed, n_resamples=n_resamples, threads=1)
        fit_s = time.perf_counter() - start
        types = part["type"].value_counts(normalize=True)
        for _, r in table.iterrows():
            rows.append({"seed": seed, "mix": mix, "n_train": int(r["n_train"]), "with": r["with"],
                         "without": r["without"], "l1_with": r["l1_with"], "l1_without": r["l1_without"],
                         "gain_percent": 100 * (1 - r["ratio"]), "ratio": r["ratio"],
                         "paper_ratio": r["paper_ratio"], "sd_difference": r["sd_difference"],
                         "galaxies_needed": r["galaxies_needed"], "p_sign_flip": r["p_sign_flip"],
                         "share_elliptical": types.get("elliptical", 0.0),
                         "share_irregular": types.get("irregular", 0.0),
                         "draw_s": draw_s, "oracle_s": fit_s})
        print(f"seed {seed} mix {mix} n_train {n_train}: draw {draw_s:.0f} s ({mock['n_galaxies']} rows), "
              f"oracle {fit_s:.0f} s", flush=True)
        print(table[["with", "without", "n_galaxies", "l1_with", "l1_without", "ratio", "sd_difference",
                     "galaxies_needed"]].to_string(index=False), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "workflow_config.yaml"))
    parser.add_argument("--train", type=int, nargs="+", default=[5000, 20000], help="training galaxies per fold")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2019, 1, 2])
    parser.add_argument("--alt-mix", action="store_true", help="also the first seed with another type mix")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", help="CSV of every row")
    args = parser.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    rows = []
    for seed in args.seeds:
        rows += run(cfg, seed, "default", args.train, args.resamples)
    if args.alt_mix:
        rows += run(cfg, args.seeds[0], "alt", args.train, args.resamples)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    cols = ["seed", "mix", "n_train", "with", "without", "l1_with", "l1_without", "gain_percent", "paper_ratio",
            "galaxies_needed", "share_elliptical", "share_irregular"]
    shown = table[cols].copy()
    shown["paper_ratio"] = 100 * (1 - shown["paper_ratio"])
    shown = shown.rename(columns={"paper_ratio": "paper_gain_percent"})
    print(shown.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
