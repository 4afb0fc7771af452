"""Colour predictors on real galaxies: GSWLC-2 masses and NSA g/i fluxes of ~1,250 Virgo-field
galaxies (``../shared/real/colour/virgo_gswlc_nsa.fits``), through the workflow's own code: the table
read by the readers with a column map (``inputs:``), the sample and M/L targets by ``catalog/``
(cuts z > 0.005, reduced chi2 < 5, flag_sed = 0, positive g and i fluxes), the features by
``gbm/table.py`` and the predictors by ``gbm/run.py`` (CV-tuned LightGBM, the g-i power law).

Repeated K-fold CV (``--repeats`` x ``--folds``, folds by a hash of the id and the repeat): each
predictor's weighted L1 (mean |Y_pred - Y| / dY) on the held-out fold, beside a constant (the
training fold's weighted median) and a plain LightGBM on the same features (15 leaves, 20 per leaf,
80 % of features and data, learning rate 0.03, early stopping on 15 % of each training fold).

    python bench/real_colour_bench.py [--table ../shared/real/colour/virgo_gswlc_nsa.fits]
        [--repeats 5] [--folds 5] [--only-folds N] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import yaml

from mlpipe import losses, physics
from mlpipe.catalog.sample import build_sample
from mlpipe.gbm import lightgbm_fit
from mlpipe.gbm.predictors import all_predictors, select_columns
from mlpipe.gbm.run import fit_predictor
from mlpipe.gbm.settings import FitSettings
from mlpipe.gbm.table import feature_frame

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO.parent / "shared" / "real" / "colour" / "virgo_gswlc_nsa.fits"
PREDICTORS = ["g_ref", "gi_powerlaw", "gi_gbm"]
#: How the table names its columns: GSWLC-2 names as they are, NSA fluxes in maggies (extinction-corrected).
PHOTOMETRY = {"kind": "fluxes", "flux_unit": "maggies", "extinction_corrected": True, "bands": "gi",
              "columns": {f"{kind}_{b}": f"{prefix}_{b}" for b in "gi"
                          for kind, prefix in (("flux", "maggies"), ("flux_ivar", "ivar_maggies"))}}
PLAIN = {"num_leaves": 15, "min_data_in_leaf": 20, "feature_fraction": 0.8, "bagging_fraction": 0.8,
         "bagging_freq": 1, "learning_rate": 0.03}


def load_config() -> dict:
    return yaml.safe_load((REPO / "workflow_config.yaml").read_text())


def sample_and_features(table: Path, cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The workflow's sample of the table (its catalog/ code), its rejections and its features table (gbm/)."""
    catalog = cfg["catalog"] | {"z_min": 0.005, "lum_g_column": None}
    inputs = copy.deepcopy(cfg["inputs"])
    inputs["photometry"] |= PHOTOMETRY
    paths = {"gswlc": str(table), "photometry": str(table), "hyperleda": None, "gz2": None}
    sample, rejected = build_sample(paths, catalog_cfg=catalog, cosmo_cfg=cfg["cosmology"], inputs=inputs)
    cosmo = physics.cosmology(cfg["cosmology"]["H0"], cfg["cosmology"]["Om0"])
    features = feature_frame(sample.set_index("objid", drop=False), cnn_tables=[], cosmo=cosmo).reset_index(drop=True)
    return sample, rejected, features.astype(np.float32)


