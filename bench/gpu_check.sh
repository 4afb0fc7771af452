#!/usr/bin/env bash
# The GPU measurements of BENCHMARKS.md, in one run of under 10 minutes on a machine with one CUDA
# GPU: the paper preset's CNN stages (eager, < 3 min on an H100), the GPU tests, and ResNet50's
# device limit and training again under torch.compile. From the repository root, inside the
# project's environment:
#     bash bench/gpu_check.sh [OUTDIR]          # default OUTDIR: gpu-check/
# Writes OUTDIR/{device.txt, cnn_bench.md, cnn_bench.json, tests.txt, cnn_bench_compiled.md, ...};
# the tables in cnn_bench*.md go into BENCHMARKS.md with the card's name. Each step has its own
# time limit, so that a step that hangs leaves the others their time.
set -uo pipefail
out=${1:-gpu-check}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python -c 'import torch, timm; print("torch", torch.__version__, "CUDA", torch.version.cuda, "timm", timm.__version__)'
  nproc; git rev-parse HEAD 2>/dev/null; } > "$out/device.txt" 2>&1
cat "$out/device.txt"

# 1. The paper preset's CNN stages, eager (the default: cnn.compile none).
timeout 200 python bench/cnn_bench.py --device cuda --preset config/paper.yaml \
    --json "$out/cnn_bench.json" > "$out/cnn_bench.md" 2> "$out/cnn_bench.log"
echo "eager bench: rc $?"

# 2. The GPU tests (training step, extraction and the in-memory split on CUDA).
timeout 60 python -m pytest -q -m gpu tests/test_cnn.py > "$out/tests.txt" 2>&1
echo "GPU tests: rc $?"

# 3. ResNet50 (cnn1) with torch.compile (cnn.compile: default): its device limit and its training,
#    to decide whether the switch pays where the time goes (compiling takes minutes).
timeout 300 python bench/cnn_bench.py --device cuda --preset config/paper.yaml --compile default \
    --models cnn1 --parts limit training --json "$out/cnn_bench_compiled.json" > "$out/cnn_bench_compiled.md" \
    2> "$out/cnn_bench_compiled.log"
echo "compiled bench: rc $?"

tail -n 12 "$out"/cnn_bench*.md "$out/tests.txt"
