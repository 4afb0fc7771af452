"""Model bundles: one zip file with everything a trained pipeline needs to predict elsewhere.

``manifest.json`` holds the predictor, its feature list, the CNNs and the config sections that
made them, the package versions, the pixel scale and unit of the training images and the SHA-256
of every other member; ``cnn/<model>.pt`` the CNN weights; ``gbm/`` the predictor as the workflow
saved it. Loading checks the format and every member's digest, and reads the CNN weights as
tensors and plain values only (a pickle that would run code is refused).
"""

from __future__ import annotations

import json
import logging
import platform
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mlpipe import __version__
from mlpipe.gbm.saved import SavedPredictor
from mlpipe.io.atomic import atomic_path
from mlpipe.io.integrity import IntegrityError, bytes_digest, load_torch, open_store, verify_store
from mlpipe.io.store import read_table
from mlpipe.io.validation import InputError

log = logging.getLogger(__name__)

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


def training_images(image_stores: Sequence[str | Path]) -> dict[str, Any]:
    """Pixel scale (arcsec/px, from each image's WCS, recorded by preprocessing) and unit of the
    images the workflow trained on: what ``predict`` compares new images with."""
    scales = []
    units = set()
    for path in image_stores:
        with open_store(path, ["features"]) as fh:
            table = read_table(fh, "features")
            if "units" in fh:   # the unit each image was read in (its BUNIT or the configured one)
                verify_store(fh, path, ["units"])
                units.update(str(u) for u in read_table(fh, "units")["image_unit"])
        if "pixel_scale_arcsec" in table:
            scales.append(table["pixel_scale_arcsec"].to_numpy(float))
    scales = np.concatenate(scales) if scales else np.empty(0)
    scales = scales[np.isfinite(scales)]
    info: dict[str, Any] = {"unit": ", ".join(sorted(units)) or "nanomaggies"}
    if len(scales):
        info |= {"pixel_scale_arcsec": float(np.median(scales)),
                 "pixel_scale_range_arcsec": [float(scales.min()), float(scales.max())]}
    return info


def export_bundle(predictor_dir: str | Path, model_files: Mapping[str, str | Path], morphology_model: str | None,
                  cfg: Mapping[str, Any], out_path: str | Path, images: Mapping[str, Any] | None = None) -> list[str]:
    """Write the bundle of the predictor saved in ``predictor_dir`` (model.txt, fit.json,
    interval.json); ``model_files`` maps every CNN name to its model.pt; ``images`` describes the
    training images (:func:`training_images`). Returns the CNNs packed: none for a predictor that
    reads no image (its bundle predicts from a table alone)."""
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
        "training_images": dict(images or {}),
    }
    members = {f"gbm/{name}": text.encode() for name, text in texts.items()}
    for name in packed:
        data = Path(model_files[name]).read_bytes()
        load_torch(data, "CNN model file", label=str(model_files[name]))  # only verified weights are packed
        members[f"cnn/{name}.pt"] = data
    manifest["members_sha256"] = {member: bytes_digest(data) for member, data in members.items()}
    with atomic_path(out_path, ".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=2))
            for member, data in members.items():
                zf.writestr(member, data)
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
            members = {f"gbm/{name}": zf.read(f"gbm/{name}") for name in ("model.txt", "fit.json", "interval.json")}
            members |= {f"cnn/{name}.pt": zf.read(f"cnn/{name}.pt") for name in manifest["cnn_models"]}
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a complete mlpipe bundle ({err})") from err
    _check_members(path, manifest, members)
    texts = {name: members[f"gbm/{name}"].decode() for name in ("model.txt", "fit.json", "interval.json")}
    weights = {name: members[f"cnn/{name}.pt"] for name in manifest["cnn_models"]}
    for name, data in weights.items():  # tensors and plain values only: never run a pickle's code
        load_torch(data, "CNN model file", label=f"{path}: member cnn/{name}.pt")
    predictor = SavedPredictor.from_texts(texts["model.txt"], texts["fit.json"], texts["interval.json"])
    if predictor.features != manifest["features"]:
        raise FeatureMismatch(f"{path}: the manifest's feature list differs from the predictor's model")
    return Bundle(manifest, predictor, weights)


def _check_members(path: Path, manifest: Mapping[str, Any], members: Mapping[str, bytes]) -> None:
    digests = manifest.get("members_sha256")
    if digests is None:
        log.warning("%s: bundle without member digests (exported by an older mlpipe): not verified", path)
        return
    for member, data in members.items():
        if digests.get(member) != bytes_digest(data):
            raise IntegrityError(f"{path}: member {member} differs from the digest recorded at export "
                                 "(a damaged or altered bundle)")


def weights_file(bundle: Bundle, model: str, folder: Path) -> Path:
    """Write a CNN's weights to ``folder`` (the extraction reads a file) and return the path."""
    path = folder / f"{model}.pt"
    path.write_bytes(bundle.cnn_weights[model])
    return path
