"""The M/L predictors of the paper and their variants, as plain data (no heavy imports, so the
Snakefile can list them).

A predictor picks feature groups (prefixes of the features table's columns), a kind (LightGBM or
the g-i power law) and a loss; the studies (ablations, loss functions, multiband, half training
set, true GZ2) add variants of the main ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

CNN_GZ2 = ("cnn1_", "cnn2_", "cnn3_")
CNN_ML = ("cnn4_",)
IMAGE_LUMINOSITY = ("img_lum_",)
FLUX = ("img_flux_",)
IMAGE_STATS = ("img_log_", "img_image_size_px", "img_scale_a")
DISTANCE = ("z", "pixel_kpc")
MORPHOLOGY = CNN_GZ2 + CNN_ML + IMAGE_STATS


@dataclass(frozen=True)
class Predictor:
    name: str
    kind: str = "gbm"                 # gbm | powerlaw
    include: tuple[str, ...] = ()     # column-name prefixes (or exact names) to use
    exclude: tuple[str, ...] = ()
    loss: str = "l1"                  # l1 | l2 | rmsle
    top_features: int | None = None   # retrain on the N most-used features
    base: str | None = None           # "powerlaw": boost from the g-i power law fitted on the training set
    train_fraction: float = 1.0
    description: str = ""
    paper_l1: float | None = None     # the paper's test L1 for the same predictor, where it has one
    tags: tuple[str, ...] = field(default=())


def _bands(bands: str) -> tuple[str, ...]:
    """Luminosities in the given bands and their ratios between neighbouring bands."""
    ratios = tuple(f"phot_ratio_{a}_{b}" for a, b in zip(bands[:-1], bands[1:]))
    return tuple(f"phot_lum_{b}" for b in bands) + ratios


def main_predictors(top: int) -> list[Predictor]:
    return [
        Predictor("g_ref", include=_bands("g") + DISTANCE, paper_l1=4.52,
                  description="L_g (modelMag) + redshift: no morphology"),
        Predictor("g_morph", include=IMAGE_LUMINOSITY + DISTANCE + MORPHOLOGY, paper_l1=2.29,
                  description="g image only: CNN morphology + image luminosity + distance"),
        Predictor("gi_powerlaw", kind="powerlaw", paper_l1=1.90,
                  description="log M/L = a + b (g - i), fitted by minimising L1"),
        Predictor("gi_gbm", include=_bands("gi") + DISTANCE, paper_l1=1.26, base="powerlaw",
                  description="GBM on redshift, L_g, L_i and L_g/L_i, boosted from the g-i power law"),
        Predictor("gi_morph", include=_bands("gi") + DISTANCE + IMAGE_LUMINOSITY + MORPHOLOGY,
                  top_features=top, paper_l1=1.12,
                  description=f"g + i + morphology, retrained on its {top} most-used features"),
    ]


def study_predictors(studies: list[str], top: int) -> list[Predictor]:
    main = {p.name: p for p in main_predictors(top)}
    g_morph = main["g_morph"]
    out: list[Predictor] = []
    if "ablation" in studies:
        out += [
            replace(g_morph, name="abl_no_cnn123", exclude=CNN_GZ2, paper_l1=2.37, description="without CNN 1-3",
                    tags=("ablation",)),
            replace(g_morph, name="abl_no_cnn4", exclude=CNN_ML, paper_l1=2.41, description="without CNN 4",
                    tags=("ablation",)),
            replace(g_morph, name="abl_no_luminosity", exclude=IMAGE_LUMINOSITY, paper_l1=2.32, description="without luminosity",
                    tags=("ablation",)),
            replace(g_morph, name="abl_no_distance", include=FLUX + MORPHOLOGY, paper_l1=2.67,
                    description="without distance: luminosity replaced by flux, no redshift", tags=("ablation",)),
            replace(g_morph, name="abl_lum_distance_only", include=IMAGE_LUMINOSITY + DISTANCE, paper_l1=3.38,
                    description="luminosity + distance only (no CNN)", tags=("ablation",)),
        ]
    if "true_gz2" in studies:
        out.append(replace(g_morph, name="abl_true_gz2", include=g_morph.include + ("true_gz2_",),
                           exclude=("cnn3_",), paper_l1=2.25, description="CNN 3 replaced by the true GZ2 fractions",
                           tags=("ablation",)))
    if "half_training" in studies:
        out.append(replace(g_morph, name="abl_half_training", train_fraction=0.5, paper_l1=2.31,
                           description="half of the training set", tags=("ablation",)))
    if "loss_functions" in studies:
        paper = {("g_morph", "l2"): 2.34, ("g_morph", "rmsle"): 2.41, ("gi_powerlaw", "l2"): 2.05,
                 ("gi_powerlaw", "rmsle"): 1.91, ("gi_morph", "l2"): 1.12, ("gi_morph", "rmsle"): 1.13}
        for base in ("g_morph", "gi_powerlaw", "gi_morph"):
            for loss in ("l2", "rmsle"):
                out.append(replace(main[base], name=f"loss_{base}_{loss}", loss=loss, paper_l1=paper[(base, loss)],
                                   description=f"{base} optimising {loss.upper()}", tags=("loss",)))
    if "multiband" in studies:
        for bands in ("g", "gr", "gri", "griz", "ugriz"):
            phot = _bands(bands)
            out.append(Predictor(f"band_{bands}", include=phot + DISTANCE, description=f"bands {bands}",
                                 tags=("multiband",)))
            out.append(Predictor(f"band_{bands}_morph", include=phot + DISTANCE + IMAGE_LUMINOSITY + MORPHOLOGY,
                                 top_features=top, description=f"bands {bands} + morphology", tags=("multiband",)))
    return out


def all_predictors(gbm_cfg: Mapping[str, Any]) -> dict[str, Predictor]:
    top = gbm_cfg["top_features"]
    predictors = main_predictors(top) + study_predictors(list(gbm_cfg["studies"]), top)
    return {p.name: p for p in predictors}


def bands_used(predictor: Predictor) -> str:
    """The photometric bands a predictor reads (its ``phot_`` features; the power law: g and i)."""
    if predictor.kind == "powerlaw":
        return "gi"
    used = set()
    for prefix in predictor.include:
        if prefix.startswith("phot_"):
            used |= set(prefix.split("_")[2:])
    return "".join(b for b in "ugriz" if b in used)


def reads_images(predictor: Predictor) -> bool:
    """Whether a predictor needs the g-band images (image statistics or CNN features)."""
    return predictor.kind != "powerlaw" and any(not (p.startswith("phot_") or p in DISTANCE) for p in predictor.include)


def table_only(config: Mapping[str, Any]) -> bool:
    """A run without images (data.real.images: null): only the predictors that read none."""
    return config["data"]["source"] == "real" and not config["data"]["real"].get("images")


def workflow_predictors(config: Mapping[str, Any]) -> dict[str, Predictor]:
    """The predictors a run trains: all of them, or in a table-only run those that read no image."""
    predictors = all_predictors(config["gbm"])
    if table_only(config):
        return {name: p for name, p in predictors.items() if not reads_images(p)}
    return predictors


def select_columns(predictor: Predictor, columns: list[str]) -> list[str]:
    def matches(col: str, prefixes: tuple[str, ...]) -> bool:
        return any(col == p or (p.endswith("_") and col.startswith(p)) for p in prefixes)

    return [c for c in columns if matches(c, predictor.include) and not matches(c, predictor.exclude)]
