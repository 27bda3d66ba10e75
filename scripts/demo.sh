#!/usr/bin/env bash
# The main job: set up .venv, then show convcost on the classic example layer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "\$ convcost conv --input 3x224x224 --out-channels 64 --kernel 7 --stride 2 --padding 3 --no-bias --explain"
.venv/bin/convcost conv --input 3x224x224 --out-channels 64 --kernel 7 --stride 2 --padding 3 --no-bias --explain
