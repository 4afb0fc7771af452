"""What the preprocessing did, as in Fig. 1 of the paper: raw, star-subtracted, log-scaled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from mlpipe.io.figure import save_figure
from mlpipe.preprocess.galaxy import ProcessedGalaxy
from mlpipe.preprocess.stars import STATUS_GALAXY, STATUS_REPLACED


def preprocessing_figure(galaxies: dict[int, ProcessedGalaxy], path: str | Path, title: str) -> None:
    rows = max(len(galaxies), 1)
    fig = Figure(figsize=(9, 3 * rows))
    axes = fig.subplots(rows, 3, squeeze=False)
    for row, (objid, gal) in zip(axes, galaxies.items()):
        sigma = max(gal.features["sky_sigma"], 1e-12)
        for ax, key, label in zip(row, ("raw", "clean", "scaled"),
                                  ("raw (sky subtracted)", "stars replaced", "log-scaled [0, 1]")):
            img = gal.stages[key]
            shown = img if key == "scaled" else np.arcsinh(img / (3 * sigma))
            ax.imshow(shown, origin="lower", cmap="gray")
            ax.set_title(f"{objid}\n{label}", fontsize=8)
            ax.set_xlabel("x [px]", fontsize=7)
            ax.set_ylabel("y [px]", fontsize=7)
            ax.tick_params(labelsize=6)
        for star in gal.stars:   # red: replaced (radius), green: kept as galaxy structure
            if star.status == STATUS_REPLACED:
                row[0].add_patch(Circle((star.x, star.y), star.radius_px, fill=False, color="tab:red"))
            elif star.status == STATUS_GALAXY:
                row[0].add_patch(Circle((star.x, star.y), 4.0, fill=False, color="tab:green"))
    if not galaxies:
        axes[0, 0].text(0.5, 0.5, "no galaxy processed in this shard", ha="center")
    fig.suptitle(title)
    save_figure(fig, path)
