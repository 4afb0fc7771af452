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
    needs: tuple[str, ...] = ()  # keys of NEEDS: what the figure reads beyond the catalogues and predictions

    @property
    def caption_name(self) -> str:
        return self.caption or self.name


#: what a figure or a report section may need beyond the catalogues and the predictions, and what a
#: run without it lacks (a table-only run, ``data.real.images: null``, has no images and no CNN)
NEEDS = {"images": "the g-band images and the CNNs' morphology features (this run reads no images: "
                   "data.real.images is null)"}

#: the paper's data figures, in the paper's order
PAPER_FIGURES = (
    FigureSpec("fig1_scaling", "Fig. 1: linear, constant and automatic log scaling", "sample", needs=("images",)),
    FigureSpec("fig2_ml_histogram", "Fig. 2: M/L per split, and the galaxies the chi2 cut drops", "sample"),
    FigureSpec("fig4_g_band", "Fig. 4: g-band predictors without and with morphology", "predictors",
               needs=("images",)),
    FigureSpec("fig5_importance", "Fig. 5: permutation importances", "ablation"),
    FigureSpec("fig6_ml_features", "Fig. 6: M/L against morphology and luminosity (training set)", "per_class",
               needs=("images",)),
    FigureSpec("fig7_colour", "Fig. 7: g-i predictors without and with morphology", "predictors",
               needs=("images",)),
    FigureSpec("fig8_multiband", "Fig. 8: test L1 as bands are added", "multiband"),
)

#: figures of every run that the paper does not have: each main predictor the run trained
RUN_FIGURES = (
    FigureSpec("predicted_vs_true", "Predicted against true M/L of every main predictor (test set)", "predictors"),
    FigureSpec("residuals", "Residuals in dex against true M/L and redshift (test set)", "predictors"),
)

#: report.md sections that read what only some runs have, with what they need (keys of NEEDS)
SECTION_NEEDS = {
    "Preprocessing of the g-band images (one figure per shard)": ("images",),
    "CNNs on the validation set and their learning curves": ("images",),
    "L1 per morphology class (classes from a CNN's GZ2 probabilities)": ("images",),
    "Ablations of the morphology predictor (paper Table 1)": ("images",),
}

#: one per predictor of evaluate.importance.predictors; ``{predictor}`` is filled in
IMPORTANCE_FIGURE = FigureSpec("importance_{predictor}", "Permutation importances of {predictor}", "ablation",
                               caption="importance")

#: the report.md sections figures can be placed beside
SECTIONS = ("sample", "predictors", "ablation", "per_class", "multiband")


def importance_figure(predictor: str) -> FigureSpec:
    return FigureSpec(IMPORTANCE_FIGURE.name.format(predictor=predictor),
                      IMPORTANCE_FIGURE.title.format(predictor=predictor), IMPORTANCE_FIGURE.section,
                      IMPORTANCE_FIGURE.caption)


def run_has(*, images: bool) -> frozenset[str]:
    """The keys of NEEDS a run has."""
    return frozenset({"images"} if images else ())


def evaluation_figures(importance_predictors: Sequence[str], *, images: bool = True) -> list[FigureSpec]:
    """Every figure `mlpipe figures` draws, for the configured importance predictors; without
    ``images`` (a table-only run) only those that need none."""
    has = run_has(images=images)
    specs = [*PAPER_FIGURES, *RUN_FIGURES, *(importance_figure(p) for p in importance_predictors)]
    return [spec for spec in specs if set(spec.needs) <= has]


def missing_parts(*, images: bool) -> list[tuple[str, str]]:
    """(figure title or report section, why the run does not have it) for what needs more than
    the run has."""
    has = run_has(images=images)
    figures = [(spec.title, spec.needs) for spec in (*PAPER_FIGURES, *RUN_FIGURES)]
    return [(title, "; ".join(NEEDS[n] for n in needs if n not in has))
            for title, needs in (*figures, *SECTION_NEEDS.items()) if not set(needs) <= has]


def figure_spec(name: str) -> FigureSpec:
    """The registry entry of the figure ``results/figures/<name>.png``."""
    for spec in (*PAPER_FIGURES, *RUN_FIGURES):
        if spec.name == name:
            return spec
    prefix = IMPORTANCE_FIGURE.name.split("{")[0]
    if name.startswith(prefix):
        return importance_figure(name.removeprefix(prefix))
    raise KeyError(f"{name}.png is not an evaluation figure (mlpipe/evaluate/registry.py)")


def figure_path(spec: FigureSpec, folder: str = "results/figures") -> str:
    return f"{folder}/{spec.name}.png"
