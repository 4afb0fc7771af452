"""The evaluation figures: the paper's data figures (Figs. 1, 2, 4-8) and the permutation
importances of every configured predictor. Each function returns a matplotlib Figure (written by
mlpipe.io.figure.save_figure); ``draw`` maps the registry's names (mlpipe.evaluate.registry) to
them. Every axis has a label with its unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from scipy.stats import gaussian_kde

from mlpipe import losses
from mlpipe.evaluate.classes import figure6_class
from mlpipe.evaluate.metrics import DEX_TOLERANCE
from mlpipe.evaluate.registry import FigureSpec
from mlpipe.preprocess.features import centre_values
from mlpipe.preprocess.scaling import log_stretch, rescale_unit

ML_LABEL = r"$M_\star/L_g$ [$M_\odot/L_\odot$]"
LOG_ML_LABEL = r"$\log_{10}\,M_\star/L_g$ [dex, $M_\odot/L_\odot$]"
DEX_LABEL = r"$\log_{10}$(predicted / true $M_\star/L_g$) [dex]"
L1_LABEL = r"per-galaxy L1 = |$\Delta Y$| / $\sigma_Y$ [dimensionless]"
COUNT_LABEL = "test galaxies [count]"
PIXEL_LABELS = ("x [px]", "y [px]")
SPLITS = ("train", "validation", "test")
#: the predictors the figures read (Figs. 4 and 7)
FIGURE_PREDICTORS = ("g_ref", "g_morph", "gi_powerlaw", "gi_gbm", "gi_morph")
CLASS_COLOURS = {"elliptical": "tab:red", "feature/disk": "tab:blue", "edge-on": "tab:green",
                 "irregular": "tab:purple"}


@dataclass
class FigureInputs:
    """What the figures read, each from an earlier stage's output."""

    predictions: Mapping[str, pd.DataFrame]  # per predictor: objid, split, ml, ml_err, ml_pred
    meta: pd.DataFrame                       # features table: objid, split, ml, ml_err, lum_g
    features: pd.DataFrame                   # features table: model inputs, rows as meta
    sample: pd.DataFrame                     # catalog/sample.csv: ml, split
    rejected: pd.DataFrame                   # catalog/rejected.csv: stage, ml (chi2 cut)
    examples: Mapping[int, np.ndarray]       # objid -> star-replaced cut-out before scaling
    example_features: pd.DataFrame           # their image-store features, indexed by objid
    multiband: pd.DataFrame                  # metrics/multiband.csv
    importance: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # metrics/importance_<p>.csv
    evaluate_cfg: Mapping[str, Any] = field(default_factory=dict)        # config `evaluate`
    preprocess_cfg: Mapping[str, Any] = field(default_factory=dict)      # config `preprocess`


def _test(pred: pd.DataFrame) -> pd.DataFrame:
    return pred[pred["split"] == "test"]


def _l1(part: pd.DataFrame) -> float:
    return losses.l1(part["ml_pred"], part["ml"], part["ml_err"])


def _missing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8)


# --- Fig. 1 -------------------------------------------------------------------------------------

def central_snr(image: np.ndarray, sky_sigma: float) -> float:
    """S/N of the flux in the central 5 x 5 pixels (the galaxy's catalogue position), as the
    preprocessing's ``min_central_snr`` check measures it."""
    return centre_values(image)[1] * 25 / (max(float(sky_sigma), 1e-30) * 5)


def scaling_examples(examples: Mapping[int, np.ndarray], sky_sigma: Mapping[int, float], n: int = 3) -> list[int]:
    """``n`` example galaxies of rising central S/N: the faintest, the median and the brightest
    of the examples."""
    snr = pd.Series({objid: central_snr(img, sky_sigma[objid]) for objid, img in examples.items()}).sort_values()
    if len(snr) <= n:
        return list(snr.index)
    picks = np.unique(np.round(np.linspace(0, len(snr) - 1, n)).astype(int))
    return list(snr.index[picks])


