"""results/report.md: each of our numbers beside the paper's, and what the run found, in words."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe.evaluate.registry import figure_spec, missing_parts
from mlpipe.io.atomic import atomic_path


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _markdown(df: pd.DataFrame, digits: int = 2) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_fmt(v, digits) for v in row) + " |")
    return "\n".join(lines)


def _p(value: float) -> str:
    return "–" if pd.isna(value) else (f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}")


def comparison_sentence(row: pd.Series, paper_l1: dict[str, float]) -> str:
    """One comparison of significance.csv in words: the verdict of the paired test, the numbers
    behind it, and for an undecided one what the test set can resolve."""
    better, ref, n = row["better"], row["reference"], int(row["n"])
    level = f"{100 * (1 - row['significance_level']):.0f} %"
    numbers = (f"L1 {row['l1_better']:.2f} vs {row['l1_reference']:.2f}, mean per-galaxy difference "
               f"{row['mean_difference']:+.2f} (paired 95 % interval {row['difference_ci_low']:+.2f} to "
               f"{row['difference_ci_high']:+.2f}), one-sided sign-flip p = {_p(row['p_sign_flip'])}, "
               f"Wilcoxon p = {_p(row['p_wilcoxon'])}, the paper's KS p = {_p(row['p_ks'])}")
    paper = ""
    if pd.notna(paper_l1.get(better)) and pd.notna(paper_l1.get(ref)):
        paper = f"; the paper: {paper_l1[better]:.2f} vs {paper_l1[ref]:.2f}"
    if row["verdict"] == "beats":
        head = f"**{better}** beats **{ref}** at {level} on the same {n} test galaxies"
        tail = ""
    elif row["verdict"] == "is worse than":
        head = (f"**{better}** is worse than **{ref}** at {level} on the same {n} test galaxies "
                f"(reverse sign-flip p = {_p(row['p_sign_flip_reverse'])})")
        tail = ""
    else:
        head = f"**{better}** vs **{ref}**: undecided at {level} on {n} test galaxies"
        tail = (f". These galaxies resolve a mean difference of about {row['detectable_difference']:.2f} "
                "(one-sided 95 %, 80 % power)")
        if pd.notna(row["galaxies_needed"]) and row["galaxies_needed"] != float("inf"):
            tail += f"; one of the size seen here would need about {row['galaxies_needed']:,.0f} test galaxies"
        else:
            tail += "; the difference seen here is not in the direction of the claim"
    return f"- {head}: {numbers}{paper}{tail}."


def ordering_section(significance: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Every configured comparison (``evaluate.ks_pairs``), decided by the paired test."""
    if not len(significance):
        return ["## Does the paper's ordering hold?", "No configured comparison ran."]
    paper = table.set_index("predictor")["paper_l1"].to_dict()
    level = f"{100 * significance['significance_level'].iloc[0]:.0f} %"
    intro = ("Each predictor is compared with another on the same test galaxies: \"beats\" means the one-sided "
             f"paired sign-flip test of the per-galaxy L1 difference is significant at the {level} level; "
             "\"undecided\" means this test set cannot tell the two apart, whatever their mean L1. "
             "The paper's one-sided two-sample KS test is given for comparison only (it ignores the pairing).")
    return (["## Does the paper's ordering hold?", intro]
            + [comparison_sentence(row, paper) for _, row in significance.iterrows()])


def cnn_section(cnn_metrics: list[str]) -> list[str]:
    """Each CNN on the validation set against the simplest baseline."""
    rows = []
    for path in cnn_metrics:
        metrics = json.loads(Path(path).read_text())
        name = Path(path).parent.name
        if "rmse" in metrics:
            rows.append({"model": name, "target": "37 GZ2 probabilities", "metric": "RMSE",
                         "model_value": metrics["rmse"], "baseline": "training mean",
                         "baseline_value": metrics["rmse_training_mean"]})
        else:
            rows.append({"model": name, "target": "M/L", "metric": "L1", "model_value": metrics["l1"],
                         "baseline": "weighted median", "baseline_value": metrics["l1_constant"]})
    if not rows:
        return []
    table = pd.DataFrame(rows)
    beats = (table["model_value"] < table["baseline_value"]).all()
    verdict = "Every CNN beats its baseline." if beats else "Not every CNN beats its baseline (see the table)."
    return ["## CNNs on the validation set", verdict, _markdown(table, 3)]


