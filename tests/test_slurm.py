"""The Slurm profile against a real Slurm: a single-node cluster on localhost (slurmctld, slurmd,
slurmdbd with MariaDB accounting, munge) runs the tiny workflow with `--profile profiles/slurm`,
and its results equal those of the local `--cores 2` run.

The only test-only changes to the real profile, made on a copy: GPU requests go to the CPU-only
test partition, the CNN rules keep their own thread counts (on the CPU a CNN's outputs change in
the last float32 digit with the thread count, and a GBM choosing its 50 most-used features can
flip on one digit: the runs compare like with like), conda deployment is off (the venv has the
packages, each step limited to its rule's conda environment by tests/envcheck; CI reaches no
conda channel), and the first status check comes after 2 s instead of 40 s.
"""

from __future__ import annotations

import copy
import shutil
import subprocess

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY, snakemake, venv_env
from slurm_cluster import Cluster, SlurmUnavailable, ensure_installed

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
TORCH_RULES = ("train_cnn", "extract_features")   # thread counts as in the local run


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        ensure_installed()
        cluster = Cluster(tmp_path_factory.mktemp("slurm")).start()
    except SlurmUnavailable as err:
        pytest.skip(f"no Slurm test cluster: {err}")
    yield cluster
    cluster.stop()


def test_profile_requests_gpus_and_batches_shard_jobs():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    for rule in ("train_cnn", "extract_features", "predict"):
        assert profile["set-resources"][rule]["gpu"] == 1          # the plugin's --gpus=1
    assert profile["groups"]["preprocess_shard"] == profile["groups"]["mock_images"]
    assert profile["group-components"][profile["groups"]["preprocess_shard"]] >= 10
    assert "mem_mb_per_cpu" not in str(profile)                     # exclusive with mem_mb


def test_profile_for_the_test_cluster(profile_dir, cluster):
    derived = yaml.safe_load((profile_dir / "config.yaml").read_text())
    real = yaml.safe_load(PROFILE.read_text())
    assert {k: v for k, v in derived.items() if k not in ("set-resources", "set-threads", "software-deployment-method",
                                                          "slurm-init-seconds-before-status-checks")} == \
        {k: v for k, v in real.items() if k not in ("set-resources", "set-threads", "software-deployment-method")}
    assert derived["set-threads"] == {k: v for k, v in real["set-threads"].items() if k not in TORCH_RULES}


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory, cluster):
    """A copy of profiles/slurm with the GPU rules sent to the CPU test partition."""
    profile = yaml.safe_load(PROFILE.read_text())
    for rule, resources in profile["set-resources"].items():
        if resources.get("gpu"):
            # gpu: 0, not just no entry: the rules themselves declare gpu=1
            profile["set-resources"][rule] = copy.deepcopy(resources) | {"gpu": 0, "slurm_partition": cluster.partition}
    for rule in TORCH_RULES:
        profile["set-threads"].pop(rule, None)
    profile.pop("software-deployment-method", None)
    profile["slurm-init-seconds-before-status-checks"] = 2
    folder = tmp_path_factory.mktemp("profile")
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, cluster, profile_dir):
    """The tiny workflow through Slurm; the GBM studies are left out (5 predictors, not 28) to keep
    the suite's time: every rule still runs, and the compared outputs do not depend on them."""
    work = tmp_path_factory.mktemp("slurm_run")
    shutil.copy(REPO / "workflow_config.yaml", work)
    (work / "main_predictors.yaml").write_text("gbm:\n  studies: []\nevaluate:\n  importance:\n    predictors: [g_morph]\n")
    # the test node offers 8 CPUs on a machine that may have 2 cores: OpenMP threads that wait by
    # sleeping, not spinning, leave the cores to the jobs beside them (no effect on any number)
    env = venv_env() | {"SLURM_CONF": cluster.env["SLURM_CONF"], "OMP_WAIT_POLICY": "PASSIVE"}
    run = snakemake("--profile", str(profile_dir), "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--configfile", str(TINY), str(work / "main_predictors.yaml"), cwd=work, env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:] + cluster.logs()
    accounting = subprocess.run(["sacct", "-X", "--parsable2", "--noheader", "--format=JobID,Comment%200,State,AllocCPUS"],
                                capture_output=True, text=True, env=env, check=True).stdout
    return work, [line.split("|") for line in accounting.strip().splitlines()]


