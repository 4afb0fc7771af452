#!/usr/bin/env bash
# The GPU measurements of BENCHMARKS.md, in one run on a machine with one CUDA GPU (~10 min on an
# H100: two bench runs of < 5 min each and the GPU tests). From the repository root, inside the
# project's environment:
#     bash bench/gpu_check.sh [OUTDIR]          # default OUTDIR: gpu-check/
# Writes OUTDIR/{device.txt, tests.txt, cnn_bench.md, cnn_bench.json, cnn_bench_compiled.md, ...};
# the tables in cnn_bench*.md go into BENCHMARKS.md with the card's name.
set -uo pipefail
out=${1:-gpu-check}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python -c 'import torch, timm; print("torch", torch.__version__, "CUDA", torch.version.cuda, "timm", timm.__version__)'
  nproc; git rev-parse HEAD; } > "$out/device.txt" 2>&1

# 1. The GPU tests (training step, extraction and the in-memory split on CUDA).
timeout 180 python -m pytest -q -m gpu tests/test_cnn.py > "$out/tests.txt" 2>&1

# 2. The paper preset's CNN stages, eager (the default: cnn.compile none).
timeout 330 python bench/cnn_bench.py --device cuda --preset config/paper.yaml \
    --json "$out/cnn_bench.json" > "$out/cnn_bench.md" 2> "$out/cnn_bench.log"

# 3. The same with torch.compile (cnn.compile: default), to decide whether the switch pays.
timeout 330 python bench/cnn_bench.py --device cuda --preset config/paper.yaml --compile default \
    --json "$out/cnn_bench_compiled.json" > "$out/cnn_bench_compiled.md" 2> "$out/cnn_bench_compiled.log"

tail -n 12 "$out"/cnn_bench*.md "$out/tests.txt"
