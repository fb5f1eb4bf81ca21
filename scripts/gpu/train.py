#!/usr/bin/env python3
"""Continue one of kidneyseg's models with PyTorch on a GPU, on the slices that
`kidneyseg export-training` writes, and write an engine weights file.

The recipe is `kidneyseg train`'s with `--sampling weighted`: each step draws its slices in
proportion to their weight, augments them as Augmentation.swift does, and minimises the focal
Dice loss (gamma 1/2, smoothing 1) with Adam and a cosine learning rate down to 1/100. Before it
trains, it checks that it computes the engine's logits on the exported reference slices, so that
the weights it writes mean in the engine what they mean here.

    python3 scripts/gpu/train.py --export EXPORT --model resnet50 --init Models/resnet50/weights.safetensors \
        --steps 6000 --output out/resnet50

writes out/resnet50.safetensors (the latest evaluation's weights; the last step's at the end),
out/resnet50-best.safetensors (the best validation Dice, mean of kidney and tumour, among the
evaluations) and a log on stdout.
"""
import argparse
import json
import lzma
import math
import os
import time

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from augment import augment
from unet import UNet


def read_records(path, channels, height, width):
    """Slices as (images uint8 (N, C, H, W), labels uint8 (N, H, W)), from PATH or PATH.xz."""
    packed = not os.path.exists(path)
    with (lzma.open if packed else open)(path + ".xz" if packed else path, "rb") as f:
        data = np.frombuffer(f.read(), np.uint8)
    records = data.reshape(-1, (channels + 1) * height * width)
    images = records[:, : channels * height * width].reshape(-1, channels, height, width)
    labels = records[:, channels * height * width:].reshape(-1, height, width)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.copy())


def focal_dice(logits, labels, gamma=0.5, smoothing=1.0):
    """Σ over classes of (1 − soft Dice)^gamma over the whole batch (Loss.swift's focal-dice)."""
    probabilities = torch.softmax(logits.float(), dim=1)
    onehot = torch.nn.functional.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).float()
    intersection = (probabilities * onehot).sum(dim=(0, 2, 3))
    total = probabilities.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    dice = (2 * intersection + smoothing) / (total + smoothing)
    return ((1 - dice).clamp_min(1e-6) ** gamma).sum()


@torch.no_grad()
def validate(net, images, labels, batch=64):
    """Dice of the argmax over all validation pixels, for kidney (1) and tumour (2)."""
    net.eval()
    counts = torch.zeros(3, 3, device=images.device)  # [class, (intersection, predicted, actual)]
    for start in range(0, len(images), batch):
        predicted = net(images[start:start + batch].float() / 255).argmax(1)
        actual = labels[start:start + batch].long()
        for c in (1, 2):
            counts[c] += torch.stack([((predicted == c) & (actual == c)).sum(), (predicted == c).sum(), (actual == c).sum()]).float()
    net.train()
    dice = [(2 * counts[c, 0] / (counts[c, 1] + counts[c, 2])).item() if counts[c, 1] + counts[c, 2] > 0 else float("nan") for c in (1, 2)]
    return {"kidney": dice[0], "tumour": dice[1]}


def check_parity(net, export, model, images, references, device):
    """The engine's logits on the reference slices, against ours in float32."""
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    net.eval()
    with torch.no_grad():
        ours = net(images[references].float().to(device) / 255).cpu()
    net.train()
    engine = torch.from_numpy(np.fromfile(f"{export}/{model}/reference.f32", np.float32).reshape(ours.shape))
    difference = (ours - engine).abs().max().item()
    print(f"parity with the engine: max |logit difference| {difference:.2e} (logit std {engine.std().item():.2f})", flush=True)
    if difference > 1e-3 * max(1.0, engine.abs().max().item()):
        raise SystemExit(f"{model}: this network does not compute the engine's logits; stopping")
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True


def save(net, path, encoder):
    tensors = {name: tensor.detach().float().cpu().contiguous() for name, tensor in net.engine_state().items()}
    save_file(tensors, path, metadata={"encoder": encoder})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", required=True, help="the folder kidneyseg export-training wrote")
    parser.add_argument("--model", required=True, help="the model's name: its graph is EXPORT/NAME/graph.json")
    parser.add_argument("--init", required=True, help="the engine weights file to start from")
    parser.add_argument("--reference", help="the weights the export's reference logits came from (default: --init)")
    parser.add_argument("--output", required=True, help="path prefix of the weights files to write")
    parser.add_argument("--steps", type=int, help="optimiser steps in all")
    parser.add_argument("--stop-at", type=int, help="stop after this step, the schedule still laid out for --steps")
    parser.add_argument("--minutes", type=float, help="instead of --steps: as many steps as fit in this time, measured over steps 20 to 60")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=200, help="steps of linear warm-up")
    parser.add_argument("--validate-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if (args.steps is None) == (args.minutes is None):
        parser.error("give --steps or --minutes")

    began = time.time()
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    meta = json.load(open(f"{args.export}/slices.json"))
    shape = (meta["channels"], meta["height"], meta["width"])
    training = [t.to(device) for t in read_records(f"{args.export}/training.u8", *shape)]
    validation = [t.to(device) for t in read_records(f"{args.export}/validation.u8", *shape)]
    weights = torch.tensor([s["weight"] for s in meta["training"]], device=device)
    assert len(weights) == len(training[0]) and len(meta["validation"]) == len(validation[0]), "slices.json does not fit the records"
    print(f"{args.model}: {len(weights)} training slices, {len(validation[0])} validation slices on {device}", flush=True)

    net = UNet(json.load(open(f"{args.export}/{args.model}/graph.json"))["graph"]).to(device)
    net.load_engine_state(load_file(args.reference or args.init))
    check_parity(net, args.export, args.model, validation[0], meta["reference_slices"], device)
    net.load_engine_state(load_file(args.init))
    window = meta["hu_window"]
    optimiser = torch.optim.Adam(net.parameters(), lr=args.lr)
    best, scores = -1.0, validate(net, *validation)
    print(f"step 0: validation {scores}", flush=True)

    total, step, losses, timed = args.steps, 0, [], None
    while (total is None or step < total) and step != args.stop_at:
        if total is None and step == 20:
            timed = time.time()
        if total is None and step == 60:
            per_step = (time.time() - timed) / 40
            total = max(step + 1, int((args.minutes * 60 - (time.time() - began)) / (per_step * 1.08)) + step)
            print(f"{per_step * 1000:.1f} ms per step: {total} steps in all", flush=True)
        progress = step / total if total else 0.0
        rate = args.lr * min(1.0, (step + 1) / args.warmup) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimiser.param_groups:
            group["lr"] = rate
        chosen = torch.multinomial(weights, args.batch, replacement=True)
        images, labels = augment(training[0][chosen].float() / 255, training[1][chosen].long(), window)
        loss = focal_dice(net(images), labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.detach())
        step += 1
        if step % args.validate_every == 0 or step in (total, args.stop_at):
            scores = validate(net, *validation)
            mean = (scores["kidney"] + scores["tumour"]) / 2
            if mean > best:
                best = mean
                save(net, f"{args.output}-best.safetensors", args.model)
            save(net, f"{args.output}.safetensors", args.model)
            print(f"step {step}/{total} loss {torch.stack(losses).mean().item():.4f} lr {rate:.2e} "
                  f"validation kidney {scores['kidney']:.3f} tumour {scores['tumour']:.3f} "
                  f"({time.time() - began:.0f} s)", flush=True)
            losses = []
    print(f"{args.model}: done, {step} steps, best validation mean {best:.3f}, {time.time() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
