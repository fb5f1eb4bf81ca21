#!/usr/bin/env bash
# Makes the training data and trains the default ensemble in Models/, as shipped.
#
#   scripts/train-default-models.sh
#
# It needs the release build, and python3 with PyTorch, numpy and safetensors, best with a GPU
# (scripts/gpu/train.py; on CPU it runs, for days). Data goes to $DATA (../kidneyseg-data), runs
# to $RUNS (../kidneyseg-runs), never into the repository.
#
# The members were made in three stages (the README's "How they were made"):
# - stage 1 (kidneyseg train in Swift, 2 CPU cores) fine-tuned the first default ensemble
#   (commit 36aedf3, synthetic data only); its weights shipped at commit f19488c;
# - stage 2 (the same, one core) continued tu-inception_v3; the weights shipped at commit
#   041eee5, whose version of this script holds both stages' commands;
# - stage 3, below, continues all three from commit 041eee5's weights with scripts/gpu/train.py
#   on one NVIDIA H200: the slices are exported by kidneyseg export-training (the Swift
#   preprocessing, byte for byte), the phantoms thinned to every 12th slice so the pack fits
#   the GPU machine's 64 MB transfer, and the steps drawn by weight with the sets at 2:2:4.
#   The three ran at once for 8.3 minutes (train.py --minutes 8.3, which laid out the step
#   counts below); resnet50 and vgg16_bn were still running at the time limit, and their
#   weights from the step-8500 evaluation are what the commands below stop at. vgg16_bn's
#   schedule was then only half done (lr 4.3e-4), so a second run cooled it down from there.
#   GPU convolutions are not bit-for-bit reproducible, so a rerun gives close, not equal, weights.
set -euo pipefail
cd "$(dirname "$0")/.."
kidneyseg=${KIDNEYSEG:-.build/release/kidneyseg}
shared=${SHARED:-../shared/data}
data=${DATA:-../kidneyseg-data}
runs=$(mkdir -p "${RUNS:-../kidneyseg-runs}" && realpath "${RUNS:-../kidneyseg-runs}")

[ -f "$data/split.json" ] || $kidneyseg synth --slices "$shared/curvas-slices" --hu-range 0,255 \
    --kits-labels "$shared/kits19-labels" --variants 4 --phantoms --output "$data"
# The real KiTS19 slices as volumes; case_00117 validates, since its label map is not among
# those synth used, so no shape of it reaches training.
[ -d "$data/kits19-real" ] || $kidneyseg stack-slices "$shared/kits19-real-slices" --output "$data/kits19-real"
mkdir -p "$data/kits19-train" "$data/kits19-validation"
for case in case_00002 case_00016 case_00030; do ln -sfn "../kits19-real/$case" "$data/kits19-train/$case"; done
ln -sfn ../kits19-real/case_00117 "$data/kits19-validation/case_00117"

members=(resnet50 tu-inception_v3 vgg16_bn)
for name in "${members[@]}"; do
    mkdir -p "$runs/stage2/$name"
    for file in manifest.json weights.safetensors; do git show "041eee5:Models/$name/$file" > "$runs/stage2/$name/$file"; done
done
data_path=$(realpath "$data")
cat > "$runs/stage3.json" <<EOF
{"data": ["$data_path/kits19-train", "$data_path/train/slices", "$data_path/train/phantoms"], "data_weights": [2, 2, 4],
 "validation_data": ["$data_path/kits19-validation"], "size": 192, "pixel_spacing_mm": 2, "context_slices": 3,
 "context_spacing_mm": 4, "hu_window": [-125, 225], "png_hu_range": [0, 255], "background_fraction": 1, "seed": 2}
EOF
[ -f "$runs/export/slices.json" ] || $kidneyseg export-training --config "$runs/stage3.json" \
    --model "$runs/stage2/resnet50" --model "$runs/stage2/tu-inception_v3" --model "$runs/stage2/vgg16_bn" --output "$runs/export"
[ -f "$runs/packed/slices.json" ] || python3 scripts/gpu/pack.py "$runs/export" "$runs/packed" --thin 2:12

train() { (cd scripts/gpu && python3 -u train.py --export "$runs/packed" "$@"); }
train --model resnet50 --init "$runs/stage2/resnet50/weights.safetensors" --steps 8793 --stop-at 8500 --output "$runs/resnet50"
train --model tu-inception_v3 --init "$runs/stage2/tu-inception_v3/weights.safetensors" --steps 5674 --output "$runs/tu-inception_v3"
train --model vgg16_bn --init "$runs/stage2/vgg16_bn/weights.safetensors" --steps 15509 --stop-at 8500 --output "$runs/vgg16_bn-first"
train --model vgg16_bn --reference "$runs/stage2/vgg16_bn/weights.safetensors" --init "$runs/vgg16_bn-first.safetensors" \
    --lr 4e-4 --warmup 100 --steps 3615 --output "$runs/vgg16_bn"
# The shipped manifests and training records stay: the record is written from the runs' logs.
for name in "${members[@]}"; do cp "$runs/$name.safetensors" "Models/$name/weights.safetensors"; done
