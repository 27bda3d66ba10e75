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
# pip's own output, minus a warning this machine's layout prints on every call; the status is
# pip's.
pip_install() {
  .venv/bin/python -m pip install -q "$@" 2>&1 | grep -v "^WARNING: Location"
  return "${PIPESTATUS[0]}"
}
pip_install --upgrade pip || true
# A download cut off by the network is resumed, and the whole install tried three times:
# one dropped connection must not fail a fresh set-up.
RESUME=()
if .venv/bin/python -m pip install --help 2>/dev/null | grep -q -- --resume-retries; then
  RESUME=(--resume-retries 10)
fi
# torch/torchvision resolve from the machine's local cache when present (see README).
for attempt in 1 2 3; do
  if pip_install ${RESUME[@]+"${RESUME[@]}"} -e '.[torch,dev,plot,onnx,serve,cluster]'; then
    break
  fi
  echo "setup: pip install failed (attempt $attempt of 3)" >&2
  sleep 5
done
.venv/bin/python -c "import convcost, torch, torchvision, hypothesis, pytest, playwright" \
  || { echo "setup: the environment is incomplete" >&2; exit 1; }
