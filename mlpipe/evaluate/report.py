"""results/report.md: each of our numbers beside the paper's, and what the run found, in words."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from mlpipe.evaluate.registry import figure_spec
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


def _beats(table: pd.DataFrame, better: str, worse: str) -> str:
    rows = table.set_index("predictor")
    if better not in rows.index or worse not in rows.index:
        return f"- {better} vs {worse}: not run."
    a, b = rows.loc[better], rows.loc[worse]
    overlap = a["l1_ci_high"] >= b["l1_ci_low"]
    verdict = ("beats" if a["l1"] < b["l1"] else "does NOT beat")
    note = " (their 95 % bootstrap intervals overlap)" if overlap and a["l1"] < b["l1"] else ""
    return (f"- **{better}** (L1 {a['l1']:.2f}, 95 % CI {a['l1_ci_low']:.2f}–{a['l1_ci_high']:.2f}) {verdict} "
            f"**{worse}** (L1 {b['l1']:.2f}){note}; the paper: {_fmt(a['paper_l1'])} vs {_fmt(b['paper_l1'])}.")


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


def luminosity_statement(lum_g_column: str | None) -> str:
    """Where L_g (the denominator of the target and of M* = Y L_g) came from."""
    if lum_g_column:
        return (f"L_g: the user's own luminosity, column `{lum_g_column}` of the photometry table "
                f"(error `{lum_g_column}_err`).")
    return ("L_g: from SDSS modelMag_g corrected for Galactic extinction and the luminosity distance "
            "(no K-correction); its error from modelMagErr_g.")


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


def write_report(metrics_dir: str | Path, figures: list[str], path: str | Path, source: str,
                 cnn_metrics: list[str] = (), lum_g_column: str | None = None, captions: list[str] = (),
                 learning_curves: list[str] = (), preprocess_figure: str | None = None) -> None:
    """report.md: the metric tables beside the paper's numbers, each figure inline beside the
    table it illustrates with its caption (``captions``: the report/*.rst files)."""
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
        "## Sample and image scaling (paper Sect. 2, Figs. 1 and 2)",
        *placer.section("sample"),
        *preprocess,
        "## Does the paper's ordering hold?",
        _beats(table, "g_morph", "g_ref"), _beats(table, "gi_morph", "gi_gbm"), _beats(table, "gi_gbm", "gi_powerlaw"),
        "## Predictors (paper Table 2 and Sect. 6)",
        _markdown(main[["predictor", "description", "l1", "l1_ci_low", "l1_ci_high", "rmsle", "within_015_dex",
                        "median_l1", "paper_l1"]]),
        *placer.section("predictors"),
    ]
    parts += cnn_section(list(cnn_metrics))
    for curve in learning_curves:
        model = Path(curve).stem.removesuffix("_learning_curve")
        parts += placer.stage_figure(curve, "learning_curve", f"Learning curve of {model}", model=model)
    sig = pd.read_csv(m / "significance.csv")
    if len(sig):
        parts += ["## One-sided KS tests of per-galaxy L1", _markdown(sig, 3)]
    if "coverage_68" in table and table["coverage_68"].notna().any():
        cov = table[table["coverage_68"].notna()][["predictor", "coverage_68"]]
        parts += ["## Per-galaxy uncertainties (16th–84th percentile models)",
                  "Share of test galaxies whose true M/L lies inside the predicted interval (nominal 0.68):",
                  _markdown(cov)]
    for name, title in (("ablation.csv", "Ablations (paper Table 1)"), ("loss_functions.csv", "Loss functions (paper Table B.1)"),
                        ("per_class.csv", "L1 per morphology class"), ("multiband.csv", "Bands added one at a time (paper Fig. 8)")):
        if (m / name).exists():
            df = pd.read_csv(m / name)
            if len(df):
                parts += [f"## {title}", _markdown(df), *placer.section(name.removesuffix(".csv"))]
    rest = placer.rest()
    if rest:
        parts += ["## Other figures", *rest]
    parts += ["", "The mock survey is smaller and simpler than SDSS (see workflow_config.yaml), so absolute "
              "L1 values differ from the paper's; the orderings are what the comparison tests."]
    with atomic_path(path, ".md") as tmp:
        tmp.write_text("\n\n".join(parts) + "\n")
