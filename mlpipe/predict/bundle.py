"""Model bundles: one zip file with everything a trained pipeline needs to predict elsewhere.

``manifest.json`` holds the predictor, its feature list, the CNNs and the config sections that
made them and the package versions; ``cnn/<model>.pt`` the CNN weights; ``gbm/`` the predictor
as the workflow saved it. Loading checks the format and reads the parts into memory.
"""

from __future__ import annotations

import json
import platform
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from mlpipe import __version__
from mlpipe.gbm.saved import SavedPredictor
from mlpipe.io.atomic import atomic_path
from mlpipe.io.validation import InputError

FORMAT = 1
CONFIG_SECTIONS = ("cosmology", "catalog", "preprocess", "cnn", "gbm", "inputs")


class FeatureMismatch(InputError):
    """The data do not provide the features the bundle's predictor was trained on."""


def _versions() -> dict[str, str]:
    import lightgbm
    import numpy
    import torch

    return {"mlpipe": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "lightgbm": lightgbm.__version__, "numpy": numpy.__version__}


def models_used(features: Iterable[str], models: Iterable[str]) -> list[str]:
    """The CNNs whose outputs appear among ``features`` (named ``<model>_...``)."""
    features = list(features)
    return [m for m in models if any(f.startswith(f"{m}_") for f in features)]


def export_bundle(predictor_dir: str | Path, model_files: Mapping[str, str | Path], morphology_model: str | None,
                  cfg: Mapping[str, Any], out_path: str | Path) -> list[str]:
    """Write the bundle of the predictor saved in ``predictor_dir`` (model.txt, fit.json,
    interval.json); ``model_files`` maps every CNN name to its model.pt. Returns the CNNs packed:
    none for a predictor that reads no image (its bundle predicts from a table alone)."""
    predictor_dir = Path(predictor_dir)
    texts = {name: (predictor_dir / name).read_text() for name in ("model.txt", "fit.json", "interval.json")}
    saved = SavedPredictor.from_texts(texts["model.txt"], texts["fit.json"], texts["interval.json"])
    if not any(f.startswith("img_") or f.startswith("cnn") for f in saved.features):
        morphology_model, model_files = None, {}  # a table-only predictor: no CNN, no images
    elif not model_files:
        raise InputError(f"predictor {saved.name} reads the g-band images and CNN features: give every CNN's "
                         "model.pt (--models)")
    elif morphology_model not in model_files:
        raise InputError(f"predict.morphology_model: no CNN named {morphology_model!r} (have {sorted(model_files)})")
    if morphology_model and cfg["cnn"]["models"][morphology_model]["target"] != "gz2":
        raise InputError(f"predict.morphology_model: {morphology_model} was not trained on GZ2 answers")
    packed = sorted(set(models_used(saved.features, model_files)) | ({morphology_model} if morphology_model else set()))
    manifest = {
        "format": FORMAT, "predictor": saved.name, "features": saved.features, "cnn_models": packed,
        "morphology_model": morphology_model, "config": {k: cfg[k] for k in CONFIG_SECTIONS if k in cfg},
        "versions": _versions(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_path(out_path, ".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=2))
            for name, text in texts.items():
                zf.writestr(f"gbm/{name}", text)
            for name in packed:
                zf.write(model_files[name], f"cnn/{name}.pt")
    return packed


@dataclass
class Bundle:
    manifest: dict[str, Any]
    predictor: SavedPredictor
    cnn_weights: dict[str, bytes]   # model name -> the model.pt file's bytes

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    def check_features(self, available: Iterable[str]) -> None:
        """Fail, naming them, when the data lack features the predictor uses or offer CNN
        features it has never seen (a different set of networks)."""
        available = list(available)
        missing = [f for f in self.predictor.features if f not in set(available)]
        expected_models = set(self.manifest["cnn_models"])
        unknown = [f for f in available if f.startswith("cnn") and f.split("_")[0] not in expected_models]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"{len(missing)} feature(s) the predictor uses are missing from the data: "
                             + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
            if unknown:
                parts.append(f"{len(unknown)} feature(s) in the data are unknown to the bundle: "
                             + ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else ""))
            raise FeatureMismatch(f"bundle predictor {self.predictor.name}: " + "; ".join(parts))


def load_bundle(path: str | Path) -> Bundle:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such bundle (export one with `snakemake results/bundle/<predictor>.zip`)")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            if manifest.get("format") != FORMAT:
                raise InputError(f"{path}: bundle format {manifest.get('format')}, this mlpipe reads {FORMAT}")
            texts = {name: zf.read(f"gbm/{name}").decode() for name in ("model.txt", "fit.json", "interval.json")}
            weights = {name: zf.read(f"cnn/{name}.pt") for name in manifest["cnn_models"]}
    except (zipfile.BadZipFile, KeyError) as err:
        raise InputError(f"{path}: not a complete mlpipe bundle ({err})") from err
    predictor = SavedPredictor.from_texts(texts["model.txt"], texts["fit.json"], texts["interval.json"])
    if predictor.features != manifest["features"]:
        raise FeatureMismatch(f"{path}: the manifest's feature list differs from the predictor's model")
    return Bundle(manifest, predictor, weights)


def weights_file(bundle: Bundle, model: str, folder: Path) -> Path:
    """Write a CNN's weights to ``folder`` (the extraction reads a file) and return the path."""
    path = folder / f"{model}.pt"
    path.write_bytes(bundle.cnn_weights[model])
    return path
