#!/usr/bin/env bash
# Rebuild the demo checkpoint (resources/checkpoints/demo) from the seed: generate the synthetic
# cohort, then train on its six training centres and evaluate on the external centre.
# CPU, one torch thread (the same float reductions on every machine: same weights' sha256).
# Usage: scripts/build-demo-checkpoint.sh [WORK_DIR]   (default: a new temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d /tmp/neoadj-demo-ckpt.XXXXXX)}
seed=1
patients=536
epochs=${NEOADJ_DEMO_EPOCHS:-24}
if [ ! -f "$work/cohort/cohort.csv" ]; then
  .venv/bin/neoadj synth cohort "$work/cohort" --patients "$patients" --seed "$seed" --workers 2
fi
.venv/bin/neoadj train "$work/cohort" --out "$work/checkpoint" --cache "$work/cache" \
  --epochs "$epochs" --seed 0 --device cpu --threads 1 --workers 2 \
  --name neoadj-net-demo --version 0.5.0
mkdir -p resources/checkpoints/demo
cp "$work/checkpoint/model.safetensors" "$work/checkpoint/manifest.json" resources/checkpoints/demo/
sha256sum resources/checkpoints/demo/model.safetensors
