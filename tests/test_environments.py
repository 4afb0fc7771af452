"""The package pins have one home, pyproject.toml: every conda environment in envs/ that lists a
dependency must pin it exactly as pyproject.toml does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
CONDA_NAMES = {"matplotlib-base": "matplotlib"}  # conda package -> PyPI project
SPEC = re.compile(r"^\s*-\s*([A-Za-z][\w.-]*)\s*((?:[=<>!~]=?|==)[^\s#]*)?", re.M)


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        name, spec = re.match(r"([A-Za-z][\w.-]*)\s*(.*)", dep).groups()
        pins[name.lower()] = spec.replace(" ", "")
    return pins


def environment_pins(path: Path) -> dict[str, str]:
    pins = {}
    for name, spec in SPEC.findall(path.read_text()):
        pins[CONDA_NAMES.get(name.lower(), name.lower())] = (spec or "").replace(" ", "")
    return pins


@pytest.mark.parametrize("env_file", ENV_FILES, ids=[p.name for p in ENV_FILES])
def test_environment_pins_follow_pyproject(env_file):
    pins = pyproject_pins()
    listed = {name: spec for name, spec in environment_pins(env_file).items() if name in pins}
    assert listed, f"{env_file.name} lists none of the project's dependencies"
    differing = {name: (spec, pins[name]) for name, spec in listed.items() if spec != pins[name]}
    assert not differing, f"{env_file.name}: pins differ from pyproject.toml (env, pyproject): {differing}"
