"""PNG figures: the one place a matplotlib figure is written (atomically) and closed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mlpipe.io.atomic import atomic_path  # noqa: E402

#: resolution of every PNG figure the workflow writes [dots per inch]
FIGURE_DPI = 100


def save_figure(fig: Figure, path: str | Path) -> None:
    """Lay out (tight, unless the figure has its own layout engine), write ``path`` atomically
    as PNG at FIGURE_DPI, and close the figure."""
    try:
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        with atomic_path(path, ".png") as tmp:
            fig.savefig(tmp, dpi=FIGURE_DPI, format="png")
    finally:
        plt.close(fig)
