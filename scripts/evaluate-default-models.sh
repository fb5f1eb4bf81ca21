#!/usr/bin/env bash
# Scores the ensemble in Models/ (or $MODELS) as the README reports it, on data no member
# trained on: the validation KiTS19 patient (case_00117, where the ensemble's weights and
# foreground threshold are chosen), the held-out CURVAS patients' real slices, the real
# non-contrast example CT against its TotalSegmentator kidney mask, and synth's held-out
# phantoms. Run scripts/train-default-models.sh first: it makes the data in $DATA
# (../kidneyseg-data).
set -euo pipefail
cd "$(dirname "$0")/.."
kidneyseg=${KIDNEYSEG:-.build/release/kidneyseg}
shared=${SHARED:-../shared/data}
data=${DATA:-../kidneyseg-data}
models=${MODELS:-Models}

mkdir -p "$data/example/case_example"
ln -sfn "$(realpath "$shared/example-ct/example_ct.nii.gz")" "$data/example/case_example/imaging.nii.gz"
ln -sfn "$(realpath "$shared/example-ct/example_ct_kidney_reference.nii.gz")" "$data/example/case_example/segmentation.nii.gz"

echo "## Validation: KiTS19 case_00117 (one volume: Dice pooled over its slices)"
$kidneyseg evaluate-set "$data/kits19-validation" --models "$models" --choose-weights --foreground-thresholds 0.5,0.45,0.4,0.35,0.3
echo "## Held-out CURVAS patients 10008, 10011, 10014 (real slices, kidney only)"
$kidneyseg evaluate-set "$data/test/real-slices" --models "$models" --classes kidney --hu-range 0,255
echo "## The example CT (real, non-contrast) against its TotalSegmentator kidney mask"
$kidneyseg evaluate-set "$data/example" --models "$models" --classes kidney
$kidneyseg segment "$shared/example-ct/example_ct.nii.gz" -o "${TMPDIR:-/tmp}/example-mask.nii.gz" --models "$models"
echo "## Held-out phantoms (20 KiTS19 label maps)"
$kidneyseg evaluate-set "$data/test/phantoms" --models "$models"
