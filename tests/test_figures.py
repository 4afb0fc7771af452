"""The evaluation figures: every registry figure drawn from the tiny run, checked for its panels
and labelled axes (not pixels); the report shows each inline with its caption."""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY

from mlpipe.config import load_merged
from mlpipe.evaluate import figures
from mlpipe.evaluate.classes import figure6_class
from mlpipe.evaluate.registry import PAPER_FIGURES, evaluation_figures, figure_spec
from mlpipe.io.figure import save_figure

#: panels (axes, colour bars included) each figure must have on the tiny run
PANELS = {"fig1_scaling": 3 * 3 + 1, "fig2_ml_histogram": 1, "fig4_g_band": 4 + 2, "fig5_importance": 1,
          "fig6_ml_features": 3, "fig7_colour": 4 + 3, "fig8_multiband": 1, "importance_g_morph": 1,
          "importance_gi_morph": 1, "predicted_vs_true": 5 + 5, "residuals": 3}
UNIT = re.compile(r"\[[^\]]+\]$")  # a label ends with its unit in brackets


def _config() -> dict:
    return load_merged(REPO / "workflow_config.yaml", TINY)


@pytest.fixture(scope="module")
def figure_inputs(tiny_run):
    cfg = _config()
    results = Path(tiny_run) / "results"
    cwd = Path.cwd()
    try:  # the store index lists stores relative to the workflow folder
        os.chdir(tiny_run)
        return figures.read_inputs(table=results / "gbm" / "features.h5", predictions=results / "predictions",
                                   metrics=results / "metrics", sample=results / "catalog" / "sample.csv",
                                   rejected=results / "catalog" / "rejected.csv",
                                   store_index=results / "images" / "stores.csv",
                                   evaluate_cfg=cfg["evaluate"], preprocess_cfg=cfg["preprocess"])
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("name", list(PANELS))
def test_every_figure_has_its_panels_with_labelled_axes(figure_inputs, name):
    fig = figures.draw(figure_spec(name), figure_inputs)
    assert len(fig.axes) == PANELS[name]
    for ax in fig.axes:
        labels = [ax.get_ylabel()] if hasattr(ax, "_colorbar") else [ax.get_xlabel(), ax.get_ylabel()]
        for label in labels:
            assert UNIT.search(label), f"{name}: axis label {label!r} has no unit"


def test_registry_lists_every_figure_the_workflow_writes(tiny_run):
    specs = evaluation_figures(["g_morph", "gi_morph"])
    assert {s.name for s in specs} == set(PANELS)
    for spec in specs:
        assert (REPO / "report" / f"{spec.caption_name}.rst").exists(), spec.name
        assert (Path(tiny_run) / "results" / "figures" / f"{spec.name}.png").stat().st_size > 5000, spec.name


def test_fig1_shows_three_galaxies_of_rising_snr_with_their_automatic_a(figure_inputs):
    data = figure_inputs
    sky = data.example_features["sky_sigma"].to_dict()
    chosen = figures.scaling_examples(data.examples, sky)
    snr = [figures.central_snr(data.examples[i], sky[i]) for i in chosen]
    assert len(chosen) == 3 and snr == sorted(snr) and snr[0] < snr[-1]
    fig = figures.draw(figure_spec("fig1_scaling"), data)
    # the inset a of each column is the preprocessing's own value for that galaxy
    stored = data.features.set_index(data.meta["objid"].to_numpy())["img_scale_a"]
    insets = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text().startswith("a = ")]
    assert insets == [f"a = {stored[i]:.3g}" for i in chosen]


def test_fig2_shows_the_galaxies_of_the_chi2_cut_apart(figure_inputs):
    rejected = figure_inputs.rejected
    chi2 = rejected[rejected["stage"] == "cut_chi2"]
    assert len(chi2) and (chi2["ml"] > 0).all() and (chi2["redchisq"] >= 5).all()
    fig = figures.draw(figure_spec("fig2_ml_histogram"), figure_inputs)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"removed by the chi2 cut ({len(chi2)})" in legend
    assert sum(int(re.search(r"\((\d+)\)", t).group(1)) for t in legend[:3]) == len(figure_inputs.sample)


def test_figure6_classes_follow_the_papers_order():
    cols = {f"cnn1_gz2_q08_odd_feature_{a}": [0.15, 0.0, 0.0, 0.0, 0.1] for a in ("irregular",)}
    cols |= {f"cnn1_gz2_q08_odd_feature_{a}": [0.0, 0.0, 0.0, 0.0, 0.15] for a in ("disturbed", "merger")}
    cols |= {"cnn1_gz2_q02_edgeon_yes": [0.9, 0.5, 0.1, 0.1, 0.0],
             "cnn1_gz2_q01_smooth_or_features_features_or_disk": [0.9, 0.9, 0.5, 0.3, 0.0]}
    classes = figure6_class(pd.DataFrame(cols), "cnn1", {"irregular": 0.2, "edge_on": 0.4, "feature_disk": 0.4})
    assert list(classes) == ["edge-on", "edge-on", "feature/disk", "elliptical", "irregular"]


def test_report_shows_every_figure_inline_beside_its_caption(tiny_run):
    results = Path(tiny_run) / "results"
    report = (results / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    stems = [Path(link).stem for link in links]
    assert sorted(set(stems) & set(PANELS)) == sorted(PANELS) and len(stems) == len(set(stems))
    assert {"shard-0", "cnn1_learning_curve", "cnn4_learning_curve"} <= set(stems)
    for link in links:
        assert (results / link).exists(), link
    for spec in PAPER_FIGURES:
        caption = (REPO / "report" / f"{spec.name}.rst").read_text().strip()
        assert caption in report, spec.name
    # each paper figure sits in the section of the table it illustrates
    sections = {s.split("\n", 1)[0]: s for s in report.split("\n## ")}
    assert "fig8_multiband.png" in next(v for k, v in sections.items() if k.startswith("Bands added"))
    assert "fig4_g_band.png" in next(v for k, v in sections.items() if k.startswith("Predictors"))


def test_figure_functions_return_figures_without_writing(tmp_path):
    """A figure function returns a Figure; only save_figure writes (atomically) and closes it."""
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"bands": ["g", "gr"], "l1_without_morphology": [3.0, 2.0], "l1_with_morphology": [2.5, 1.9]})
    fig = figures.fig8_multiband(table=table)
    assert len(fig.axes) == 1 and not list(tmp_path.iterdir())
    save_figure(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG" and [p.name for p in tmp_path.iterdir()] == ["f.png"]
    profile = np.exp(-((np.arange(40) - 20) ** 2) / 20.0)
    examples = {i: rng.normal(0, 1, (40, 40)) + 20 * i * np.outer(profile, profile) for i in (1, 2, 3, 4, 5)}
    assert figures.scaling_examples(examples, {i: 1.0 for i in examples}) == [1, 3, 5]


def test_every_caption_is_clean_restructured_text():
    """The HTML report renders report/*.rst with docutils; a caption it warns about would show
    an error box there (report.md shows the same text)."""
    import io

    import docutils.core

    for spec in evaluation_figures(["g_morph"]):
        path = REPO / "report" / f"{spec.caption_name}.rst"
        warnings = io.StringIO()
        docutils.core.publish_string(path.read_text(), writer="html",
                                     settings_overrides={"warning_stream": warnings, "report_level": 1})
        assert warnings.getvalue() == "", f"{path.name}: {warnings.getvalue()}"
        assert "**Paper" in path.read_text() or spec.caption_name == "importance", path.name