def test_jobs_ran_as_slurm_jobs(slurm_run):
    work, jobs = slurm_run
    assert len(jobs) >= 10 and all(state == "COMPLETED" for _, _, state, _ in jobs), jobs
    rules = {comment.split("_wildcards_")[0] for _, comment, _, _ in jobs}
    assert {"rule_train_cnn", "rule_extract_features", "rule_train_predictor", "rule_figures"} <= rules, rules
    # the Snakefile's localrules ran on the submitting host, not as jobs
    assert not rules & {"rule_index_image_stores", "rule_report"}, rules
    assert (work / "results" / "report.md").is_file() and (work / "results" / "images" / "stores.csv").is_file()
    cpus = {comment: int(n) for _, comment, _, n in jobs}
    assert cpus["rule_train_predictor_wildcards_g_morph"] == 4             # the profile's threads reached sbatch


def _interval(work, benchmark):
    """(start, end) of a job from its benchmark's run time and the file's modification time."""
    path = work / "results" / "benchmarks" / benchmark
    end = path.stat().st_mtime
    return end - float(pd.read_csv(path, sep="\t")["s"].iloc[0]), end


def test_grouped_shard_jobs_run_in_parallel_inside_one_submission(slurm_run):
    work, jobs = slurm_run
    comments = [comment for _, comment, _, _ in jobs]
    assert not [c for c in comments if c.startswith(("rule_mock_images", "rule_preprocess_shard"))], comments
    assert len([c for c in comments if c.startswith("rule_shards")]) == 1, comments    # both shards, one submission
    for stage in ("mock_images", "preprocess"):
        (a0, a1), (b0, b1) = (_interval(work, f"{stage}/shard-{k}.tsv") for k in (0, 1))
        assert a0 < b1 and b0 < a1, f"{stage}: shard jobs ran one after the other ({a0:.0f}-{a1:.0f}, {b0:.0f}-{b1:.0f})"


def test_slurm_results_equal_the_local_run(slurm_run, tiny_run):
    work, _ = slurm_run
    for name in ("catalog/sample.csv", "catalog/rejected.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(work / "results" / name), pd.read_csv(tiny_run / "results" / name))
    for shard in (0, 1):
        with h5py.File(work / "results" / "images" / f"shard-{shard}.h5") as a, \
                h5py.File(tiny_run / "results" / "images" / f"shard-{shard}.h5") as b:
            assert np.array_equal(a["images/48"][()], b["images/48"][()])
            assert np.array_equal(a["objid"][()], b["objid"][()])
    for model in ("cnn1", "cnn2", "cnn3", "cnn4"):
        a = pd.read_csv(work / "results" / "models" / model / "history.csv").drop(columns="seconds")
        b = pd.read_csv(tiny_run / "results" / "models" / model / "history.csv").drop(columns="seconds")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        for shard in (0, 1):
            with h5py.File(work / "results" / "features" / model / f"shard-{shard}.h5") as fa, \
                    h5py.File(tiny_run / "results" / "features" / model / f"shard-{shard}.h5") as fb:
                assert np.array_equal(fa["objid"][()], fb["objid"][()])
                assert np.array_equal(fa["features"][()], fb["features"][()])
    for predictor in ("g_ref", "g_morph", "gi_powerlaw", "gi_gbm", "gi_morph"):
        a = pd.read_csv(work / "results" / "predictions" / f"{predictor}.csv")
        b = pd.read_csv(tiny_run / "results" / "predictions" / f"{predictor}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=True)   # LightGBM with 4 threads here, 1 there
