"""Catalogue-level oracle of a mock survey: how much of M/L its *true* morphology carries beyond
colour, and beyond luminosity and redshift.

This bounds what any image-based morphology can add on that mock. From the hidden truth
(``truth.csv``, no images) each galaxy of the sample (the D25 cut) gets an observed target
Y = M*/L_g with the SED-fit scatter of the mock's GSWLC (``mock.sed_fit.log_mass_error_range``)
and the sample's error floor, and LightGBM with the weighted L1 loss (Dobbels et al. 2019, Eq. 2)
is cross-validated on four feature sets:

- ``colour``: z, log L_g, observed g-i (the paper's gi_gbm, 1.26);
- ``colour_morph``: the same + true type, bulge fraction and axis ratio (the paper's gi_morph, 1.12);
- ``luminosity``: z, log L_g (the paper's g_ref, 4.52);
- ``luminosity_morph``: the same + true morphology (the paper's g_morph, 2.29);

and the g-i power law (the paper's refitted law, 1.90) on the same folds. Every galaxy is
predicted once, by the fold that did not train on it, so two feature sets compare galaxy by
galaxy (``mlpipe.evaluate.significance``).
"""

from __future__ import annotations

from typing import Any, Mapping

import lightgbm as lgb
import numpy as np
import pandas as pd

from mlpipe import losses
from mlpipe.evaluate.significance import bootstrap_mean_ci, galaxies_needed, sign_flip_p
from mlpipe.gbm.powerlaw import fit_powerlaw, predict_powerlaw
from mlpipe.mock.population import TYPES

MORPHOLOGY = ("type_code", "bulge_fraction", "axis_ratio")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "colour": ("z", "log_lum_g", "g_minus_i"),
    "colour_morph": ("z", "log_lum_g", "g_minus_i") + MORPHOLOGY,
    "luminosity": ("z", "log_lum_g"),
    "luminosity_morph": ("z", "log_lum_g") + MORPHOLOGY,
}
POWERLAW = "gi_powerlaw"
# (with, without, the paper's L1 of each: Dobbels et al. 2019, Table 2 and Sect. 6)
COMPARISONS: tuple[tuple[str, str, float, float], ...] = (
    ("colour_morph", "colour", 1.12, 1.26),
    ("luminosity_morph", "luminosity", 2.29, 4.52),
    ("colour", POWERLAW, 1.26, 1.90),
)
# LightGBM of the oracle: small trees (few features), early stopping on a tenth of each training fold
PARAMS: dict[str, Any] = {"objective": "l1", "metric": "l1", "num_leaves": 15, "min_data_in_leaf": 40,
                          "learning_rate": 0.05, "bagging_fraction": 0.8, "bagging_freq": 1, "max_bin": 63,
                          "verbosity": -1, "deterministic": True, "force_row_wise": True}
MAX_ROUNDS = 3000
EARLY_STOPPING_ROUNDS = 50
N_FOLDS = 5
MIN_GALAXIES = 100  # fewer above the D25 cut: no oracle (each fold would train on a handful)
COLUMNS = ["with", "without", "n_galaxies", "n_train", "l1_with", "l1_without", "ratio", "paper_ratio",
           "mean_difference", "sd_difference", "difference_ci_low", "difference_ci_high", "p_sign_flip",
           "galaxies_needed"]


def observed_sample(truth: pd.DataFrame, *, d25_min_arcmin: float, log_ml_error_range_dex: tuple[float, float],
                    relative_error_floor: float, seed: int) -> pd.DataFrame:
    """The galaxies above the D25 cut with an observed Y (``ml``) and its error (``ml_err``).

    ``truth``: the mock's hidden truth (``truth.csv`` columns ``type``, ``z``, ``log_mass``,
    ``log_ml``, ``g_minus_i``, ``bulge_fraction``, ``axis_ratio``, ``d25_arcmin``).
    """
    sample = truth[truth["d25_arcmin"] > d25_min_arcmin].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    sigma_dex = rng.uniform(*log_ml_error_range_dex, len(sample))
    y = 10.0 ** (sample["log_ml"].to_numpy() + rng.normal(0.0, sigma_dex))
    out = pd.DataFrame({
        "z": sample["z"].to_numpy(), "log_lum_g": (sample["log_mass"] - sample["log_ml"]).to_numpy(),
        "g_minus_i": sample["g_minus_i"].to_numpy(),
        "type_code": pd.Categorical(sample["type"], categories=TYPES).codes.astype(float),
        "bulge_fraction": sample["bulge_fraction"].to_numpy(), "axis_ratio": sample["axis_ratio"].to_numpy(),
        "type": sample["type"].to_numpy()})
    out["ml"] = y
    out["ml_err"] = np.maximum(y * np.log(10.0) * sigma_dex, relative_error_floor * y)
    return out


