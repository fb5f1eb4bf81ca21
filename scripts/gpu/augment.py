"""kidneyseg's augmentation (Sources/Training/Augmentation.swift) for whole batches on a GPU.

The same steps with the same ranges: a share of the slices (0.75) is augmented, and each step
then applies with probability 1/2. Spatial steps build one sampling map per slice, composed in
the Swift order (flip, rotation, elastic, grid distortion, crop-pad), which moves the image
(bilinear, zero outside) and its labels (nearest, background outside) together. Intensity steps
follow in the Swift order (contrast phase, clamp at zero, brightness, contrast, gamma, blur,
noise), one draw of their parameters per slice for all of its channels.
"""
import math

import torch
import torch.nn.functional as F

SPATIAL = ["flip", "rotation", "elastic", "grid", "crop_pad"]
INTENSITY = ["contrast_phase", "clamp_at_zero", "brightness", "contrast", "gamma", "blur", "noise"]


def uniform(n, low, high, device):
    return torch.empty(n, device=device).uniform_(low, high)


def gaussian_blur(x, sigma):
    """Separable Gaussian with edge replication, radius ceil(3 sigma), one sigma per slice.
    x: (B, C, H, W); sigma: (B,) tensor."""
    b, c, h, w = x.shape
    radius = int(math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sigma[:, None] ** 2))
    kernel = kernel * (offsets.abs()[None] <= torch.ceil(3 * sigma)[:, None])
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, K)
    planes = x.reshape(1, b * c, h, w)
    planes = F.conv2d(F.pad(planes, (radius, radius, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=b * c)
    planes = F.conv2d(F.pad(planes, (0, 0, radius, radius), mode="replicate"), kernel[:, None, :, None], groups=b * c)
    return planes.reshape(b, c, h, w)


def grid_warp(x, count, n, device):
    """Five cells along an axis, each stretched by U(0.7, 1.3), mapped onto the axis."""
    steps = uniform(n * 5, 0.7, 1.3, device).reshape(n, 5)
    borders = torch.cat([torch.zeros(n, 1, device=device), torch.cumsum(steps / steps.sum(1, keepdim=True), 1)], 1) * (count - 1)
    span = count - 1
    flat = x.reshape(n, -1)
    cell = torch.clamp((flat / span * 5).floor().long(), 0, 4)
    start = cell.float() * span / 5
    fraction = (flat - start) / (span / 5)
    low, high = torch.gather(borders, 1, cell), torch.gather(borders, 1, cell + 1)
    return (low + fraction * (high - low)).reshape(x.shape)


def sampling_map(n, h, w, chosen, device):
    """Where each output pixel samples its input, (x, y) each (n, H, W), in pixels."""
    y, x = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                          torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    x, y = x.expand(n, h, w).clone(), y.expand(n, h, w).clone()
    cx, cy = (w - 1) / 2, (h - 1) / 2
    on = {step: chosen[step][:, None, None] for step in SPATIAL}
    x = torch.where(on["flip"], (w - 1) - x, x)
    angle = uniform(n, -15, 15, device)[:, None, None] * math.pi / 180
    dx, dy = x - cx, y - cy
    rx, ry = cx + torch.cos(angle) * dx - torch.sin(angle) * dy, cy + torch.sin(angle) * dx + torch.cos(angle) * dy
    x, y = torch.where(on["rotation"], rx, x), torch.where(on["rotation"], ry, y)
    fields = gaussian_blur(torch.empty(n, 2, h, w, device=device).uniform_(-1, 1), torch.full((n,), max(h, w) / 16, device=device))
    scale = (max(h, w) / 8) / fields.abs().amax(dim=(1, 2, 3)).clamp_min(1e-6)[:, None, None]
    x, y = torch.where(on["elastic"], x + scale * fields[:, 0], x), torch.where(on["elastic"], y + scale * fields[:, 1], y)
    x, y = torch.where(on["grid"], grid_warp(x, w, n, device), x), torch.where(on["grid"], grid_warp(y, h, n, device), y)
    zoom = uniform(n, 0.8, 1.25, device)[:, None, None]
    sx, sy = uniform(n, -0.08, 0.08, device)[:, None, None] * w, uniform(n, -0.08, 0.08, device)[:, None, None] * h
    x = torch.where(on["crop_pad"], cx + (x - cx) / zoom + sx, x)
    y = torch.where(on["crop_pad"], cy + (y - cy) / zoom + sy, y)
    return x, y


def augment(images, labels, window, proportion=0.75, probability=0.5):
    """images: (B, C, H, W) in [0, 1]; labels: (B, H, W) long. Returns augmented copies."""
    n, _, h, w = images.shape
    device = images.device
    augmented = torch.rand(n, device=device) < proportion
    chosen = {step: augmented & (torch.rand(n, device=device) < probability) for step in SPATIAL + INTENSITY}

    x, y = sampling_map(n, h, w, chosen, device)
    grid = torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    labels = F.grid_sample(labels[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=True)[:, 0].round().long()

    lower, upper = window
    span = upper - lower

    def where(step, changed):
        return torch.where(chosen[step][:, None, None, None], changed, images)

    def scaled(hounsfield):
        return (hounsfield.clamp(lower, upper) - lower) / span

    # Contrast phase: the kidney's enhancement towards native or beyond, enhancing tissue towards 40 HU.
    kidney_factor = uniform(n, 0, 2, device)[:, None, None, None]
    tissue_factor = uniform(n, 0.4, 1, device)[:, None, None, None]
    kidney = gaussian_blur((labels > 0).float()[:, None], torch.ones(n, device=device))
    hounsfield = lower + images * span
    enhancing = ((250 - hounsfield) / 100).clamp(0, 1)
    tissue = torch.where(hounsfield > 40, hounsfield - enhancing * (hounsfield - 40) * (1 - tissue_factor), hounsfield)
    renal = 35 + (hounsfield - 35) * kidney_factor
    images = where("contrast_phase", scaled(kidney * renal + (1 - kidney) * tissue))
    images = where("clamp_at_zero", images.clamp_min((0 - lower) / span))
    images = where("brightness", images + uniform(n, -0.1, 0.1, device)[:, None, None, None])
    mean = images.mean(dim=(2, 3), keepdim=True)
    images = where("contrast", mean + (images - mean) * uniform(n, 0.8, 1.2, device)[:, None, None, None])
    images = where("gamma", images.clamp(0, 1) ** uniform(n, 0.7, 1.5, device)[:, None, None, None])
    images = where("blur", gaussian_blur(images, uniform(n, 0.5, 1.2, device)))
    images = where("noise", images + uniform(n, 0, 0.05, device)[:, None, None, None] * torch.randn_like(images))
    return images, labels
