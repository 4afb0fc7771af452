"""Learning-curve figure from a training history."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mlpipe.io.figure import save_figure  # noqa: E402


def learning_curve(history: pd.DataFrame, title: str, loss_label: str, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history["epoch"], history["train_loss"], "o-", label="training")
    ax.plot(history["epoch"], history["val_loss"], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    save_figure(fig, path)
