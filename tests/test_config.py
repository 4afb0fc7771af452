"""The workflow config is validated at start; a wrong key or type is named in the message."""

import subprocess

import pytest
import yaml

from mlpipe import config as config_mod
from mlpipe.cli import main

from conftest import REPO, venv_env


def test_default_config_is_valid(config):
    config_mod.validate(config)


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["catalog"].update(n_shard=3), "catalog"),
    (lambda c: c["catalog"].update(n_shards="four"), "catalog.n_shards"),
    (lambda c: c["catalog"].update(test_fraction=1.5), "catalog.test_fraction"),
    (lambda c: c["data"].update(source="sdss"), "data.source"),
    (lambda c: c["mock"]["dust"].pop("reddening_per_mag"), "mock.dust"),
    (lambda c: c["cosmology"].update(H0=-1), "cosmology.H0"),
])
def test_invalid_values_name_the_key(config, mutate, key):
    mutate(config)
    with pytest.raises(config_mod.ConfigError, match=f"'{key}'"):
        config_mod.validate(config)


def test_cli_refuses_invalid_config_file(tmp_path, config, capsys):
    config["catalog"]["chi2_max"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["build-sample", "--config", str(path), "--gswlc", "x", "--hyperleda", "x",
                 "--gz2", "x", "--photometry", "x", "--outdir", str(tmp_path)]) == 2


def test_snakemake_stops_on_schema_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("catalog:\n  n_shards: many\n")
    run = subprocess.run(["snakemake", "-n", "--configfile", str(tmp_path / "bad.yaml")],
                         cwd=REPO, capture_output=True, text=True, env=venv_env())
    assert run.returncode != 0
    assert "n_shards" in run.stdout + run.stderr
