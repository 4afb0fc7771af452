"""How long Snakemake takes to build the DAG, and to decide "nothing to do" on an unchanged
results/, at 100 / 1,000 / 10,000 shards.

The results tree is fabricated (empty files, the shard catalogues with a header, the image folders):
``snakemake --summary`` lists every output of a 2-shard run (asked until nothing is missing, as
checkpoints reveal more), shard 0's outputs are repeated for every shard, and modification times
follow the pipeline's stage order (``snakemake --touch`` does the same one job at a time, and
``--summary`` itself takes longer than the benchmark at 10,000 shards). Run from the repository root:
``python bench/dag_bench.py --shards 100 1000 10000``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    """Run Snakemake in ``work`` on its n.yaml."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    return subprocess.run(["snakemake", "-s", str(REPO / "Snakefile"), "--configfile", "n.yaml", *args],
                          cwd=work, capture_output=True, text=True, env=env)


STAGES = ["mock_catalogues", "mock_oracle", "build_sample", "mock_images", "preprocess_shard", "index_image_stores", "train_cnn",
          "extract_features",
          "gbm_table", "train_predictor", "evaluate", "permutation_importance", "figures", "report"]


def template_outputs(n_shards: int = 2) -> list[tuple[str, str]]:
    """(output, rule) of every job of a small run, from ``snakemake --summary``."""
    work = Path(tempfile.mkdtemp(prefix="dagtemplate-"))
    shutil.copy(REPO / "workflow_config.yaml", work)
    (work / "n.yaml").write_text(f"catalog:\n  n_shards: {n_shards}\n")
    made: dict[str, str] = {}
    for _ in range(10):
        summary = snakemake(work, "--summary").stdout.splitlines()[1:]
        missing = [line.split("\t")[:3] for line in summary if "\tmissing\t" in line]
        if not missing:
            shutil.rmtree(work)
            return list(made.items())
        for name, _, rule in missing:
            made[name] = rule
            write_output(work / name, name)
    raise RuntimeError("outputs still missing after 10 rounds")


def write_output(path: Path, name: str) -> None:
    if not Path(name).suffix:   # a folder output: a shard's mock images, a model's feature stores
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("objid\n" if name.endswith(".csv") and "catalog" in name else "")


def fabricate(work: Path, n_shards: int, template: list[tuple[str, str]]) -> None:
    """Every output of an ``n_shards`` run, dated by its rule's place in the pipeline."""
    # after every workflow file (the report's captions are inputs too: a fresh checkout dates them now)
    sources = [REPO / "Snakefile", REPO / "workflow_config.yaml"]
    sources += [path for folder in ("rules", "report", "envs", "mlpipe") for path in (REPO / folder).rglob("*")]
    newest_source = max(path.stat().st_mtime for path in sources)
    start = max(time.time() - 3600, newest_source + 1)
    stamps = {}
    for name, rule in template:
        if "shard-1" in name:
            continue
        names = [name.replace("shard-0", f"shard-{k}") for k in range(n_shards)] if "shard-0" in name else [name]
        for each in names:
            write_output(work / each, each)
            stamps[each] = start + 60 * STAGES.index(rule)
    # dated once everything is written: a file written into a folder output after the folder was
    # dated would make the folder newer than its consumers, in an order that varies between runs
    for each, stamp in stamps.items():
        os.utime(work / each, (stamp, stamp))


def timed(work: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    run = snakemake(work, *args)
    return time.perf_counter() - t0, run.stdout + run.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, nargs="+", default=[100, 1000, 10000])
    args = parser.parse_args()
    template = template_outputs()
    print("| shards | DAG build, fresh (`snakemake -n`) | nothing to do, unchanged results/ (`snakemake -n`) |")
    print("|---|---|---|")
    for n in args.shards:
        work = Path(tempfile.mkdtemp(prefix=f"dag{n}-"))
        shutil.copy(REPO / "workflow_config.yaml", work)
        (work / "n.yaml").write_text(f"catalog:\n  n_shards: {n}\n")
        fresh, _ = timed(work, "-n", "-q")
        fabricate(work, n, template)
        idle, out = timed(work, "-n")
        assert "Nothing to be done" in out, out[-2000:]
        print(f"| {n:,} | {fresh:.1f} s | {idle:.1f} s |", flush=True)
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
