"""Learning-curve figure from a training history."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mlpipe.io.figure import save_figure


def learning_curve(history: pd.DataFrame, title: str, loss_label: str, path: str | Path) -> None:
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.plot(history["epoch"], history["train_loss"], "o-", label="training")
    ax.plot(history["epoch"], history["val_loss"], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    save_figure(fig, path)
