#!/usr/bin/env bash
# Makes the training data and trains the default ensemble in Models/, exactly as shipped.
#
#   scripts/train-default-models.sh [MEMBER...]     (default: resnet50 tu-inception_v3 vgg16_bn)
#
# Data goes to $DATA (../kidneyseg-data), checkpoints to $RUNS (../kidneyseg-runs), never into
# the repository. Each member trains for $MINUTES (25) per call and is resumed by the next call,
# so the script can be run again after an interruption; a finished member is copied into
# Models/. Members start from the weights shipped at commit 36aedf3 (the first default
# ensemble, trained on synthetic data only; its commands are in that commit's README).
set -euo pipefail
cd "$(dirname "$0")/.."
kidneyseg=${KIDNEYSEG:-.build/release/kidneyseg}
shared=${SHARED:-../shared/data}
data=${DATA:-../kidneyseg-data}
runs=${RUNS:-../kidneyseg-runs}
minutes=${MINUTES:-25}

[ -f "$data/split.json" ] || $kidneyseg synth --slices "$shared/curvas-slices" --hu-range 0,255 \
    --kits-labels "$shared/kits19-labels" --variants 4 --phantoms --output "$data"
# The real KiTS19 slices as volumes; case_00117 validates, since its label map is not among
# those synth used, so no shape of it reaches training.
[ -d "$data/kits19-real" ] || $kidneyseg stack-slices "$shared/kits19-real-slices" --output "$data/kits19-real"
mkdir -p "$data/kits19-train" "$data/kits19-validation" "$runs"
for case in case_00002 case_00016 case_00030; do ln -sfn "../kits19-real/$case" "$data/kits19-train/$case"; done
ln -sfn ../kits19-real/case_00117 "$data/kits19-validation/case_00117"

steps() { case $1 in resnet50) echo 1500 ;; tu-inception_v3) echo 1500 ;; vgg16_bn) echo 1000 ;; esac; }

for member in "${@:-resnet50 tu-inception_v3 vgg16_bn}"; do
  for name in $member; do
    run="$runs/$name"
    if [ -f "$run/training.json" ]; then
        resume=(--resume)
    else
        resume=()
        git show "36aedf3:Models/$name/weights.safetensors" > "$runs/$name-initial.safetensors"
    fi
    $kidneyseg train "${resume[@]}" --data "$data/kits19-train" --data "$data/train/slices" --data "$data/train/phantoms" \
        --data-weights 2,2,1 --validation-data "$data/kits19-validation" \
        --name "$name" --encoder "$name" --width 0.25 --size 192 --grid-spacing 2 --context-slices 3 --context-spacing 4 \
        --hu-window=-125,225 --hu-range 0,255 --batch 8 --loss focal-dice --lr 1e-3 --schedule cosine --background-fraction 1 \
        --steps-per-epoch 100 --epochs $(( $(steps "$name") / 100 )) --seed 1 \
        --init "$runs/$name-initial.safetensors" --time-limit "$minutes" --output "$run"
    epochs_done=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['epochs_done'])" "$run/training.json")
    if [ "$epochs_done" -ge $(( $(steps "$name") / 100 )) ]; then
        mkdir -p "Models/$name"
        cp "$run/manifest.json" "$run/weights.safetensors" "$run/training.json" "Models/$name/"
    fi
  done
done
