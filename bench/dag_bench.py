"""How long Snakemake takes to build the DAG, and to decide "nothing to do" on an unchanged
results/, at 100 / 1,000 / 10,000 shards.

The results tree is fabricated (empty files, the shard catalogues with a header, the image folders)
by asking ``snakemake --summary`` what is missing until nothing is; modification times then
follow the pipeline's stage order (``snakemake --touch`` does the same one job at a time, which
takes longer than the benchmark at 1,000 shards). Run from the repository root:
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
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    return subprocess.run(["snakemake", "-s", str(REPO / "Snakefile"), "--configfile", "n.yaml", *args],
                          cwd=work, capture_output=True, text=True, env=env)


STAGES = ["mock_catalogues", "build_sample", "mock_images", "preprocess_shard", "train_cnn", "extract_features",
          "gbm_table", "train_predictor", "evaluate", "permutation_importance", "figures", "report"]


def fabricate(work: Path) -> None:
    """Create every output Snakemake reports missing (repeated: checkpoints reveal more), then
    date each output by its rule's place in the pipeline."""
    made: dict[str, str] = {}
    for _ in range(10):
        summary = snakemake(work, "--summary").stdout.splitlines()[1:]
        missing = [line.split("\t")[:3] for line in summary if "\tmissing\t" in line]
        if not missing:
            break
        for name, _, rule in missing:
            path = work / name
            made[name] = rule
            if "/mock/images/" in name:
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("objid\n" if name.endswith(".csv") and "catalog" in name else "")
    else:
        raise RuntimeError("outputs still missing after 10 rounds")
    start = time.time() - 3600
    for name, rule in made.items():
        stamp = start + 60 * STAGES.index(rule)
        os.utime(work / name, (stamp, stamp))


def timed(work: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    run = snakemake(work, *args)
    return time.perf_counter() - t0, run.stdout + run.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, nargs="+", default=[100, 1000, 10000])
    args = parser.parse_args()
    print("| shards | DAG build, fresh (`snakemake -n`) | nothing to do, unchanged results/ (`snakemake -n`) |")
    print("|---|---|---|")
    for n in args.shards:
        work = Path(tempfile.mkdtemp(prefix=f"dag{n}-"))
        shutil.copy(REPO / "workflow_config.yaml", work)
        (work / "n.yaml").write_text(f"catalog:\n  n_shards: {n}\n")
        fresh, _ = timed(work, "-n", "-q")
        fabricate(work)
        idle, out = timed(work, "-n")
        assert "Nothing to be done" in out, out[-2000:]
        print(f"| {n:,} | {fresh:.1f} s | {idle:.1f} s |", flush=True)
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
