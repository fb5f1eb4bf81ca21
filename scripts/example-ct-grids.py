#!/usr/bin/env python3
"""Writes the real example CT (3 mm, isotropic) and its TotalSegmentator kidney mask on three
other grids, as KiTS-layout cases for `kidneyseg evaluate-set`: 1 mm pixels in-plane (linear
interpolation), 1.5 mm slices (linear) and 6 mm slices (pairs of slices averaged, as a thick
reconstruction would). The mask is resampled by nearest neighbour, so on the finer grids it keeps
its 3 mm steps. The kidney Dice on these grids shows how much the pipeline depends on the
scanner's grid. Needs numpy, scipy and nibabel.

    python3 scripts/example-ct-grids.py ../shared/data/example-ct OUT
    .build/release/kidneyseg evaluate-set OUT --classes kidney --per-case
"""
import os
import sys

import nibabel as nib
import numpy as np
from scipy.ndimage import zoom


def save(folder, name, image, mask, affine, spacing):
    case = os.path.join(folder, f"case_{name}")
    os.makedirs(case, exist_ok=True)
    affine = affine.copy()
    affine[:3, :3] = affine[:3, :3] @ np.diag(np.array(spacing) / 3.0)
    nib.save(nib.Nifti1Image(np.round(image).astype(np.int16), affine), os.path.join(case, "imaging.nii.gz"))
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), os.path.join(case, "segmentation.nii.gz"))


def main(source, folder):
    ct = nib.load(os.path.join(source, "example_ct.nii.gz"))
    reference = nib.load(os.path.join(source, "example_ct_kidney_reference.nii.gz"))
    assert np.allclose(ct.header.get_zooms(), 3.0), "expects the 3 mm example CT"
    image = np.asarray(ct.dataobj).astype(np.float32)
    mask = np.asarray(reference.dataobj)
    save(folder, "inplane1mm", zoom(image, (3, 3, 1), order=1), zoom(mask, (3, 3, 1), order=0), ct.affine, (1, 1, 3))
    save(folder, "slices1p5mm", zoom(image, (1, 1, 2), order=1), zoom(mask, (1, 1, 2), order=0), ct.affine, (3, 3, 1.5))
    pairs = image.shape[2] // 2 * 2
    thick = image[:, :, :pairs].reshape(image.shape[0], image.shape[1], -1, 2).mean(axis=3)
    save(folder, "slices6mm", thick, mask[:, :, 0:pairs:2], ct.affine, (3, 3, 6))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