def _folds(n: int, n_folds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n) % n_folds


def out_of_fold_predictions(sample: pd.DataFrame, name: str, *, n_folds: int = N_FOLDS, seed: int,
                            threads: int = 1) -> np.ndarray:
    """Each galaxy's M/L predicted by the feature set ``name`` (or the g-i power law) trained on
    the other folds. Shape (n_galaxies,)."""
    folds = _folds(len(sample), n_folds, seed)
    pred = np.empty(len(sample))
    y, dy = sample["ml"].to_numpy(), sample["ml_err"].to_numpy()
    for k in range(n_folds):
        train, test = np.flatnonzero(folds != k), folds == k
        if name == POWERLAW:
            colour = sample["g_minus_i"].to_numpy()
            law = fit_powerlaw(colour_mag=colour[train], ml=y[train], ml_err=dy[train])
            pred[test] = predict_powerlaw(law, colour_mag=colour[test])
            continue
        x = sample[list(FEATURE_SETS[name])]
        stop = np.random.default_rng([seed, k]).random(train.size) < 0.1
        fit_rows, stop_rows = train[~stop], train[stop]
        train_set = lgb.Dataset(x.iloc[fit_rows], label=y[fit_rows], weight=1.0 / dy[fit_rows])
        stop_set = lgb.Dataset(x.iloc[stop_rows], label=y[stop_rows], weight=1.0 / dy[stop_rows], reference=train_set)
        booster = lgb.train(PARAMS | {"seed": seed, "num_threads": threads}, train_set, num_boost_round=MAX_ROUNDS,
                            valid_sets=[stop_set],
                            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)])
        pred[test] = booster.predict(x[test], num_iteration=booster.best_iteration)
    return pred


def oracle_table(sample: pd.DataFrame, *, n_folds: int = N_FOLDS, seed: int, n_resamples: int,
                 threads: int = 1) -> pd.DataFrame:
    """One row per comparison of :data:`COMPARISONS`: cross-validated L1 with and without, their
    ratio beside the paper's, and the paired statistics of the per-galaxy difference (what a test
    set needs to decide it). Empty (with its columns) below :data:`MIN_GALAXIES` galaxies."""
    if len(sample) < MIN_GALAXIES:
        return pd.DataFrame(columns=COLUMNS)
    names = sorted({n for c in COMPARISONS for n in c[:2]})
    terms = {n: losses.l1_terms(out_of_fold_predictions(sample, n, n_folds=n_folds, seed=seed, threads=threads),
                                sample["ml"].to_numpy(), sample["ml_err"].to_numpy()) for n in names}
    rows = []
    for with_, without, paper_with, paper_without in COMPARISONS:
        d = terms[with_] - terms[without]
        lo, hi = bootstrap_mean_ci(d, n_resamples, seed)
        rows.append({"with": with_, "without": without, "n_galaxies": len(sample),
                     "n_train": round(len(sample) * (n_folds - 1) / n_folds),
                     "l1_with": float(terms[with_].mean()), "l1_without": float(terms[without].mean()),
                     "ratio": float(terms[with_].mean() / terms[without].mean()),
                     "paper_ratio": paper_with / paper_without, "mean_difference": float(d.mean()),
                     "sd_difference": float(d.std(ddof=1)), "difference_ci_low": lo, "difference_ci_high": hi,
                     "p_sign_flip": sign_flip_p(d, n_resamples, seed), "galaxies_needed": galaxies_needed(d)})
    return pd.DataFrame(rows, columns=COLUMNS)


def oracle_from_config(truth: pd.DataFrame, mock_cfg: Mapping[str, Any], catalog_cfg: Mapping[str, Any],
                       *, seed: int, n_resamples: int, threads: int = 1) -> pd.DataFrame:
    """:func:`oracle_table` of a mock's truth with the sample cut and errors of the config."""
    sample = observed_sample(truth, d25_min_arcmin=catalog_cfg["d25_min_arcmin"],
                             log_ml_error_range_dex=tuple(mock_cfg["sed_fit"]["log_mass_error_range"]),
                             relative_error_floor=catalog_cfg["relative_error_floor"], seed=seed)
    return oracle_table(sample, seed=seed, n_resamples=n_resamples, threads=threads)
