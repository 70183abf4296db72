#!/usr/bin/env bash
# Trains the shipped default opacity model scoat_net-w16-synth exactly as recorded in
# resources/models/manifest.json: the GPU-trained scoat_net-w16 (tools/train_shipped_model.sh)
# fine-tuned on the same 50 medseg100-train slices with a synthetic consolidation pasted into the
# lungs of 80 % of the training samples (scoat_core/training/synthetic_lesions.py). 25 epochs x 3
# passes; about 11 minutes on a 2-core AMD EPYC (avx512_bf16, bfloat16 autocast) when nothing
# else runs. --ship-to adds it to resources/models and makes it the default; the earlier
# scoat_net-w16 stays there (it is this model's starting point).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/scoat train --out "${RUN:-runs/w16-synth3}" --arch scoat_net --width 16 --size 192 \
  --scale 0.5 --batch-size 16 --epochs 25 --repeats 3 --lr 0.003 --lr-step 10 --restart-epoch 0 \
  --seed 0 --device "${DEVICE:-cpu}" --init resources/models/scoat_net-w16.safetensors \
  --synthetic-consolidation 0.8 --full --name scoat_net-w16-synth "$@"
