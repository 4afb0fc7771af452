"""Load and validate the workflow configuration, so that hand-run CLI steps see exactly what
Snakemake validated at start."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml


class ConfigError(ValueError):
    """An invalid configuration; the message names the offending key."""


def schema() -> dict[str, Any]:
    text = resources.files("mlpipe.schemas").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Raise ConfigError naming the key path of the first problem."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"invalid workflow config at '{key}': {err.message}")
    check_references(config)
    return config


def _must_be(key: str, value: Any, allowed: Iterable[str], what: str) -> None:
    if value not in allowed:
        raise ConfigError(f"invalid workflow config at '{key}': {value!r} is not {what} "
                          f"(one of: {', '.join(sorted(allowed))})")


def check_references(config: dict[str, Any]) -> None:
    """The checks a schema cannot express: names that must refer to a configured CNN or
    predictor, and ranges whose ends must be ordered."""
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
                 "a LightGBM predictor not boosted from a base law" + (" that reads no image (data.real.images is null)" if table_only(config) else ""))
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
    bursts = config["mock"]["bursts"]
    if bursts["clumps_min"] > bursts["clumps_max"]:
        raise ConfigError(f"invalid workflow config at 'mock.bursts.clumps_max': {bursts['clumps_max']} is below "
                          f"clumps_min ({bursts['clumps_min']})")
    for key, (low, high) in _ranges(config):
        if not low < high:
            raise ConfigError(f"invalid workflow config at '{key}': [{low}, {high}] is not an increasing range")


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


def _ranges(config: dict[str, Any]) -> list[tuple[str, tuple[float, float]]]:
    mock = config["mock"]
    return [("mock.redshift_range", mock["redshift_range"]), ("mock.log_mass_range", mock["log_mass_range"]),
            ("mock.ra_range", mock["ra_range"]), ("mock.dec_range", mock["dec_range"]),
            ("mock.stars.mag_range", mock["stars"]["mag_range"]), ("mock.gz2.votes_range", mock["gz2"]["votes_range"]),
            ("mock.sed_fit.log_mass_error_range", mock["sed_fit"]["log_mass_error_range"]),
            ("mock.galactic_ebv_range", mock["galactic_ebv_range"]),
            ("mock.bursts.light_fraction_range", mock["bursts"]["light_fraction_range"]),
            ("cnn.training.zoom_range", config["cnn"]["training"]["zoom_range"]),
            ("preprocess.stars.sharpness_range", config["preprocess"]["stars"]["sharpness_range"]),
            ("preprocess.stars.roundness_range", config["preprocess"]["stars"]["roundness_range"])]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` key by key, nested sections too: what Snakemake does with
    each ``--configfile`` given over workflow_config.yaml."""
    for key, value in override.items():
        base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def load_merged(*paths: str | Path) -> dict[str, Any]:
    """YAML config files merged in order, the first being the base (workflow_config.yaml)."""
    config: dict[str, Any] = {}
    for path in paths:
        with open(path) as fh:
            config = merge(config, yaml.safe_load(fh) or {})
    return config


def load(path: str | Path | None = None, json_text: str | None = None) -> dict[str, Any]:
    """Read a YAML config file or a JSON string (what the Snakemake rules pass)."""
    if json_text is not None:
        return json.loads(json_text)
    if path is None:
        raise ConfigError("give a config file (--config) or JSON (--config-json)")
    with open(path) as fh:
        return validate(yaml.safe_load(fh))
