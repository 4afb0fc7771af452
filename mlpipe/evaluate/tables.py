"""The tidy metric tables of results/metrics/, one per question the paper asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe import losses
from mlpipe.evaluate.classes import CLASSES, morphology_class
from mlpipe.evaluate.metrics import coverage, summary
from mlpipe.evaluate.significance import bootstrap_mean_ci, ks_smaller
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


def significance_table(preds: Mapping[str, pd.DataFrame], pairs: list[list[str]]) -> pd.DataFrame:
    rows = []
    for better, reference in pairs:
        if better not in preds or reference not in preds:
            continue
        a, b = _test(preds[better]), _test(preds[reference])
        stat, p = ks_smaller(losses.l1_terms(a["ml_pred"], a["ml"], a["ml_err"]),
                             losses.l1_terms(b["ml_pred"], b["ml"], b["ml_err"]))
        rows.append({"better": better, "reference": reference, "ks_statistic": stat, "p_value": p})
    return pd.DataFrame(rows, columns=["better", "reference", "ks_statistic", "p_value"])


def per_class_table(preds: Mapping[str, pd.DataFrame], names: list[str], features: pd.DataFrame,
                    meta: pd.DataFrame, cfg: Mapping[str, Any]) -> pd.DataFrame:
    classes = pd.Series(morphology_class(features, cfg["class_model"], cfg["class_thresholds"]),
                        index=meta["objid"].to_numpy())
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
