#!/usr/bin/env bash
# The one prepared run for a lent GPU machine (the session's device tool; about 7 minutes,
# each step under its own time limit): calibration, measured vs estimated step time, and
# measured vs predicted caching-allocator memory and --fit. Uses the machine's own python3
# (which has torch, torchvision and transformers) and convcost from src/; writes one text
# file per step to $OUT (at most 8 files come back). Record the figures in
# benchmarks/README.md.
#
#   device tool: run command="bash benchmarks/gpu_check.sh h200" timeout_s=540
set -uo pipefail
DEVICE=${1:-h200}
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

step() {
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*"
    timeout "$limit" "$PY" "$@" 2>&1 | tee "$OUT/$name.txt"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" -c "import torch; p = torch.cuda.get_device_properties(0); \
print(torch.__version__, p.name, p.total_memory, p.multi_processor_count)"
} 2>&1 | tee "$OUT/gpu.txt"
step calibrate 60 benchmarks/calibrate_gpu.py --base "$DEVICE" --quick --repeats 3 \
    --output "$OUT/calibrated.toml"
step step_time 90 benchmarks/step_time_vs_real.py --device "$DEVICE" \
    --models resnet50,efficientnet_b0 --batches 1,32 --steps 10
step layout 60 benchmarks/step_time_vs_real.py --device "$DEVICE" --amp \
    --models resnet50 --batches 64 --steps 10 --layouts contiguous,channels_last
step allocator 120 benchmarks/allocator_vs_real.py --device "$DEVICE" --batches 8,64
step fit 120 benchmarks/allocator_vs_real.py --device "$DEVICE" --capacity-gib 6 \
    --models resnet50 --batches 8 --bisect
