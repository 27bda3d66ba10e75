#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with everything the
# tests, benchmarks and demo need. Idempotent; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# torch/torchvision resolve from the machine's local cache when present (see README).
.venv/bin/python -m pip install -q -e '.[torch,dev,plot,onnx]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import convcost, torch, torchvision, hypothesis, pytest" \
  || { echo "setup: the environment is incomplete" >&2; exit 1; }
