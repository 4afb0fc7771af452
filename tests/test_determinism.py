"""Two runs with the same seeds give identical catalogues, image stores and GBM predictions on CPU."""

import copy
import filecmp

import pandas as pd
from test_faults import _same_store, _stage_args, mlpipe


def test_mock_catalogues_are_identical_across_runs(tmp_path, default_config):
    from mlpipe.mock.survey import CATALOGUE_FILES, write_mock_catalogues

    cfg = copy.deepcopy(default_config)
    cfg["mock"]["n_galaxies"] = 1500
    for run in ("a", "b"):
        write_mock_catalogues(cfg["mock"], cfg["cosmology"], tmp_path / run)
    for name in CATALOGUE_FILES.values():
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name


def test_image_store_and_gbm_predictions_repeat_exactly(tiny_run, tmp_path):
    """A second run of preprocessing and of a GBM predictor (with its interval models) on the tiny
    run's inputs reproduces the first run's outputs bit for bit."""
    results = tiny_run / "results"
    for stage, reference in (("preprocess", results / "images" / "shard-0.h5"),
                             ("train-predictor", results / "predictions" / "g_morph.csv")):
        args, outputs = _stage_args(stage, results, tmp_path)
        run = mlpipe(args, tiny_run)
        assert run.returncode == 0, run.stderr[-2000:]
        if stage == "preprocess":
            _same_store(tmp_path / outputs[0], reference)
        else:
            pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "g_morph.csv"), pd.read_csv(reference), check_exact=True)
