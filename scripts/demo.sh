#!/usr/bin/env bash
# The main job: set up .venv, show convcost on the classic example layer (with its
# derivation), then analyse a real model: one training step of ResNet-50 at batch 32.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run() { echo "\$ convcost $*"; .venv/bin/convcost "$@"; echo; }
run conv --input 3x224x224 --out-channels 64 --kernel 7 --stride 2 --padding 3 --no-bias --explain
run model torchvision:resnet50 --input 32x3x224x224 --optimizer sgd
