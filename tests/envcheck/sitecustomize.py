"""Conda-environment check for the tests' workflow runs: Python loads this at start when
tests/envcheck is on PYTHONPATH.

Inside ``python -m mlpipe <command>``, the project's dependencies (pyproject.toml) that are missing
from the conda environment of the rule running that command (its ``conda:`` file in rules/*.smk)
cannot be imported, so a run of the workflow under this check proves that every rule works with
``--software-deployment-method conda``, which CI cannot run (it reaches no conda channel). Other
processes (Snakemake itself, the tests) are untouched.
"""

import importlib.machinery
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the project's dependencies: conda package -> import name
IMPORT_NAMES = {"numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "astropy": "astropy", "h5py": "h5py",
                "pyyaml": "yaml", "jsonschema": "jsonschema", "matplotlib-base": "matplotlib", "galsim": "galsim",
                "photutils": "photutils", "lightgbm": "lightgbm", "torch": "torch",
                "torchvision": "torchvision", "timm": "timm"}


def command_environments() -> dict[str, str]:
    """mlpipe command -> the conda environment file of the rule that runs it."""
    envs = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?:rule|checkpoint) ", smk.read_text(), flags=re.M)[1:]:
            conda = re.search(r'conda:\s*"\.\./(envs/[\w-]+\.yaml)"', block)
            command = re.search(r"python -m mlpipe ([\w-]+)", block)
            if conda and command:
                envs[command.group(1)] = conda.group(1)
    return envs


def environment_packages(env_file: str) -> set[str]:
    """Import names of the project dependencies that a conda environment file lists."""
    items = re.findall(r"^\s*-\s*([A-Za-z][\w.-]*)", (REPO / env_file).read_text(), flags=re.M)
    return {IMPORT_NAMES[name] for name in items if name in IMPORT_NAMES}


class HiddenPackages:
    """sys.meta_path's PathFinder, blind to some top-level packages: to the importer and to
    importlib.util.find_spec (which optional-dependency probes use) they look not installed."""

    def __init__(self, finder, hidden: set[str]) -> None:
        self.finder, self.hidden = finder, hidden

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.hidden:
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, name):  # invalidate_caches, find_distributions
        return getattr(self.finder, name)


def _install() -> None:
    argv = sys.orig_argv
    if "-m" not in argv or argv.index("-m") + 2 >= len(argv) or argv[argv.index("-m") + 1] != "mlpipe":
        return
    command = argv[argv.index("-m") + 2]
    env_file = command_environments().get(command)
    if env_file is None:
        return
    hidden = set(IMPORT_NAMES.values()) - environment_packages(env_file)
    sys.meta_path[:] = [HiddenPackages(f, hidden) if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    print(f"envcheck: `mlpipe {command}` runs with the packages of {env_file}; not importable: "
          f"{', '.join(sorted(hidden))}", file=sys.stderr)


_install()