def tuning_section(fit_files: list[str]) -> list[str]:
    """Each LightGBM predictor's hyperparameters: how they were chosen, the choice, and each grid
    point's K-fold CV loss on the training set (from its fit.json)."""
    rows = []
    for path in fit_files:
        info = json.loads(Path(path).read_text())
        if info.get("kind") != "gbm":
            continue
        scores = info.get("cv_scores") or {}
        chosen = ", ".join(f"{k}={v}" for k, v in sorted((info.get("params") or info.get("chosen") or {}).items()))
        points = {key: dict(part.split("=", 1) for part in key.split(",")) for key in scores}
        varying = sorted({k for p in points.values() for k, v in p.items()
                          if len({q.get(k) for q in points.values()}) > 1})
        start = "the g-i power law" if (info.get("base") or {}).get("kind") == "powerlaw" else "the weighted median"
        entries = [(", ".join(f"{k}={points[key][k]}" for k in varying), loss) for key, loss in scores.items()]
        if info.get("cv_start_loss") is not None:
            entries.append((f"no trees ({start} alone)", info["cv_start_loss"]))
        grid = "; ".join(f"{label}: {loss:.3f}" for label, loss in sorted(entries, key=lambda e: e[1]))
        if info.get("no_trees"):
            chosen = f"no trees: {start} alone" + (f" (M/L {info['constant_ml']:.3f})"
                                                   if info.get("constant_ml") is not None else "")
        rows.append({"predictor": info["predictor"], "features": len(info.get("features", [])),
                     "how": info.get("tuning", "gbm.params"), "hyperparameters": chosen,
                     "trees": info.get("best_iteration", "–"), "CV loss per grid point (best first)": grid or "–"})
    if not rows:
        return []
    return ["## LightGBM hyperparameters per predictor",
            "Predictors with few features are tuned by K-fold CV on the training set (gbm.tuning), which also "
            "scores the boosting's starting point alone (the weighted median, the L1-optimal constant, or the "
            "base power law): where no grid point beats it the predictor has no trees. The CNN-feature "
            "predictors keep the paper's values, which the paper chose by CV for its ~2,200 features.",
            _markdown(pd.DataFrame(rows), 3)]


ORACLE_WORDS = {"colour_morph": "colour + true morphology", "colour": "colour (z, L_g, g-i)",
                "luminosity_morph": "L_g + z + true morphology", "luminosity": "L_g + z",
                "gi_powerlaw": "the g-i power law"}


def oracle_section(oracle: pd.DataFrame) -> list[str]:
    """The mock's catalogue-level oracle in words: what its true morphology can add at most."""
    title = "## What the mock's true morphology can add (catalogue-level oracle)"
    if not len(oracle):
        return [title, ("Too few galaxies above the D25 cut in this mock for the oracle's 5-fold "
                        "cross-validation (`mlpipe/evaluate/oracle.py`, MIN_GALAXIES).")]
    lines = []
    for _, r in oracle.iterrows():
        lines.append(f"- {ORACLE_WORDS[r['with']]} vs {ORACLE_WORDS[r['without']]}: L1 {r['l1_with']:.2f} vs "
                     f"{r['l1_without']:.2f}, ratio {r['ratio']:.2f} (the paper's predictors: {r['paper_ratio']:.2f}); "
                     f"paired 95 % interval of the difference {r['difference_ci_low']:+.2f} to "
                     f"{r['difference_ci_high']:+.2f}; " + (
                         f"a test set decides it at 95 % (80 % power) from about {r['galaxies_needed']:,.0f} galaxies."
                         if np.isfinite(r["galaxies_needed"]) else "no gain on this draw."))
    n = int(oracle["n_galaxies"].iloc[0])
    intro = (f"LightGBM, 5-fold cross-validation on this run's `truth.csv` ({n:,} galaxies above the D25 cut, "
             "M/L with the mock's SED-fit scatter), given the *true* type, bulge fraction and axis ratio "
             "instead of CNN features: an upper bound on what the images can add on this mock "
             "(`mlpipe/evaluate/oracle.py`).")
    return [title, intro, *lines]


def luminosity_statement(lum_g_column: str | None) -> str:
    """Where L_g (the denominator of the target and of M* = Y L_g) came from."""
    if lum_g_column:
        return (f"L_g: the user's own luminosity, column `{lum_g_column}` of the photometry table "
                f"(error `{lum_g_column}_err`).")
    return ("L_g: from the g-band photometry (magnitude or flux) corrected for Galactic extinction and the "
            "luminosity distance (no K-correction); its error from the photometric error.")


class FigurePlacer:
    """The figures of one report.md section: each inline (a link relative to the report) with its
    caption, read from report/<caption>.rst (the same text the HTML report shows)."""

    def __init__(self, figures: list[str], captions: list[str], report_path: str | Path) -> None:
        self.texts = {Path(c).stem: Path(c).read_text().strip() for c in captions}
        self.folder = Path(report_path).parent
        self.specs = [(figure_spec(Path(f).stem), f) for f in figures]
        self.placed: set[str] = set()

    def section(self, name: str) -> list[str]:
        parts = []
        for spec, file in self.specs:
            if spec.section == name and spec.name not in self.placed:
                self.placed.add(spec.name)
                link = Path(os.path.relpath(file, self.folder)).as_posix()
                caption = self.texts.get(spec.caption_name, "")
                parts += [f"![{spec.title}]({link})", f"**{spec.title}.** {caption}".strip()]
        return parts

    def stage_figure(self, file: str, caption: str, title: str, **wildcards: str) -> list[str]:
        """A figure of an earlier stage (learning curve, preprocessing of a shard), captioned by
        report/<caption>.rst with its wildcards filled in."""
        text = self.texts.get(caption, "")
        for key, value in wildcards.items():
            text = text.replace("{{ snakemake.wildcards.%s }}" % key, value)
        link = Path(os.path.relpath(file, self.folder)).as_posix()
        return [f"![{title}]({link})", text]

    def rest(self) -> list[str]:
        """Figures whose section the report did not show (its table was empty)."""
        return [part for section in {spec.section for spec, _ in self.specs} for part in self.section(section)]


