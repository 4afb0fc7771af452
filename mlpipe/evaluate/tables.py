"""The tidy metric tables of results/metrics/, one per question the paper asks."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mlpipe import losses
from mlpipe.evaluate.classes import CLASSES, morphology_class
from mlpipe.evaluate.metrics import coverage, summary
from mlpipe.evaluate.significance import bootstrap_mean_ci, paired_comparison, verdict
from mlpipe.gbm.predictors import Predictor


def load_predictions(folder: str | Path, names: list[str]) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(Path(folder) / f"{name}.csv") for name in names}


def _test(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["split"] == "test"]


def predictor_table(predictors: Mapping[str, Predictor], preds: Mapping[str, pd.DataFrame],
                    n_bootstrap: int, seed: int) -> pd.DataFrame:
    rows = []
    for name, p in predictors.items():
        test = _test(preds[name])
        row = {"predictor": name, "description": p.description, "tags": ",".join(p.tags) or "main",
               "loss": p.loss, **summary(test["ml_pred"], test["ml"], test["ml_err"])}
        terms = losses.l1_terms(test["ml_pred"], test["ml"], test["ml_err"])
        row["l1_ci_low"], row["l1_ci_high"] = bootstrap_mean_ci(terms, n_bootstrap, seed)
        if "ml_p16" in test:
            row["coverage_68"] = coverage(test["ml"].to_numpy(), test["ml_p16"].to_numpy(), test["ml_p84"].to_numpy())
        row["paper_l1"] = p.paper_l1
        rows.append(row)
    return pd.DataFrame(rows)


SIGNIFICANCE_COLUMNS = ["better", "reference", "n", "l1_better", "l1_reference", "mean_difference",
                        "difference_ci_low", "difference_ci_high", "p_sign_flip", "p_wilcoxon",
                        "p_sign_flip_reverse", "verdict", "detectable_difference", "galaxies_needed",
                        "ks_statistic", "p_ks", "significance_level"]


def paired_terms(preds: Mapping[str, pd.DataFrame], better: str, reference: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-galaxy L1 terms of two predictors on the test galaxies both predicted, matched by objid."""
    cols = ["objid", "ml_pred", "ml", "ml_err"]
    both = _test(preds[better])[cols].merge(_test(preds[reference])[cols], on="objid", suffixes=("_a", "_b"))
    return (np.asarray(losses.l1_terms(both["ml_pred_a"], both["ml_a"], both["ml_err_a"])),
            np.asarray(losses.l1_terms(both["ml_pred_b"], both["ml_b"], both["ml_err_b"])))


def significance_table(preds: Mapping[str, pd.DataFrame], pairs: list[list[str]], n_resamples: int,
                       seed: int, alpha: float) -> pd.DataFrame:
    """One row per configured comparison (``evaluate.ks_pairs``): is ``better``'s per-galaxy L1
    smaller than ``reference``'s on the same test galaxies? Paired bootstrap interval of the mean
    difference, one-sided sign-flip and Wilcoxon tests, the verdict at ``alpha`` from the
    sign-flip tests, and the paper's one-sided KS test."""
    rows = []
    for better, reference in pairs:
        if better not in preds or reference not in preds:
            continue
        a, b = paired_terms(preds, better, reference)
        row = {"better": better, "reference": reference,
               **paired_comparison(a, b, n_resamples=n_resamples, seed=seed)}
        row["verdict"] = verdict(row, alpha)
        row["significance_level"] = alpha
        rows.append(row)
    return pd.DataFrame(rows, columns=SIGNIFICANCE_COLUMNS)


def per_class_table(preds: Mapping[str, pd.DataFrame], names: list[str], *, features: pd.DataFrame,
                    meta: pd.DataFrame, class_model: str, class_thresholds: Mapping[str, float]) -> pd.DataFrame:
    """The test L1 of each predictor in ``names`` per morphology class, the classes from the GZ2
    probabilities that CNN ``class_model`` gives (``features``, rows as ``meta``) above
    ``class_thresholds``."""
    classes = pd.Series(morphology_class(features, class_model, class_thresholds), index=meta["objid"].to_numpy())
    rows = []
    for name in names:
        if name not in preds:
            continue
        test = _test(preds[name])
        cls = classes.reindex(test["objid"].to_numpy()).to_numpy()
        for label in CLASSES:
            part = test[cls == label]
            rows.append({"predictor": name, "class": label, "n": len(part),
                         "l1": losses.l1(part["ml_pred"], part["ml"], part["ml_err"]) if len(part) else np.nan})
    return pd.DataFrame(rows)


def multiband_table(table: pd.DataFrame) -> pd.DataFrame:
    bands = table[table["tags"] == "multiband"].copy()
    bands["bands"] = bands["predictor"].str.split("_").str[1]
    bands["morphology"] = bands["predictor"].str.endswith("_morph")
    wide = bands.pivot_table(index="bands", columns="morphology", values="l1", sort=False)
    wide.columns = ["l1_with_morphology" if c else "l1_without_morphology" for c in wide.columns]
    return wide.reset_index()


def ablation_table(table: pd.DataFrame) -> pd.DataFrame:
    """Table 2 (ablations): g_morph and each predictor tagged ``ablation``."""
    ablation = table[table["predictor"].isin(["g_morph"]) | (table["tags"] == "ablation")]
    return ablation[["predictor", "description", "l1", "l1_ci_low", "l1_ci_high", "paper_l1"]]


def loss_table(table: pd.DataFrame) -> pd.DataFrame:
    """Table B.1: each base predictor optimised for L1, L2 and RMSLE."""
    rows = []
    for base in ("g_morph", "gi_powerlaw", "gi_morph"):
        for loss, name in (("l1", base), ("l2", f"loss_{base}_l2"), ("rmsle", f"loss_{base}_rmsle")):
            hit = table[table["predictor"] == name]
            if len(hit):
                r = hit.iloc[0]
                rows.append({"predictor": base, "optimised": loss, "l1": r["l1"], "l2": r["l2"],
                             "rmsle": r["rmsle"], "median_l1": r["median_l1"], "paper_l1": r["paper_l1"]})
    return pd.DataFrame(rows)
