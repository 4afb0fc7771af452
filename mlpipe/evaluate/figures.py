"""The figures users look at first: predicted vs true M/L, error distributions, M/L per split,
importances, the paper's Fig. 6 panels and Fig. 8 bar chart. Every axis has a label and unit."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402

from mlpipe import losses  # noqa: E402
from mlpipe.evaluate.metrics import DEX_TOLERANCE  # noqa: E402
from mlpipe.io.atomic import atomic_path  # noqa: E402

ML_LABEL = r"$M_\star/L_g$ [$M_\odot/L_\odot$]"


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _one_to_one(ax, lo: float, hi: float) -> None:
    x = np.array([lo, hi])
    ax.plot(x, x, "k-", lw=1)
    for sign in (-1, 1):
        ax.plot(x, x * 10 ** (sign * DEX_TOLERANCE), "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)


def predicted_vs_true(pred: pd.DataFrame, name: str, path: str | Path) -> None:
    test = pred[pred["split"] == "test"]
    x, y = test["ml"].to_numpy(), test["ml_pred"].to_numpy()
    points = np.vstack([np.log10(x), np.log10(y)])
    density = gaussian_kde(points)(points) if len(x) > 2 else np.ones(len(x))
    fig, ax = plt.subplots(figsize=(5, 4.5))
    sc = ax.scatter(x, y, c=density, s=8, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="point density")
    lo, hi = min(x.min(), y.min()) * 0.8, max(x.max(), y.max()) * 1.25
    _one_to_one(ax, lo, hi)
    ax.set_xlabel("true " + ML_LABEL)
    ax.set_ylabel("predicted " + ML_LABEL)
    ax.set_title(f"{name}: test L1 = {losses.l1(y, x, test['ml_err']):.2f} (dashed: ±0.15 dex)")
    _save(fig, path)


def error_histograms(preds: Mapping[str, pd.DataFrame], path: str | Path) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, pred in preds.items():
        test = pred[pred["split"] == "test"]
        a.hist(losses.dex_error(test["ml_pred"], test["ml"]), bins=40, range=(-0.8, 0.8), histtype="step", label=name)
        b.hist(losses.l1_terms(test["ml_pred"], test["ml"], test["ml_err"]), bins=40, range=(0, 15),
               histtype="step", label=name)
    for x in (-DEX_TOLERANCE, DEX_TOLERANCE):
        a.axvline(x, color="k", ls="--", lw=0.8)
    a.set_xlabel(r"$\log_{10}$(predicted / true M/L) [dex]")
    b.set_xlabel(r"per-galaxy L1 = |$\Delta$Y| / dY [dimensionless]")
    for ax in (a, b):
        ax.set_ylabel("test galaxies [count]")
        ax.legend(fontsize=7)
    _save(fig, path)


def ml_histogram(meta: pd.DataFrame, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.geomspace(max(meta["ml"].min(), 1e-2), meta["ml"].max(), 40)
    for split in ("train", "validation", "test"):
        ax.hist(meta.loc[meta["split"] == split, "ml"], bins=bins, histtype="step", density=True, label=split)
    ax.set_xscale("log")
    ax.set_xlabel(ML_LABEL)
    ax.set_ylabel("probability density [per unit M/L]")
    ax.legend()
    _save(fig, path)


def importance_bar(table: pd.DataFrame, name: str, top: int, path: str | Path) -> None:
    top_rows = table.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(top_rows) + 1.2))
    ax.barh(top_rows["feature"], top_rows["l1_increase"], xerr=top_rows["l1_increase_std"])
    ax.set_xlabel("validation L1 increase when permuted [dimensionless]")
    ax.set_title(f"{name}: top {top} permutation importances")
    ax.tick_params(axis="y", labelsize=7)
    _save(fig, path)


def hexbin_panels(preds: Mapping[str, pd.DataFrame], path: str | Path) -> None:
    """Fig. 6 style: predicted vs true M/L for the reference and morphology predictors."""
    fig, axes = plt.subplots(1, len(preds), figsize=(4 * len(preds), 4), squeeze=False)
    for ax, (name, pred) in zip(axes[0], preds.items()):
        test = pred[pred["split"] == "test"]
        ax.hexbin(np.log10(test["ml"]), np.log10(test["ml_pred"]), gridsize=25, cmap="Blues", mincnt=1)
        lim = (np.log10(test["ml"]).min() - 0.1, np.log10(test["ml"]).max() + 0.1)
        ax.plot(lim, lim, "k-", lw=1)
        for s in (-DEX_TOLERANCE, DEX_TOLERANCE):
            ax.plot(lim, np.array(lim) + s, "k--", lw=0.8)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_xlabel(r"true $\log_{10}$ M/L [dex]")
        ax.set_ylabel(r"predicted $\log_{10}$ M/L [dex]")
        ax.set_title(f"{name}: L1 = {losses.l1(test['ml_pred'], test['ml'], test['ml_err']):.2f}")
    _save(fig, path)


def multiband_bars(table: pd.DataFrame, path: str | Path) -> None:
    """Fig. 8 style: test L1 as bands are added, with and without morphology."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(table))
    for offset, col, label in ((-0.2, "l1_without_morphology", "photometry only"),
                               (0.2, "l1_with_morphology", "photometry + morphology")):
        if col in table:
            ax.bar(x + offset, table[col], width=0.4, label=label)
    ax.set_xticks(x, table["bands"])
    ax.set_xlabel("bands used")
    ax.set_ylabel("test L1 [dimensionless]")
    ax.legend()
    _save(fig, path)
