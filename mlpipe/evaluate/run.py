"""The evaluate stage: every metric table of results/metrics/ (``registry.METRIC_TABLES``) from
the features table and each predictor's test-set predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mlpipe.evaluate import tables
from mlpipe.gbm.predictors import Predictor
from mlpipe.io.atomic import write_csv
from mlpipe.io.features_table import read_table_store

#: the main predictors whose test L1 the per-class table splits by morphology class
PER_CLASS_PREDICTORS = ["g_ref", "g_morph", "gi_gbm", "gi_morph"]


def write_metric_tables(*, table_path: str | Path, predictions_dir: str | Path, outdir: str | Path,
                        predictors: Mapping[str, Predictor], evaluate_cfg: Mapping[str, Any]) -> None:
    """The stage's entry point: write ``<outdir>/<name>.csv`` for every metric table from the
    features table (for the morphology classes) and ``<predictions_dir>/<predictor>.csv`` of every
    predictor in ``predictors``; ``evaluate_cfg`` is the config's ``evaluate`` section."""
    ev = evaluate_cfg
    preds = tables.load_predictions(predictions_dir, list(predictors))
    summary = tables.predictor_table(predictors, preds, ev["bootstrap"], ev["seed"])
    meta, features = read_table_store(table_path)
    write_csv(summary, f"{outdir}/predictors.csv")
    write_csv(tables.significance_table(preds, ev["ks_pairs"], ev["bootstrap"], ev["seed"], ev["significance_level"]),
              f"{outdir}/significance.csv")
    if any(c.startswith(f"{ev['class_model']}_gz2_") for c in features.columns):
        per_class = tables.per_class_table(preds, PER_CLASS_PREDICTORS, features=features, meta=meta,
                                           class_model=ev["class_model"], class_thresholds=ev["class_thresholds"])
    else:  # a table-only run: no CNN morphology to class the galaxies by
        per_class = pd.DataFrame(columns=["predictor", "class", "n", "l1"])
    write_csv(per_class, f"{outdir}/per_class.csv")
    write_csv(tables.ablation_table(summary), f"{outdir}/ablation.csv")
    write_csv(tables.loss_table(summary), f"{outdir}/loss_functions.csv")
    write_csv(tables.multiband_table(summary), f"{outdir}/multiband.csv")
