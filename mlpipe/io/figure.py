"""PNG figures: the one place a matplotlib figure is written (atomically). Figures are built with
matplotlib's object-oriented API (``matplotlib.figure.Figure``), not pyplot: no backend, no global
figure registry to close, the same on a headless node and a workstation."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from mlpipe.io.atomic import atomic_path

#: resolution of every PNG figure the workflow writes [dots per inch]
FIGURE_DPI = 100


def save_figure(fig: Figure, path: str | Path) -> None:
    """Lay out (tight, unless the figure has its own layout engine), write ``path`` atomically
    as PNG at FIGURE_DPI, """
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=FIGURE_DPI, format="png")
