"""The workflow config is validated at start; a wrong key or type is named in the message."""

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, venv_env

from mlpipe import config as config_mod
from mlpipe.cli import main


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


def snakemake_dry_run(configfile: Path) -> subprocess.CompletedProcess:
    """``snakemake -n`` of the repository's workflow with one extra config file."""
    return subprocess.run(["snakemake", "-n", "--configfile", str(configfile)],
                          cwd=REPO, capture_output=True, text=True, env=venv_env())


def test_snakemake_stops_on_schema_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("catalog:\n  n_shards: many\n")
    run = snakemake_dry_run(tmp_path / "bad.yaml")
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
    return [3.5]   # null-able strings (paths, column names) and numbers (a zero point)


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
    run = snakemake_dry_run(tmp_path / "bad.yaml")
    assert run.returncode != 0
    assert "predict.predictor" in run.stdout + run.stderr and "g_magic" in run.stdout + run.stderr


def test_comparisons_may_name_a_study_that_is_switched_off(config):
    """evaluate.ks_pairs lists the multiband comparisons; a run without that study skips them."""
    config["gbm"]["studies"] = []
    assert ["band_gr_morph", "band_gr"] in config["evaluate"]["ks_pairs"]
    config_mod.validate(config)


# --- validated in full at start ------------------------------------------------------------

def _walk_schema(node, root, path=()):
    """(config key pattern, schema node) of every property, $refs followed; '*' for any model name."""
    if "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _walk_schema(child, root, path + (key,))
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk_schema(node["additionalProperties"], root, path + ("*",))


def _ordered_pairs(config):
    """Every [min, max] pair of a config: the schema marks them (x-ordered), nothing else does."""
    root = config_mod.schema()
    patterns = {p for p, node in _walk_schema(root, root) if node.get("x-ordered")}
    found = []
    for path, value in _leaves(config):
        if any(len(p) == len(path) and all(a in ("*", b) for a, b in zip(p, path)) for p in patterns):
            found.append((path, value))
    return found


def test_every_range_in_the_schema_is_checked_and_the_schema_is_the_only_source(config):
    config["cnn"]["models"]["cnn1"]["zoom_range"] = [0.8, 1.2]
    pairs = _ordered_pairs(config)
    keys = {".".join(p) for p, _ in pairs}
    assert {"cnn.models.cnn1.zoom_range", "cnn.training.zoom_range", "mock.redshift_range",
            "preprocess.stars.sharpness_range"} <= keys
    assert len(pairs) >= 12
    import copy
    for path, (low, high) in pairs:
        cfg = copy.deepcopy(config)
        _set(cfg, path, [high, low])
        with pytest.raises(config_mod.ConfigError, match=f"'{'.'.join(path)}'.*range"):
            config_mod.validate(cfg)
    source = (REPO / "mlpipe" / "config.py").read_text()
    assert "_range" not in source   # no hand-kept list of range keys


@pytest.mark.parametrize("mutate, key, message", [
    (lambda c: c["gbm"].update(grid={"num_leaves": ["a"]}), "gbm.grid.num_leaves.0", "not of type 'integer'"),
    (lambda c: c["gbm"].update(grid={"num_leaves": [1]}), "gbm.grid.num_leaves.0", "less than the minimum of 2"),
    (lambda c: c["gbm"].update(grid={"learning_rate": [0.1, -1]}), "gbm.grid.learning_rate.1", "minimum of 0"),
    (lambda c: c["gbm"].update(grid={"num_leaves": []}), "gbm.grid.num_leaves", "should be non-empty"),
    (lambda c: c["gbm"].update(grid={"leaves": [3]}), "gbm.grid", "'leaves' was unexpected"),
    (lambda c: c["cnn"]["models"]["cnn2"].update(zoom_range=[1.3, 0.7]), "cnn.models.cnn2.zoom_range", "min <= max"),
    (lambda c: c["cnn"]["training"].update(zoom_range=[0, 1.3]), "cnn.training.zoom_range.0", "minimum of 0"),
    (lambda c: c["catalog"].update(test_fraction=0.6, validation_fraction=0.5), "catalog.validation_fraction",
     "must be below 1"),
    (lambda c: c["preprocess"].update(fov_d25=0.0001), "preprocess.fov_d25", "less than the minimum of 1.0"),
    (lambda c: c["mock"].update(dec_range=[-95, 10]), "mock.dec_range.0", "minimum of -90"),
    (lambda c: c["mock"]["image"].update(min_size_px=500), "mock.image.min_size_px", "max_size_px"),
    (lambda c: c["predict"].update(pixel_scale_mismatch="ignore"), "predict.pixel_scale_mismatch", "is not one of"),
])
def test_bad_values_are_refused_at_start_naming_the_key(config, mutate, key, message):
    mutate(config)
    with pytest.raises(config_mod.ConfigError, match=f"'{key}'.*{message}"):
        config_mod.validate(config)


