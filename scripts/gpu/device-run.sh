#!/bin/bash
# Continues the three default members at once on one GPU, each for MINUTES, from the shipped
# weights, on a packed export (pack.py); writes NAME.safetensors, NAME-best.safetensors and
# train.log to OUT_DIR. Run from the repository root:
#   bash scripts/gpu/device-run.sh .gpu/packed OUT_DIR MINUTES
set -u
packed=$(realpath "$1"); out=$(realpath "$2"); minutes=$3
cd "$(dirname "$0")"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$out/train.log" 2>&1
python3 -c "import torch; print('torch', torch.__version__)" >> "$out/train.log" 2>&1
for model in resnet50 vgg16_bn tu-inception_v3; do
    python3 -u train.py --export "$packed" --model "$model" --init "../../Models/$model/weights.safetensors" \
        --minutes "$minutes" --output "$out/$model" 2>&1 | sed -u "s/^/[$model] /" >> "$out/train.log" &
done
wait