def fig1_scaling(*, examples: Mapping[int, np.ndarray], sky_sigma: Mapping[int, float],
                 scale_a: Mapping[int, float], constant_a: float, noise_level_target: float) -> Figure:
    """Three galaxies of rising S/N (columns) in three rows: linear [0, 1] rescaling, the log
    stretch with one constant ``a`` for every galaxy, and with each image's automatic ``a`` (the
    value preprocessing found, ``scale_a`` of the image store)."""
    chosen = scaling_examples(examples, sky_sigma)
    ncol = max(len(chosen), 1)
    fig = Figure(figsize=(2.9 * ncol + 0.8, 8.4), layout="constrained")
    axes = fig.subplots(3, ncol, squeeze=False)
    rows = ("linear", f"constant a = {constant_a:.3g}", "automatic a")
    shown = None
    for col, objid in enumerate(chosen):
        unit = rescale_unit(examples[objid].astype(float))
        auto_a = float(scale_a[objid])
        snr = central_snr(examples[objid], sky_sigma[objid])
        for row, image in enumerate((unit, log_stretch(unit, constant_a), log_stretch(unit, auto_a))):
            ax = axes[row, col]
            shown = ax.imshow(image, origin="lower", cmap="gray", vmin=0, vmax=1)
            ax.set_xlabel(PIXEL_LABELS[0], fontsize=7)
            ax.set_ylabel(f"{rows[row]}\n{PIXEL_LABELS[1]}" if col == 0 else PIXEL_LABELS[1], fontsize=7)
            ax.tick_params(labelsize=6)
        axes[0, col].set_title(f"{objid}\ncentral S/N = {snr:.0f}", fontsize=8)
        axes[2, col].text(0.04, 0.96, f"a = {auto_a:.3g}", transform=axes[2, col].transAxes, va="top",
                          fontsize=8, color="k", bbox={"facecolor": "white", "alpha": 0.8, "pad": 2})
    if not chosen:
        for ax in axes[:, 0]:
            _missing(ax, "no example cut-outs in the image stores")
    if shown is not None:
        fig.colorbar(shown, ax=axes, shrink=0.6, label="scaled pixel value [0-1, dimensionless]")
    fig.suptitle("Scaling of the g-band cut-outs: linear, one constant a, automatic a (noise level -> "
                 f"{noise_level_target})", fontsize=9)
    return fig


# --- Fig. 2 -------------------------------------------------------------------------------------

def fig2_ml_histogram(*, sample: pd.DataFrame, rejected: pd.DataFrame) -> Figure:
    """M/L of the sample after the D25 cut: one histogram per split, and the galaxies the chi2
    cut removes shown apart."""
    chi2 = rejected.loc[rejected["stage"] == "cut_chi2", "ml"].dropna() if "ml" in rejected else pd.Series([], dtype=float)
    values = pd.concat([sample["ml"], chi2])
    values = values[values > 0]
    bins = np.geomspace(values.min() * 0.95, values.max() * 1.05, 41) if len(values) else np.geomspace(0.1, 20, 41)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    parts = [sample.loc[sample["split"] == s, "ml"] for s in SPLITS]
    ax.hist(parts, bins=bins, stacked=True, label=[f"{s} ({len(p)})" for s, p in zip(SPLITS, parts)])
    ax.hist(chi2, bins=bins, histtype="step", color="k", lw=1.5, hatch="//",
            label=f"removed by the chi2 cut ({len(chi2)})")
    ax.set_xscale("log")
    ax.set_xlabel(ML_LABEL)
    ax.set_ylabel("galaxies per bin [count]")
    median = float(np.median(sample["ml"])) if len(sample) else float("nan")
    ax.set_title(f"M/L after the D25 cut; sample median {median:.2f}", fontsize=9)
    ax.legend(fontsize=8)
    return fig


# --- predicted vs true (Figs. 4 and 7) ----------------------------------------------------------

