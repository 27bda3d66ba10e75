#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with everything the
# tests, benchmarks and demo need, and the system packages the tests use. Idempotent; safe
# to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# The HTML report is tested in a real headless browser: Debian's chromium, driven by
# Playwright's Python package (never `playwright install`, which downloads a browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium (for the browser tests)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: the browser tests need Debian's chromium: run 'sudo apt-get install chromium'" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# torch/torchvision resolve from the machine's local cache when present (see README).
.venv/bin/python -m pip install -q -e '.[torch,dev,plot,onnx,serve,cluster]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import convcost, torch, torchvision, hypothesis, pytest, playwright" \
  || { echo "setup: the environment is incomplete" >&2; exit 1; }
