#!/usr/bin/env bash
# Trains the shipped opacity model exactly as recorded in resources/models/manifest.json.
# Resumable: rerun after an interruption and it continues from the last epoch checkpoint.
#   0. fold 0 of the cross-validation first (an early look at validation Dice)
#   1. all-data training, written to resources/models (the shipped weights)
#   2. 5-fold cross-validation with the same settings (the model card's numbers)
#   3. the all-data step again, which now only rewrites the manifest with the CV metrics
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/scoat_net-w16}
SETTINGS=(--arch scoat_net --width 16 --size 192 --scale 0.5 --batch-size 4 --epochs 50 --seed 0)
scoat() { .venv/bin/scoat "$@"; }
scoat train --out "$RUN" "${SETTINGS[@]}" --fold 0
scoat train --out "$RUN" "${SETTINGS[@]}" --full --ship-to resources/models --name scoat_net-w16
scoat train --out "$RUN" "${SETTINGS[@]}"
scoat train --out "$RUN" "${SETTINGS[@]}" --full --ship-to resources/models --name scoat_net-w16