def not_in_run_section(*, images: bool) -> list[str]:
    """What this run's report leaves out and why: the figures and sections of the registry
    (mlpipe/evaluate/registry.py) that need more than the run has."""
    by_reason: dict[str, list[str]] = {}
    for title, why in missing_parts(images=images):
        by_reason.setdefault(why, []).append(title)
    parts = ["## Not in this run"] if by_reason else []
    for why, titles in by_reason.items():
        parts += [f"These figures and sections need {why}; this run does not make them:",
                  "\n".join(f"- {title}" for title in titles)]
    return parts


def write_report(metrics_dir: str | Path, figures: list[str], path: str | Path, source: str,
                 cnn_metrics: list[str] = (), lum_g_column: str | None = None,
                 oracle: str | Path | None = None, fit_files: list[str] = (), captions: list[str] = (),
                 learning_curves: list[str] = (), preprocess_figure: str | None = None,
                 images: bool = True) -> None:
    """report.md: the metric tables beside the paper's numbers, each figure inline beside the
    table it illustrates with its caption (``captions``: the report/*.rst files). ``images``:
    False for a table-only run, whose report says which figures and sections need images."""
    m = Path(metrics_dir)
    placer = FigurePlacer(list(figures), list(captions), path)
    shard = Path(preprocess_figure).stem.removeprefix("shard-") if preprocess_figure else ""
    preprocess = (placer.stage_figure(preprocess_figure, "preprocess", f"Preprocessing of shard {shard}", shard=shard)
                  + ["Every shard's preprocessing figure is in figures/preprocess/."]) if preprocess_figure else []
    table = pd.read_csv(m / "predictors.csv")
    main = table[table["tags"] == "main"]
    parts = [
        "# mlpipe report",
        f"Data: **{source}** survey. All numbers are on the test set; L1 = mean |Y_pred − Y| / dY "
        "(Dobbels et al. 2019, Eq. 2), Y = M*/L_g. " + luminosity_statement(lum_g_column),
        "## Sample and image scaling (paper Sect. 2, Figs. 1 and 2)" if images else "## Sample (paper Sect. 2, Fig. 2)",
        *placer.section("sample"),
        *preprocess,
    ]
    sig = pd.read_csv(m / "significance.csv")
    parts += ordering_section(sig, table)
    parts += [
        "## Predictors (paper Table 2 and Sect. 6)",
        _markdown(main[["predictor", "description", "l1", "l1_ci_low", "l1_ci_high", "rmsle", "within_015_dex",
                        "median_l1", "paper_l1"]]),
        *placer.section("predictors"),
    ]
    if oracle is not None:
        parts += oracle_section(pd.read_csv(oracle))
    parts += cnn_section(list(cnn_metrics))
    parts += tuning_section(list(fit_files))
    for curve in learning_curves:
        model = Path(curve).stem.removesuffix("_learning_curve")
        parts += placer.stage_figure(curve, "learning_curve", f"Learning curve of {model}", model=model)
    if len(sig):
        cols = ["better", "reference", "n", "mean_difference", "difference_ci_low", "difference_ci_high",
                "p_sign_flip", "p_wilcoxon", "verdict", "detectable_difference", "p_ks"]
        shown = sig[cols].copy()
        for col in ("p_sign_flip", "p_wilcoxon", "p_ks"):
            shown[col] = shown[col].map(_p)
        parts += ["## Paired tests of per-galaxy L1 (and the paper's one-sided KS test)", _markdown(shown, 3)]
    if "coverage_68" in table and table["coverage_68"].notna().any():
        cov = table[table["coverage_68"].notna()][["predictor", "coverage_68"]]
        parts += ["## Per-galaxy uncertainties (16th–84th percentile models)",
                  "Share of test galaxies whose true M/L lies inside the predicted interval (nominal 0.68):",
                  _markdown(cov)]
    for name, title in (("ablation.csv", "Ablations (paper Table 1)"),
                        ("loss_functions.csv", "Loss functions (paper Table B.1)"),
                        ("per_class.csv", "L1 per morphology class"),
                        ("multiband.csv", "Bands added one at a time (paper Fig. 8)")):
        if (m / name).exists():
            df = pd.read_csv(m / name)
            if len(df):
                parts += [f"## {title}", _markdown(df), *placer.section(name.removesuffix(".csv"))]
    rest = placer.rest()
    if rest:
        parts += ["## Other figures", *rest]
    parts += not_in_run_section(images=images)
    if source == "mock":
        parts += ["", "The mock survey is smaller and simpler than SDSS (see workflow_config.yaml), so absolute "
                  "L1 values differ from the paper's; the orderings are what the comparison tests."]
    with atomic_path(path, ".md") as tmp:
        tmp.write_text("\n\n".join(parts) + "\n")
