"""Shared fixtures: the default config, a small mock survey, the real survey files in ../shared/real."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "real"
TINY = REPO / "tests" / "configs" / "tiny.yaml"


@pytest.fixture(scope="session")
def default_config() -> dict:
    with open(REPO / "workflow_config.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture()
def config(default_config) -> dict:
    """A fresh, mutable copy of the default config."""
    return copy.deepcopy(default_config)


@pytest.fixture(scope="session")
def small_survey(tmp_path_factory, default_config) -> Path:
    """Mock catalogues of 4,000 galaxies (about 250 in the sample) written once per session."""
    from mlpipe.mock.survey import write_mock_catalogues

    cfg = copy.deepcopy(default_config)
    cfg["mock"]["n_galaxies"] = 4000
    out = tmp_path_factory.mktemp("mock")
    write_mock_catalogues(cfg["mock"], cfg["cosmology"], out)
    return out


@pytest.fixture()
def real_dir() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"the real survey files are not beside this clone ({REAL})")
    return REAL


ENVCHECK = REPO / "tests" / "envcheck"


def venv_env() -> dict:
    """Environment for subprocesses: the running interpreter's bin folder first on PATH, and each
    `python -m mlpipe` step limited to the packages of its rule's conda environment
    (tests/envcheck), so that every workflow run of the tests also proves envs/*.yaml complete."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ENVCHECK), env.get("PYTHONPATH")]))
    return env


def snakemake(*args, cwd=REPO, env=None):
    return subprocess.run(["snakemake", *args], cwd=cwd, capture_output=True, text=True, env=env or venv_env())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow on the tiny config with `--cores 2`, run once for the session (the
    workflow tests read it; the Slurm test compares its own run with it)."""
    work = tmp_path_factory.mktemp("tiny")
    shutil.copy(REPO / "workflow_config.yaml", work)
    run = snakemake("--cores", "2", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--configfile", str(TINY), cwd=work)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return work


def equal_fractions():
    """A valid row of the 37 GZ2 conditional vote fractions: each question's answers share one."""
    import numpy as np

    from mlpipe import gz2

    return np.concatenate([np.full(len(q.answers), 1.0 / len(q.answers)) for q in gz2.QUESTIONS])
