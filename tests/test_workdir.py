"""The rules do not depend on the working directory: with `snakemake --directory elsewhere` every
job imports this repository's mlpipe (test_module.py uses the workflow as a module of another)."""

import os

from conftest import REPO, snakemake, venv_env


def _env_with_a_decoy(tmp_path):
    """PYTHONPATH leads to an `mlpipe` that fails on import: a job that does not put this
    repository first (it runs outside the repository root) picks it up and fails."""
    decoy = tmp_path / "decoy" / "mlpipe"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('not the workflow repository: its mlpipe was not found')\n")
    env = venv_env()
    env["PYTHONPATH"] = os.pathsep.join([str(decoy.parent), env["PYTHONPATH"]])
    return env


def test_a_job_runs_from_another_directory(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "small.yaml").write_text("mock:\n  n_galaxies: 300\n")
    env = _env_with_a_decoy(tmp_path)
    dry = snakemake("-n", "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(work / "small.yaml"),
                    cwd=tmp_path, env=env)
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    assert "mock_catalogues" in dry.stdout
    run = snakemake("results/mock/GSWLC-X2.dat", "--cores", "1", "-s", str(REPO / "Snakefile"), "--directory",
                    str(work), "--configfile", str(work / "small.yaml"), cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines = (work / "results" / "mock" / "GSWLC-X2.dat").read_text().splitlines()
    assert len(lines) > 100
    assert not (tmp_path / "results").exists()   # outputs go to --directory, not to the caller's folder
