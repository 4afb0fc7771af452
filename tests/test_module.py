"""mlpipe used as a Snakemake module by another workflow (as snakedeploy sets it up)."""

from conftest import REPO, snakemake

HOST = """\
configfile: "{config}"


module mlpipe:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from mlpipe as mlpipe_*
"""


def test_second_workflow_uses_mlpipe_as_a_module(tmp_path):
    (tmp_path / "Snakefile").write_text(HOST.format(config=REPO / "workflow_config.yaml",
                                                    snakefile=REPO / "Snakefile"))
    run = snakemake("-n", "--cores", "1", cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    for rule in ("mlpipe_mock_catalogues", "mlpipe_preprocess_shard", "mlpipe_train_cnn", "mlpipe_report"):
        assert rule in out
    assert "wildcards: shard=3" in out