def density_scatter(ax, pred: pd.DataFrame, name: str, lim: tuple[float, float]) -> None:
    """Test-set predicted vs true M/L, points coloured by a 2-D Gaussian KDE of (log true, log
    predicted); the 1:1 line and +-0.15 dex."""
    test = _test(pred)
    x, y = test["ml"].to_numpy(), test["ml_pred"].to_numpy()
    points = np.vstack([np.log10(x), np.log10(y)])
    try:
        density = gaussian_kde(points)(points)
    except (ValueError, np.linalg.LinAlgError):  # too few or degenerate points
        density = np.ones(len(x))
    order = np.argsort(density)
    sc = ax.scatter(x[order], y[order], c=density[order], s=6, cmap="viridis", rasterized=True)
    ax.figure.colorbar(sc, ax=ax, label="2-D KDE of the points [per dex$^2$]")
    line = np.array(lim)
    ax.plot(line, line, "k-", lw=1)
    for sign in (-1, 1):
        ax.plot(line, line * 10 ** (sign * DEX_TOLERANCE), "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # 0.1, 0.2, 0.5, 1, 2, ... written as plain numbers
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("true " + ML_LABEL)
    ax.set_ylabel("predicted " + ML_LABEL)
    ax.set_title(f"{name}: test L1 = {_l1(test):.2f}", fontsize=9)


def _limits(preds: Sequence[pd.DataFrame]) -> tuple[float, float]:
    values = np.concatenate([_test(p)[["ml", "ml_pred"]].to_numpy().ravel() for p in preds])
    values = values[values > 0]
    return float(values.min()) * 0.8, float(values.max()) * 1.25


def _dex_histogram(ax, preds: Mapping[str, pd.DataFrame]) -> None:
    for name, pred in preds.items():
        test = _test(pred)
        err = losses.dex_error(test["ml_pred"], test["ml"])
        within = float(np.mean(np.abs(err) <= DEX_TOLERANCE)) * 100
        ax.hist(err, bins=40, range=(-0.8, 0.8), histtype="step", lw=1.5, label=f"{name} ({within:.0f} % within 0.15 dex)")
    for x in (-DEX_TOLERANCE, DEX_TOLERANCE):
        ax.axvline(x, color="k", ls="--", lw=0.8)
    ax.set_xlabel(DEX_LABEL)
    ax.set_ylabel(COUNT_LABEL)
    ax.legend(fontsize=7)


def fig4_g_band(*, reference: pd.DataFrame, morphology: pd.DataFrame,
                names: tuple[str, str] = ("g_ref", "g_morph")) -> Figure:
    """The g-band predictors without (L_g + z) and with morphology: predicted vs true on the test
    set, the histograms of their dex errors and of the per-galaxy L1."""
    fig = Figure(figsize=(11, 9), layout="constrained")
    axes = fig.subplots(2, 2)
    preds = dict(zip(names, (reference, morphology)))
    lim = _limits(list(preds.values()))
    for ax, (name, pred) in zip(axes[0], preds.items()):
        density_scatter(ax, pred, name, lim)
    _dex_histogram(axes[1, 0], preds)
    for name, pred in preds.items():
        test = _test(pred)
        axes[1, 1].hist(losses.l1_terms(test["ml_pred"], test["ml"], test["ml_err"]), bins=40, range=(0, 15),
                        histtype="step", lw=1.5, label=f"{name} (mean {_l1(test):.2f})")
    axes[1, 1].set_xlabel(L1_LABEL)
    axes[1, 1].set_ylabel(COUNT_LABEL)
    axes[1, 1].legend(fontsize=7)
    return fig


def fig7_colour(*, preds: Mapping[str, pd.DataFrame]) -> Figure:
    """The g-i predictors (power law, GBM on z and g, i luminosities, the same plus morphology):
    predicted vs true on the test set and the histogram of their dex errors."""
    fig = Figure(figsize=(11, 9), layout="constrained")
    axes = fig.subplots(2, 2)
    lim = _limits(list(preds.values()))
    for ax, (name, pred) in zip(axes.ravel(), preds.items()):
        density_scatter(ax, pred, name, lim)
    _dex_histogram(axes[1, 1], preds)
    return fig


# --- every main predictor of the run -----------------------------------------------------------

def predicted_vs_true(*, preds: Mapping[str, pd.DataFrame]) -> Figure:
    """Test-set predicted vs true M/L of each predictor in ``preds`` (one panel each, the same
    axes), the 1:1 line and +-0.15 dex."""
    ncol = min(max(len(preds), 1), 3)
    nrow = max(1, -(-len(preds) // ncol))
    fig = Figure(figsize=(4.6 * ncol, 4.0 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    if not preds:
        _missing(axes[0], "no predictor trained")
        axes[0].set_xlabel("true " + ML_LABEL)
        axes[0].set_ylabel("predicted " + ML_LABEL)
    lim = _limits(list(preds.values())) if preds else (0.1, 10.0)
    for ax, (name, pred) in zip(axes, preds.items()):
        density_scatter(ax, pred, name, lim)
    for ax in axes[len(preds):] if preds else axes[1:]:
        fig.delaxes(ax)
    return fig


def binned_median(x: np.ndarray, y: np.ndarray, n_bins: int = 8) -> tuple[np.ndarray, ...]:
    """Centres (median x), median, 16th and 84th percentile of ``y`` in ``n_bins`` bins of equal
    counts of ``x`` (bins with fewer than 5 points are left out)."""
    order = np.argsort(x)
    rows = [(np.median(x[part]), *np.percentile(y[part], [50, 16, 84]))
            for part in np.array_split(order, max(1, min(n_bins, len(x) // 5))) if len(part) >= 5]
    return tuple(np.array(col) for col in zip(*rows)) if rows else tuple(np.array([]) for _ in range(4))


def residuals(*, preds: Mapping[str, pd.DataFrame], redshift: pd.Series) -> Figure:
    """Test-set error in dex of each predictor in ``preds`` against true M/L and against redshift
    (median and 16th-84th percentile in bins of equal counts), and its histogram."""
    fig = Figure(figsize=(15, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    for i, (name, pred) in enumerate(preds.items()):
        test = _test(pred)
        err = np.asarray(losses.dex_error(test["ml_pred"], test["ml"]))
        colour = f"C{i}"
        for ax, x in ((axes[0], test["ml"].to_numpy()), (axes[1], redshift.reindex(test["objid"]).to_numpy())):
            centre, median, lo, hi = binned_median(x, err)
            ax.plot(centre, median, "-o", color=colour, ms=3, label=name)
            ax.fill_between(centre, lo, hi, color=colour, alpha=0.15, lw=0)
    _dex_histogram(axes[2], preds)
    for ax, label in ((axes[0], "true " + ML_LABEL), (axes[1], "redshift z [dimensionless]")):
        ax.axhline(0.0, color="k", lw=0.8)
        for sign in (-1, 1):
            ax.axhline(sign * DEX_TOLERANCE, color="k", ls="--", lw=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel(DEX_LABEL)
        if preds:
            ax.legend(fontsize=7)
    axes[0].set_xscale("log")
    axes[0].set_title("median and 16th-84th percentile of the error per bin", fontsize=9)
    if not preds:
        for ax in axes:
            _missing(ax, "no predictor trained")
    return fig


# --- Fig. 5 and the importances of every predictor ----------------------------------------------

def importance_bar(*, table: pd.DataFrame, name: str, top: int) -> Figure:
    """The ``top`` permutation importances: validation L1 increase when a feature is shuffled."""
    top_rows = table.head(top)[::-1]
    fig = Figure(figsize=(7, 0.3 * len(top_rows) + 1.4), layout="constrained")
    ax = fig.subplots()
    ax.barh(top_rows["feature"], top_rows["l1_increase"], xerr=top_rows["l1_increase_std"])
    ax.set_xlabel("validation L1 increase when permuted [dimensionless]")
    ax.set_ylabel("feature [name in the features table]")
    ax.set_title(f"{name}: top {top} permutation importances", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    return fig


# --- Fig. 6 -------------------------------------------------------------------------------------

def opacity_hexbin(ax, x: np.ndarray, y: np.ndarray, colour: str, gridsize: int, extent, power: float = 0.5):
    """Hexagonal bins of one colour whose opacity is (count / max count) ** ``power``, so that
    sparse regions stay visible beside dense ones."""
    hb = ax.hexbin(x, y, gridsize=gridsize, extent=extent, mincnt=1, linewidths=0)
    counts = hb.get_array()
    rgba = np.tile(to_rgba(colour), (len(counts), 1))
    if len(counts):
        rgba[:, 3] = (counts / counts.max()) ** power
    hb.set_array(None)
    hb.set_facecolor(rgba)
    return hb


def _extent(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    pad = lambda v: (float(np.min(v)), float(np.max(v)) + 1e-9)  # noqa: E731
    return (*pad(x), *pad(y))


def fig6_ml_features(*, ml: np.ndarray, p_features_disk: np.ndarray, log_luminosity: np.ndarray,
                     classes: np.ndarray, model: str) -> Figure:
    """Training-set M/L against CNN ``model``'s P(features or disk), against log total luminosity
    of the image, and against luminosity per morphology class, as hexbins with non-linear opacity."""
    log_ml = np.log10(ml)
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    if len(ml) == 0:
        for ax in axes:
            _missing(ax, "no training galaxies")
    else:
        opacity_hexbin(axes[0], p_features_disk, log_ml, "tab:blue", 30, (0.0, 1.0, *_extent(log_ml, log_ml)[2:]))
        axes[0].set_xlim(0, 1)
        opacity_hexbin(axes[1], log_luminosity, log_ml, "tab:blue", 30, _extent(log_luminosity, log_ml))
        extent = _extent(log_luminosity, log_ml)
        for label, colour in CLASS_COLOURS.items():
            part = classes == label
            if part.any():
                opacity_hexbin(axes[2], log_luminosity[part], log_ml[part], colour, 25, extent)
            median = f"{np.median(ml[part]):.2f}" if part.any() else "-"
            axes[2].scatter([], [], marker="h", s=60, color=colour, label=f"{label} ({int(part.sum())}, {median})")
        axes[2].legend(fontsize=7, title="class (n, median M/L)", title_fontsize=7)
    axes[0].set_xlabel(f"{model} P(features or disk) [probability]")
    axes[0].set_title("M/L vs features or disk", fontsize=9)
    for ax in axes[1:]:
        ax.set_xlabel(r"$\log_{10}$ total image luminosity [erg s$^{-1}$ Hz$^{-1}$]")
    axes[1].set_title("M/L vs total luminosity", fontsize=9)
    axes[2].set_title(f"per morphology class ({model}'s last layer)", fontsize=9)
    for ax in axes:
        ax.set_ylabel(LOG_ML_LABEL)
    fig.suptitle(f"Training set ({len(ml)} galaxies); opacity ~ sqrt(count)", fontsize=9)
    return fig


# --- Fig. 8 -------------------------------------------------------------------------------------

def fig8_multiband(*, table: pd.DataFrame) -> Figure:
    """Test L1 as bands are added, with and without morphology."""
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(table))
    for offset, col, label in ((-0.2, "l1_without_morphology", "photometry only"),
                               (0.2, "l1_with_morphology", "photometry + morphology")):
        if col in table:
            bars = ax.bar(x + offset, table[col], width=0.4, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, table["bands"] if "bands" in table else [])
    ax.set_xlabel("bands used [SDSS filters]")
    ax.set_ylabel("test L1 [dimensionless]")
    if not len(table):
        _missing(ax, "no multiband predictors configured (gbm.studies)")
    else:
        ax.legend(fontsize=8)
    return fig


def read_inputs(*, table: str | Path, predictions: str | Path, metrics: str | Path, sample: str | Path,
                rejected: str | Path, store_index: str | Path | None, evaluate_cfg: Mapping[str, Any],
                preprocess_cfg: Mapping[str, Any], predictors: Sequence[str] = FIGURE_PREDICTORS) -> FigureInputs:
    """Everything the figures read: the features table, the predictions folder (those of
    ``predictors``, the run's, that the figures show), the metrics folder, the sample and rejected
    catalogues, and the example cut-outs of every image store the store index lists (its paths
    relative to the working directory, as the workflow writes them; none without images)."""
    from mlpipe.evaluate.tables import load_predictions
    from mlpipe.io.features_table import read_table_store
    from mlpipe.io.store import read_examples

    meta, features = read_table_store(table)
    examples: dict[int, np.ndarray] = {}
    example_features = [pd.DataFrame(columns=["sky_sigma", "scale_a"])]
    stores = pd.read_csv(store_index)["store"].drop_duplicates() if store_index else []
    for store in stores:
        images, rows = read_examples(store)
        examples |= images
        example_features.append(rows)
    names = evaluate_cfg["importance"]["predictors"]
    return FigureInputs(
        predictions=load_predictions(predictions, [p for p in FIGURE_PREDICTORS if p in predictors]), meta=meta,
        features=features,
        sample=pd.read_csv(sample), rejected=pd.read_csv(rejected), examples=examples,
        example_features=pd.concat([f for f in example_features if len(f)] or example_features),
        multiband=pd.read_csv(Path(metrics) / "multiband.csv"),
        importance={name: pd.read_csv(Path(metrics) / f"importance_{name}.csv") for name in names},
        evaluate_cfg=evaluate_cfg, preprocess_cfg=preprocess_cfg)


# --- every figure of the registry ---------------------------------------------------------------

def draw(spec: FigureSpec, data: FigureInputs) -> Figure:
    """The figure the registry entry ``spec`` names, from ``data``."""
    ev = data.evaluate_cfg
    if spec.name == "fig1_scaling":
        constant_a = float(np.median(data.features["img_scale_a"]))
        return fig1_scaling(examples=data.examples, sky_sigma=data.example_features["sky_sigma"].to_dict(),
                            scale_a=data.example_features["scale_a"].to_dict(), constant_a=constant_a,
                            noise_level_target=data.preprocess_cfg["noise_level_target"])
    if spec.name == "fig2_ml_histogram":
        return fig2_ml_histogram(sample=data.sample, rejected=data.rejected)
    if spec.name == "fig4_g_band":
        return fig4_g_band(reference=data.predictions["g_ref"], morphology=data.predictions["g_morph"])
    if spec.name == "fig5_importance":
        names = ev["importance"]["predictors"]
        if not names:
            fig = Figure(figsize=(7, 2), layout="constrained")
            ax = fig.subplots()
            _missing(ax, "no predictor in evaluate.importance.predictors")
            ax.set_xlabel("validation L1 increase when permuted [dimensionless]")
            ax.set_ylabel("feature [name in the features table]")
            return fig
        return importance_bar(table=data.importance[names[0]], name=names[0], top=ev["importance"]["top"])
    if spec.name == "fig6_ml_features":
        train = (data.meta["split"] == "train").to_numpy()
        model = ev["class_model"]
        features = data.features[train]
        return fig6_ml_features(
            ml=data.meta["ml"].to_numpy()[train],
            p_features_disk=features[f"{model}_gz2_q01_smooth_or_features_features_or_disk"].to_numpy(),
            log_luminosity=np.log10(features["img_lum_sum"].clip(lower=1e-30).to_numpy()),
            classes=figure6_class(features, model, ev["figure6_class_thresholds"]), model=model)
    if spec.name == "fig7_colour":
        return fig7_colour(preds={k: data.predictions[k] for k in ("gi_powerlaw", "gi_gbm", "gi_morph")})
    if spec.name == "fig8_multiband":
        return fig8_multiband(table=data.multiband)
    if spec.name == "predicted_vs_true":
        return predicted_vs_true(preds=data.predictions)
    if spec.name == "residuals":
        return residuals(preds=data.predictions, redshift=data.features["z"].set_axis(data.meta["objid"].to_numpy()))
    if spec.name.startswith("importance_"):
        name = spec.name.removeprefix("importance_")
        return importance_bar(table=data.importance[name], name=name, top=ev["importance"]["top"])
    raise KeyError(f"no drawing function for figure {spec.name!r}")


def draw_all(specs: Sequence[FigureSpec], data: FigureInputs) -> Iterator[tuple[FigureSpec, Figure]]:
    """Each figure of ``specs`` in turn (the caller saves and closes it)."""
    for spec in specs:
        yield spec, draw(spec, data)

