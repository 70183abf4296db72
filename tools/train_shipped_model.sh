#!/usr/bin/env bash
# Trains the shipped opacity model exactly as recorded in resources/models/manifest.json:
# 5-fold cross-validation and the all-data run in parallel on a CUDA GPU (about 150 s on one
# H100), then the weights + manifest with the CV metrics and the CV figure, in
# runs/gpu2/scoat_net-w16/ship. Copy ship/* to resources/models and cv_predictions.png to docs.
# Without a GPU add --device cpu --jobs 2 (hours on a laptop).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python tools/gpu_experiments.py \
  --images ../shared/data/medseg100-train/images --masks ../shared/data/medseg100-train/masks \
  --out "${RUN:-runs/gpu2}" --only scoat_net-w16 --set repeats=3 --jobs 6 "$@"