def folds_of(objids: np.ndarray, k: int, repeat: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return lightgbm_fit.id_folds(objids, n_folds=k, seed=1000 + repeat)


def weighted_median(y: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(y)
    cum = np.cumsum(w[order])
    return float(y[order][np.searchsorted(cum, 0.5 * cum[-1])])


def plain_lightgbm(x: pd.DataFrame, y: np.ndarray, dy: np.ndarray, train: np.ndarray, stop: np.ndarray,
                   threads: int, seed: int) -> lgb.Booster:
    params = {"objective": "l1", "metric": "l1", "verbosity": -1, "seed": seed, "deterministic": True,
              "force_row_wise": True, "num_threads": threads, **PLAIN}
    train_set = lgb.Dataset(x.iloc[train], label=y[train], weight=1.0 / dy[train])
    stop_set = lgb.Dataset(x.iloc[stop], label=y[stop], weight=1.0 / dy[stop], reference=train_set)
    return lgb.train(params, train_set, num_boost_round=3000, valid_sets=[stop_set],
                     callbacks=[lgb.early_stopping(100, verbose=False)])


def run(table: Path, repeats: int, k: int, only_folds: int | None, threads: int) -> tuple[pd.DataFrame, dict]:
    """Per fold: each predictor's and each reference's weighted L1 on the held-out galaxies."""
    cfg = load_config()
    sample, rejected, features = sample_and_features(table, cfg)
    y, dy, ids = sample["ml"].to_numpy(), sample["ml_err"].to_numpy(), sample["objid"].to_numpy()
    predictors = all_predictors(cfg["gbm"])
    settings = FitSettings.from_config(cfg["gbm"])
    rows, seconds, chosen, terms = [], {name: 0.0 for name in PREDICTORS}, {}, []
    done = 0
    for repeat in range(repeats):
        for fold, (train_val, test) in enumerate(folds_of(ids, k, repeat)):
            if only_folds is not None and done >= only_folds:
                break
            done += 1
            # 15 % of the training fold stops the boosting (the workflow's validation split), by id hash
            inner = lightgbm_fit.id_folds(ids[train_val], n_folds=20, seed=2000 + repeat)
            stop = train_val[np.concatenate([test_rows for _, test_rows in inner[:3]])]
            train = np.setdiff1d(train_val, stop)
            split = np.full(len(ids), "test", dtype=object)
            split[train], split[stop] = "train", "validation"
            meta = sample[["objid", "ml", "ml_err", "lum_g"]].assign(split=split)
            constant = np.full(len(test), weighted_median(y[train_val], 1.0 / dy[train_val]))
            row = {"repeat": repeat, "fold": fold, "n_test": len(test), "constant": losses.l1(constant, y[test], dy[test])}
            fold_terms = pd.DataFrame({"repeat": repeat, "fold": fold, "objid": ids[test],
                                       "constant": losses.l1_terms(constant, y[test], dy[test])})
            for name in PREDICTORS:
                t0 = time.perf_counter()
                pred, info, _ = fit_predictor(predictors[name], meta=meta, features=features, settings=settings,
                                              threads=threads)
                seconds[name] += time.perf_counter() - t0
                row[name] = losses.l1(pred["ml_pred"].to_numpy()[test], y[test], dy[test])
                fold_terms[name] = losses.l1_terms(pred["ml_pred"].to_numpy()[test], y[test], dy[test])
                chosen.setdefault(name, []).append({"no_trees": True} if info.get("no_trees")
                                                   else info.get("chosen", {}))
                if predictors[name].kind == "gbm":
                    x = features[select_columns(predictors[name], list(features.columns))]
                    booster = plain_lightgbm(x, y, dy, train, stop, threads, cfg["gbm"]["seed"])
                    row[f"plain_{name}"] = losses.l1(booster.predict(x.iloc[test], num_iteration=booster.best_iteration),
                                                     y[test], dy[test])
            rows.append(row)
            terms.append(fold_terms)
    return pd.DataFrame(rows), {"n_galaxies": len(sample), "ml_range": rejected[rejected["stage"] == "ml_range"],
                                "seconds": seconds, "chosen": chosen,
                                "terms": pd.concat(terms, ignore_index=True), "sample": sample}


def without_largest(terms: pd.DataFrame, sample: pd.DataFrame, name: str) -> str:
    """The comparison with the constant without the one galaxy whose per-galaxy L1 differs most
    from the constant's (summed over its test folds): how much a single galaxy decides it."""
    diff = (terms[name] - terms["constant"]).groupby(terms["objid"]).sum()
    worst = diff.idxmax()
    rest = terms[terms["objid"] != worst].groupby(["repeat", "fold"])[["constant", name]].mean().mean()
    galaxy = sample.set_index("objid").loc[worst]
    return (f"{name} without galaxy {worst} (M/L {galaxy['ml']:.3f} +- {galaxy['ml_err']:.3f}, z {galaxy['z']:.4f}; "
            f"the largest excess over the constant, {diff[worst] / diff.clip(lower=0).sum():.0%} of all excesses): "
            f"{rest[name]:.2f} vs constant {rest['constant']:.2f}; galaxies where it beats the constant: "
            f"{(terms[name] < terms['constant']).groupby(terms['objid']).mean().gt(0.5).mean():.0%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only-folds", type=int, help="stop after this many folds (a quick check of the path)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    per_fold, extra = run(args.table, args.repeats, args.folds, args.only_folds, args.threads)
    n = len(per_fold)
    print(f"{extra['n_galaxies']} galaxies, {n} folds ({args.repeats} x {args.folds}-fold CV), "
          f"{time.perf_counter() - t0:.0f} s")
    for _, row in extra["ml_range"].iterrows():   # past the sample cuts, outside the physical M/L range
        print(f"rejected {row['objid']}: {row['reason']}")
    print("| predictor | weighted L1 (ours) | standard error | plain LightGBM | fit seconds (all folds) |")
    print("|---|---|---|---|---|")
    se = per_fold.std(ddof=1) / np.sqrt(n) if n > 1 else per_fold.iloc[0] * np.nan
    print(f"| constant (weighted median) | {per_fold['constant'].mean():.2f} | {se['constant']:.2f} | | |")
    for name in PREDICTORS:
        plain = f"{per_fold[f'plain_{name}'].mean():.2f}" if f"plain_{name}" in per_fold else "(a power law)"
        print(f"| {name} | {per_fold[name].mean():.2f} | {se[name]:.2f} | {plain} | {extra['seconds'][name]:.1f} |")
    pairs = [(name, "constant") for name in PREDICTORS] + [("gi_gbm", "gi_powerlaw")]
    pairs += [(name, f"plain_{name}") for name in PREDICTORS if f"plain_{name}" in per_fold]
    for first, second in pairs:
        if n > 1 and {first, second} <= set(per_fold):
            diff = per_fold[first] - per_fold[second]
            print(f"{first} - {second.replace('plain_', 'plain LightGBM ')}: {diff.mean():+.3f} +- "
                  f"{diff.std(ddof=1) / np.sqrt(n):.3f} (better in {(diff < 0).sum()} of {n} folds)")
    for name in ("g_ref", "gi_gbm"):
        counts = pd.Series([lightgbm_fit.json_key(c) for c in extra["chosen"][name]]).value_counts()
        print(f"{name}: CV choices {counts.to_dict()}")
    for name in ("g_ref", "gi_gbm"):
        print(without_largest(extra["terms"], extra["sample"], name))


if __name__ == "__main__":
    main()
