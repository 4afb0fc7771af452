"""The workflow config is validated at start; a wrong key or type is named in the message."""

import subprocess

import pytest
import yaml

from mlpipe import config as config_mod
from mlpipe.cli import main

from conftest import REPO, venv_env


def test_default_config_is_valid(config):
    config_mod.validate(config)


@pytest.mark.parametrize("preset", ["paper.yaml", "science.yaml"])
def test_presets_are_valid(preset):
    merged = config_mod.load_merged(REPO / "workflow_config.yaml", REPO / "config" / preset)
    config_mod.validate(merged)


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


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, path + (key,))
    else:
        yield path, node


def _wrong_type(value):
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "not a number"
    if isinstance(value, str):
        return 12
    if isinstance(value, list):
        return "not a list"
    return 3.5   # null-able strings (paths, column names)


def _set(cfg, path, value):
    for key in path[:-1]:
        cfg = cfg[key]
    cfg[path[-1]] = value


def test_every_key_with_a_wrong_value_is_rejected_naming_it(default_config):
    """Each leaf of workflow_config.yaml in turn gets a value of the wrong type, each dict a
    misspelt extra key and loses a required key: every one is refused, the message naming it."""
    import copy

    checked = 0
    for path, value in _leaves(default_config):
        cfg = copy.deepcopy(default_config)
        _set(cfg, path, _wrong_type(value))
        key = ".".join(path)
        with pytest.raises(config_mod.ConfigError, match=f"'{key}'"):
            config_mod.validate(cfg)
        cfg = copy.deepcopy(default_config)
        parent = ".".join(path[:-1]) or "(top level)"
        _set(cfg, path[:-1] + (path[-1] + "_typo",), value)
        with pytest.raises(config_mod.ConfigError, match=f"'{parent}'.*{path[-1]}_typo"):
            config_mod.validate(cfg)
        checked += 1
    assert checked > 150


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["predict"].update(predictor="g_magic"), "predict.predictor"),
    (lambda c: c["predict"].update(morphology_model="cnn4"), "predict.morphology_model"),   # trained on M/L
    (lambda c: c["evaluate"].update(class_model="cnn9"), "evaluate.class_model"),
    (lambda c: c["cnn"]["models"]["cnn4"].update(init_from="cnn4"), "cnn.models.cnn4.init_from"),
    (lambda c: c["gbm"].update(uncertainty=["g_morph", "nope"]), "gbm.uncertainty.1"),
    (lambda c: c["evaluate"]["importance"].update(predictors=["gi_powerlaw"]), "evaluate.importance.predictors.0"),
    (lambda c: c["evaluate"].update(ks_pairs=[["g_morph", "x"]]), "evaluate.ks_pairs.0.1"),
    (lambda c: c["mock"]["bursts"].update(clumps_min=12), "mock.bursts.clumps_max"),
    (lambda c: c["mock"]["bursts"].update(light_fraction_range=[0.8, 0.2]), "mock.bursts.light_fraction_range"),
    (lambda c: c["mock"].update(redshift_range=[0.3, 0.01]), "mock.redshift_range"),
    (lambda c: c["data"]["fetch"].update(url_template="https://example.org/cutout.fits"), "data.fetch.url_template"),
])
def test_references_and_ranges_are_checked_naming_the_key(config, mutate, key):
    mutate(config)
    with pytest.raises(config_mod.ConfigError, match=f"'{key}'"):
        config_mod.validate(config)


def test_snakemake_stops_on_a_reference_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("predict:\n  predictor: g_magic\n")
    run = subprocess.run(["snakemake", "-n", "--configfile", str(tmp_path / "bad.yaml")],
                         cwd=REPO, capture_output=True, text=True, env=venv_env())
    assert run.returncode != 0
    assert "predict.predictor" in run.stdout + run.stderr and "g_magic" in run.stdout + run.stderr


def test_comparisons_may_name_a_study_that_is_switched_off(config):
    """evaluate.ks_pairs lists the multiband comparisons; a run without that study skips them."""
    config["gbm"]["studies"] = []
    assert ["band_gr_morph", "band_gr"] in config["evaluate"]["ks_pairs"]
    config_mod.validate(config)
