"""Load and validate the workflow configuration, so that hand-run CLI steps see exactly what
Snakemake validated at start.

Everything is checked before any step runs: YAML syntax and duplicate keys (file and line),
the schema ``mlpipe/schemas/config.schema.yaml`` (types and every range; the schema is the only
source of ranges: ``x-ordered`` marks a [min, max] pair), names that must refer to a configured
CNN or predictor, keys that constrain each other, and the input files and folders that must exist.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """An invalid configuration; the message names the offending key (or file and line)."""


def schema() -> dict[str, Any]:
    text = resources.files("mlpipe.schemas").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _ordered(validator, mode: str, instance: Any, node: dict[str, Any]):
    """``x-ordered: strict`` (min < max) or ``weak`` (min <= max) on a [min, max] pair."""
    if not (validator.is_type(instance, "array") and len(instance) == 2
            and all(validator.is_type(v, "number") for v in instance)):
        return
    low, high = instance
    if mode == "strict" and not low < high:
        yield jsonschema.ValidationError(f"{instance} is not an increasing range [min, max] (min < max)")
    elif mode == "weak" and not low <= high:
        yield jsonschema.ValidationError(f"{instance} is not a range [min, max] (min <= max)")


Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-ordered": _ordered})


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    return Validator(schema())


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (YAML keeps the last silently)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            if key in seen:
                raise ConfigError(f"{loader.name}, line {line}: duplicate key '{key}' (first given at line "
                                  f"{seen[key]}); YAML would silently keep only the last")
            seen[key] = line
        except TypeError:  # an unhashable key: let the constructor say so
            pass
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """One config file; a syntax error or a duplicate key is a ConfigError naming file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: YAML syntax error: {err.problem or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: YAML syntax error: {err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file ({err})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds sections (key: value), not a {type(data).__name__}")
    return data


def validate(config: dict[str, Any], check_paths: bool = False, base: str | Path | None = None) -> dict[str, Any]:
    """Raise ConfigError naming the key path of the first problem. ``check_paths``: also require
    the input files and folders the config names (relative to ``base``, default the current folder)."""
    if not isinstance(config, dict):
        raise ConfigError(f"invalid workflow config: a mapping of sections, not a {type(config).__name__}")
    errors = sorted(_validator().iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"invalid workflow config at '{key}': {err.message}")
    check_references(config)
    check_cross_keys(config)
    if check_paths:
        check_input_paths(config, base)
    return config


def _must_be(key: str, value: Any, allowed: Iterable[str], what: str) -> None:
    if value not in allowed:
        raise ConfigError(f"invalid workflow config at '{key}': {value!r} is not {what} "
                          f"(one of: {', '.join(sorted(allowed))})")


def check_references(config: dict[str, Any]) -> None:
    """The checks a schema cannot express: names that must refer to a configured CNN or predictor."""
    from mlpipe.gbm.predictors import all_predictors, table_only, workflow_predictors

    models = config["cnn"]["models"]
    gz2_models = [m for m, c in models.items() if c["target"] == "gz2"]
    configured = workflow_predictors(config)
    predictors = list(configured)
    for name, model in models.items():
        if model.get("init_from") is not None:
            _must_be(f"cnn.models.{name}.init_from", model["init_from"], set(models) - {name}, "another CNN")
    _must_be("evaluate.class_model", config["evaluate"]["class_model"], gz2_models, "a CNN trained on GZ2")
    _must_be("predict.morphology_model", config["predict"]["morphology_model"], gz2_models, "a CNN trained on GZ2")
    _must_be("predict.predictor", config["predict"]["predictor"], predictors, "a configured predictor")
    for i, name in enumerate(config["gbm"]["uncertainty"]):
        _must_be(f"gbm.uncertainty.{i}", name, predictors, "a configured predictor")
    for i, name in enumerate(config["evaluate"]["importance"]["predictors"]):
        _must_be(f"evaluate.importance.predictors.{i}", name,
                 [p for p, spec in configured.items() if spec.kind == "gbm" and spec.base is None],
                 "a LightGBM predictor not boosted from a base law"
                 + (" that reads no image (data.real.images is null)" if table_only(config) else ""))
    # a comparison may name a predictor of a study that is switched off (it is then skipped),
    # but never a name no study defines
    studies = schema()["properties"]["gbm"]["properties"]["studies"]["items"]["enum"]
    known = list(all_predictors(config["gbm"] | {"studies": studies}))
    for i, pair in enumerate(config["evaluate"]["ks_pairs"]):
        for j, name in enumerate(pair):
            _must_be(f"evaluate.ks_pairs.{i}.{j}", name, known, "a predictor of the workflow or its studies")
    check_bands(config)
    real = config["data"]["real"]
    if config["data"]["source"] == "real" and real.get("images"):
        for key, why in (("hyperleda", "D25 sets each cut-out's field of view"), ("gz2", "the CNNs learn its answers"),
                         ("stars", "the star subtraction's prior; an empty list (header only) is allowed")):
            if not real.get(key):
                raise ConfigError(f"invalid workflow config at 'data.real.{key}': needed with data.real.images ({why}); "
                                  "set data.real.images: null for a table-only run")


def check_cross_keys(config: dict[str, Any]) -> None:
    """Keys whose allowed values depend on each other."""
    cat = config["catalog"]
    if not cat["test_fraction"] + cat["validation_fraction"] < 1:
        raise ConfigError(f"invalid workflow config at 'catalog.validation_fraction': test_fraction "
                          f"{cat['test_fraction']} + validation_fraction {cat['validation_fraction']} "
                          "must be below 1 (the rest is the training set)")
    image = config["mock"]["image"]
    if image["min_size_px"] > image["max_size_px"]:
        raise ConfigError(f"invalid workflow config at 'mock.image.min_size_px': {image['min_size_px']} "
                          f"is above mock.image.max_size_px {image['max_size_px']}")
    bursts = config["mock"]["bursts"]
    if bursts["clumps_min"] > bursts["clumps_max"]:
        raise ConfigError(f"invalid workflow config at 'mock.bursts.clumps_max': {bursts['clumps_max']} is below "
                          f"clumps_min ({bursts['clumps_min']})")
    stars = config["preprocess"]["stars"]
    if stars["mask_radius_fwhm"] > stars["max_mask_radius_fwhm"]:
        raise ConfigError(f"invalid workflow config at 'preprocess.stars.mask_radius_fwhm': "
                          f"{stars['mask_radius_fwhm']} is above preprocess.stars.max_mask_radius_fwhm "
                          f"{stars['max_mask_radius_fwhm']}")


def check_bands(config: dict[str, Any]) -> None:
    """The photometry read must hold g (L_g) and every band a configured predictor uses."""
    from mlpipe.gbm.predictors import bands_used, workflow_predictors

    bands = config["inputs"]["photometry"]["bands"]
    if "g" not in bands:
        raise ConfigError(f"invalid workflow config at 'inputs.photometry.bands': {bands!r} lacks g "
                          "(L_g is the target's denominator)")
    for name, predictor in workflow_predictors(config).items():
        lacking = [b for b in bands_used(predictor) if b not in bands]
        if lacking:
            raise ConfigError(f"invalid workflow config at 'inputs.photometry.bands': predictor {name} uses band(s) "
                              f"{''.join(lacking)}, which {bands!r} lacks (add them, or leave the predictor's study out "
                              "of gbm.studies)")


def input_paths(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(config key, path, "file" or "folder") of every input the config makes the workflow read."""
    paths: list[tuple[str, str, str]] = []
    if config["data"]["source"] == "real":
        real = config["data"]["real"]
        paths += [(f"data.real.{k}", real[k], "file") for k in ("gswlc", "hyperleda", "gz2", "photometry", "stars",
                                                                 "image_index") if real.get(k)]
        if real.get("images") and not config["data"]["fetch"]["enabled"]:  # a download fills (and creates) it
            paths.append(("data.real.images", real["images"], "folder"))
    pred = config["predict"]
    for key, kind in (("catalogue", "file"), ("images", "folder"), ("stars", "file")):
        if pred.get(key):
            paths.append((f"predict.{key}", pred[key], kind))
    for name, model in config["cnn"]["models"].items():
        if model.get("pretrained"):
            paths.append((f"cnn.models.{name}.pretrained", model["pretrained"], "file"))
    return paths


def check_input_paths(config: dict[str, Any], base: str | Path | None = None) -> None:
    """Every input file and folder named by the config exists (a mistyped folder would otherwise
    reject every galaxy as 'image missing'; a missing catalogue go unnoticed while results exist)."""
    base = Path(base) if base is not None else Path.cwd()
    for key, value, kind in input_paths(config):
        path = base / value
        ok = path.is_file() if kind == "file" else path.is_dir()
        if not ok:
            found = "is a folder" if path.is_dir() else "is a file" if path.exists() else "does not exist"
            raise ConfigError(f"invalid workflow config at '{key}': {value} {found}; a {kind} is needed"
                              + ("" if Path(value).is_absolute() else f" (relative to {base})"))


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` key by key, nested sections too: what Snakemake does with
    each ``--configfile`` given over workflow_config.yaml."""
    for key, value in override.items():
        base[key] = merge(base.get(key, {}) if isinstance(base.get(key), dict) else {}, value) \
            if isinstance(value, dict) else value
    return base


def load_merged(*paths: str | Path) -> dict[str, Any]:
    """YAML config files merged in order, the first being the base (workflow_config.yaml)."""
    config: dict[str, Any] = {}
    for path in paths:
        config = merge(config, load_yaml(path))
    return config


def load(path: str | Path | Iterable[str | Path] | None = None, json_text: str | None = None) -> dict[str, Any]:
    """Read YAML config files (merged in order and validated in full, input paths included) or a
    JSON string (the sections a Snakemake rule passes, validated at the workflow's start)."""
    if json_text is not None:
        try:
            return json.loads(json_text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--config-json: not valid JSON ({err})") from err
    if path is None:
        raise ConfigError("give a config file (--config) or JSON (--config-json)")
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    return validate(load_merged(*paths), check_paths=True)
