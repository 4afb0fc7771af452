"""The evaluation outputs, listed once: the metric tables of ``mlpipe evaluate`` and the figures of
``mlpipe figures``. rules/common.smk, the CLI, the report and the tests read these lists (plain
data: Snakemake imports this module at start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

#: results/metrics/<name>.csv written by `mlpipe evaluate`
METRIC_TABLES = ("predictors", "significance", "per_class", "ablation", "loss_functions", "multiband")


@dataclass(frozen=True)
class FigureSpec:
    """One evaluation figure: ``results/figures/<name>.png``, drawn by mlpipe.evaluate.figures.draw,
    captioned by ``report/<caption>.rst`` (the HTML report and
    report.md), shown in report.md beside the table of ``section``."""

    name: str
    title: str
    section: str
    caption: str = ""

    @property
    def caption_name(self) -> str:
        return self.caption or self.name


#: the paper's data figures, in the paper's order
PAPER_FIGURES = (
    FigureSpec("fig1_scaling", "Fig. 1: linear, constant and automatic log scaling", "sample"),
    FigureSpec("fig2_ml_histogram", "Fig. 2: M/L per split, and the galaxies the chi2 cut drops", "sample"),
    FigureSpec("fig4_g_band", "Fig. 4: g-band predictors without and with morphology", "predictors"),
    FigureSpec("fig5_importance", "Fig. 5: permutation importances", "ablation"),
    FigureSpec("fig6_ml_features", "Fig. 6: M/L against morphology and luminosity (training set)", "per_class"),
    FigureSpec("fig7_colour", "Fig. 7: g-i predictors without and with morphology", "predictors"),
    FigureSpec("fig8_multiband", "Fig. 8: test L1 as bands are added", "multiband"),
)

#: one per predictor of evaluate.importance.predictors; ``{predictor}`` is filled in
IMPORTANCE_FIGURE = FigureSpec("importance_{predictor}", "Permutation importances of {predictor}", "ablation",
                               caption="importance")

#: the report.md sections figures can be placed beside
SECTIONS = ("sample", "predictors", "ablation", "per_class", "multiband")


def importance_figure(predictor: str) -> FigureSpec:
    return FigureSpec(IMPORTANCE_FIGURE.name.format(predictor=predictor),
                      IMPORTANCE_FIGURE.title.format(predictor=predictor), IMPORTANCE_FIGURE.section,
                      IMPORTANCE_FIGURE.caption)


def evaluation_figures(importance_predictors: Sequence[str]) -> list[FigureSpec]:
    """Every figure `mlpipe figures` draws, for the configured importance predictors."""
    return [*PAPER_FIGURES, *(importance_figure(p) for p in importance_predictors)]


def figure_spec(name: str) -> FigureSpec:
    """The registry entry of the figure ``results/figures/<name>.png``."""
    for spec in PAPER_FIGURES:
        if spec.name == name:
            return spec
    prefix = IMPORTANCE_FIGURE.name.split("{")[0]
    if name.startswith(prefix):
        return importance_figure(name.removeprefix(prefix))
    raise KeyError(f"{name}.png is not an evaluation figure (mlpipe/evaluate/registry.py)")


def figure_path(spec: FigureSpec, folder: str = "results/figures") -> str:
    return f"{folder}/{spec.name}.png"
