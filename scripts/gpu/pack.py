#!/usr/bin/env python3
"""Pack a `kidneyseg export-training` folder small enough to carry to a GPU machine.

Keeps every slice of most sets and every K-th slice of each patient in the sets named by
--thin SET:K (neighbouring slices of a phantom differ little). A kept slice of a thinned patient
stands for the slices left out: its weight grows so that the patient's, and so the set's, share
of the draws stays what it was. The records are written xz-compressed; train.py reads them.

    python3 scripts/gpu/pack.py EXPORT PACKED --thin 2:8
"""
import argparse
import json
import lzma
import os
import shutil
from collections import defaultdict

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export")
    parser.add_argument("output")
    parser.add_argument("--thin", action="append", default=[], help="SET:K keeps every K-th slice of each patient of set SET")
    args = parser.parse_args()
    thin = {int(s): int(k) for s, k in (item.split(":") for item in args.thin)}

    meta = json.load(open(os.path.join(args.export, "slices.json")))
    record = (meta["channels"] + 1) * meta["height"] * meta["width"]
    by_group = defaultdict(list)
    for index, slice_ in enumerate(meta["training"]):
        by_group[(slice_["set"], slice_["patient"])].append(index)
    kept = []
    for (set_, _), indices in by_group.items():
        chosen = indices[thin.get(set_, 1) // 2::thin.get(set_, 1)] or indices[:1]
        kept += [(index, len(indices) / len(chosen)) for index in chosen]
    kept.sort()

    os.makedirs(args.output, exist_ok=True)
    records = np.memmap(os.path.join(args.export, "training.u8"), np.uint8, "r").reshape(-1, record)
    with lzma.open(os.path.join(args.output, "training.u8.xz"), "wb", preset=6) as f:
        for index, _ in kept:
            f.write(records[index].tobytes())
    with open(os.path.join(args.export, "validation.u8"), "rb") as source, lzma.open(os.path.join(args.output, "validation.u8.xz"), "wb") as f:
        shutil.copyfileobj(source, f)
    meta["training"] = [dict(meta["training"][index], weight=meta["training"][index]["weight"] * factor) for index, factor in kept]
    meta["thinned"] = {str(s): k for s, k in thin.items()}
    json.dump(meta, open(os.path.join(args.output, "slices.json"), "w"), indent=1)
    for name in os.listdir(args.export):
        if os.path.isdir(os.path.join(args.export, name)):
            shutil.copytree(os.path.join(args.export, name), os.path.join(args.output, name), dirs_exist_ok=True)
    shares = defaultdict(float)
    for slice_ in meta["training"]:
        shares[slice_["set"]] += slice_["weight"]
    total = sum(shares.values())
    print(f"{len(kept)} of {len(records)} training slices; shares by set: "
          + ", ".join(f"{s}: {w / total:.3f}" for s, w in sorted(shares.items())))


if __name__ == "__main__":
    main()
