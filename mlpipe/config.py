"""Load and validate the workflow configuration, so that hand-run CLI steps see exactly what
Snakemake validated at start."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

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
    return config


def load(path: str | Path | None = None, json_text: str | None = None) -> dict[str, Any]:
    """Read a YAML config file or a JSON string (what the Snakemake rules pass)."""
    if json_text is not None:
        return json.loads(json_text)
    if path is None:
        raise ConfigError("give a config file (--config) or JSON (--config-json)")
    with open(path) as fh:
        return validate(yaml.safe_load(fh))