def _real(config, tmp_path, **changes):
    fixtures = REPO / "tests" / "fixtures" / "real_example"
    config["data"]["source"] = "real"
    config["data"]["real"].update(gswlc=str(fixtures / "GSWLC-X2.dat"), hyperleda=str(fixtures / "hyperleda.txt"),
                                  gz2=str(fixtures / "gz2_hart16.csv"), photometry=str(fixtures / "sdss_photometry.csv"),
                                  stars=str(fixtures / "stars.csv"), images=str(fixtures / "images"))
    config["data"]["real"].update(changes)
    return config


@pytest.mark.parametrize("changes, key, found", [
    ({"images": str(REPO / "tests" / "fixtures" / "real_example" / "imgaes")}, "data.real.images", "does not exist"),
    ({"images": str(REPO / "tests" / "fixtures" / "real_example" / "stars.csv")}, "data.real.images", "is a file"),
    ({"gswlc": "data/GSWLC-X2.dat"}, "data.real.gswlc", r"does not exist; a file is needed \(relative to"),
    ({"image_index": "index.csv"}, "data.real.image_index", "does not exist"),
])
def test_input_paths_must_exist(config, tmp_path, changes, key, found):
    config_mod.validate(_real(config, tmp_path), check_paths=True)
    with pytest.raises(config_mod.ConfigError, match=f"'{key}'.*{found}"):
        config_mod.validate(_real(config, tmp_path, **changes), check_paths=True, base=tmp_path)


def test_predict_and_pretrained_paths_must_exist(config, tmp_path):
    config["predict"]["images"] = "new_images"
    with pytest.raises(config_mod.ConfigError, match="'predict.images': new_images does not exist; a folder"):
        config_mod.validate(config, check_paths=True, base=tmp_path)
    config["predict"]["images"] = None
    config["cnn"]["models"]["cnn1"]["pretrained"] = "resnet50.pth"
    with pytest.raises(config_mod.ConfigError, match="'cnn.models.cnn1.pretrained'"):
        config_mod.validate(config, check_paths=True, base=tmp_path)


@pytest.mark.parametrize("text, message", [
    ("catalog:\n  n_shards: 2\ncatalog:\n  seed: 1\n", "line 3: duplicate key 'catalog' (first given at line 1)"),
    ("cnn:\n  models:\n    cnn1:\n      image_size: 48\n      image_size: 64\n", "line 5: duplicate key 'image_size'"),
    ("catalog:\n  n_shards: 2\n seed: 3\n", "line 3, column 2: YAML syntax error"),
    ("catalog: [1, 2\n", "YAML syntax error"),
    ("- just\n- a list\n", "holds sections"),
])
def test_yaml_problems_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(config_mod.ConfigError, match=f"mine.yaml.*{message.replace('(', '.').replace(')', '.')}"):
        config_mod.load_merged(REPO / "workflow_config.yaml", path)


def test_snakemake_stops_on_a_duplicate_key_naming_file_and_line(tmp_path):
    (tmp_path / "dup.yaml").write_text("catalog:\n  n_shards: 2\ncatalog:\n  seed: 3\n")
    run = snakemake_dry_run(tmp_path / "dup.yaml")
    assert run.returncode != 0
    assert "dup.yaml, line 3: duplicate key 'catalog'" in run.stdout + run.stderr


def test_snakemake_stops_on_a_missing_input_even_when_results_exist(tmp_path):
    """A mistyped or missing data.real file is an error at start, whatever results/ holds."""
    (tmp_path / "results" / "catalog").mkdir(parents=True)
    (tmp_path / "results" / "catalog" / "sample.csv").write_text("objid\n1\n")
    config = _real(yaml.safe_load((REPO / "workflow_config.yaml").read_text()), tmp_path,
                   gswlc=str(tmp_path / "GSWLC-X2.dat"))
    (tmp_path / "real.yaml").write_text(yaml.safe_dump({"data": config["data"]}))
    run = subprocess.run(["snakemake", "-n", "-s", str(REPO / "Snakefile"), "--configfile", str(tmp_path / "real.yaml")],
                         cwd=tmp_path, capture_output=True, text=True, env=venv_env())
    assert run.returncode != 0
    assert "'data.real.gswlc'" in run.stdout + run.stderr and "GSWLC-X2.dat does not exist" in run.stdout + run.stderr
