"""Sample preparation (rescale, pad) and on-the-fly batch augmentation in torch.

Augmentations, each drawn per sample: 90° rotations and flips (the medseg slices are rotated, so
the model must not depend on orientation), scale and rotation by a random affine transform,
Gaussian noise, Gaussian blur (scanner kernels), and **intensity-window jitter**: the input is
taken back to HU through the training window, then re-windowed with both window ends moved by up
to ``window_jitter_hu``, so the model does not overfit one display window. Optionally, a
synthetic consolidation is pasted into the lungs of some samples (``consolidation``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scoat_core.analysis.normalization import HU_HIGH, HU_LOW
from scoat_core.training.data import Sample
from scoat_core.training.synthetic_lesions import paste_batch


@dataclass
class AugmentConfig:
    rot90: bool = True
    flip: bool = True
    scale: tuple[float, float] = (0.85, 1.15)
    rotate_deg: float = 15.0
    noise_sigma: float = 0.02
    blur_sigma: float = 1.0
    window_jitter_hu: float = 150.0
    probability: float = 0.8
    """Chance that the affine/noise/blur/window parts are applied to a sample."""
    consolidation: float = 0.0
    """Chance that a synthetic consolidation is pasted into a sample's lungs
    (:mod:`scoat_core.training.synthetic_lesions`)."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def rescale_sample(sample: Sample, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Image (bilinear) and mask (nearest) rescaled by ``factor``."""
    if factor == 1.0:
        return sample.image, sample.mask
    img = torch.from_numpy(np.ascontiguousarray(sample.image))[None, None]
    msk = torch.from_numpy(np.ascontiguousarray(sample.mask)).float()[None, None]
    size = [max(1, round(n * factor)) for n in sample.image.shape]
    img = F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True)
    msk = F.interpolate(msk, size=size, mode="bilinear", align_corners=False) > 0.5
    return img[0, 0].numpy(), msk[0, 0].numpy().astype(np.uint8)


def pad_or_crop(
    image: np.ndarray, mask: np.ndarray, size: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Centre-pad (value 0) to size×size; crop randomly (or centrally without rng) if larger."""
    out_i = np.zeros((size, size), np.float32)
    out_m = np.zeros((size, size), np.uint8)
    h, w = image.shape
    sy = (rng.integers(0, h - size + 1) if rng is not None else (h - size) // 2) if h > size else 0
    sx = (rng.integers(0, w - size + 1) if rng is not None else (w - size) // 2) if w > size else 0
    crop_i, crop_m = image[sy : sy + size, sx : sx + size], mask[sy : sy + size, sx : sx + size]
    oy, ox = (size - crop_i.shape[0]) // 2, (size - crop_i.shape[1]) // 2
    out_i[oy : oy + crop_i.shape[0], ox : ox + crop_i.shape[1]] = crop_i
    out_m[oy : oy + crop_m.shape[0], ox : ox + crop_m.shape[1]] = crop_m
    return out_i, out_m


def augment_batch(
    images: torch.Tensor, masks: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch (N,1,H,W) of images in [0,1] and binary masks; returns new tensors."""
    images, masks = _rot_flip(images, masks, cfg, gen)
    apply = torch.rand(images.shape[0], generator=gen) < cfg.probability
    images, masks = _affine(images, masks, cfg, gen, apply)
    images, masks = paste_batch(images, masks, cfg.consolidation, gen)
    images = _window_jitter(images, cfg, gen, apply)
    images = _blur(images, cfg, gen, apply)
    if cfg.noise_sigma > 0:
        sigma = torch.rand(images.shape[0], 1, 1, 1, generator=gen) * cfg.noise_sigma
        noise = torch.randn(images.shape, generator=gen) * sigma * apply[:, None, None, None]
        images = (images + noise).clamp_(0, 1)
    return images, masks


def _rot_flip(images, masks, cfg, gen):
    out_i, out_m = [], []
    for i in range(images.shape[0]):
        img, msk = images[i], masks[i]
        if cfg.rot90:
            k = int(torch.randint(0, 4, (1,), generator=gen))
            img, msk = torch.rot90(img, k, (1, 2)), torch.rot90(msk, k, (1, 2))
        if cfg.flip and torch.rand(1, generator=gen) < 0.5:
            img, msk = img.flip(2), msk.flip(2)
        out_i.append(img)
        out_m.append(msk)
    return torch.stack(out_i), torch.stack(out_m)


def _affine(images, masks, cfg, gen, apply):
    n = images.shape[0]
    lo, hi = cfg.scale
    scale = lo + torch.rand(n, generator=gen) * (hi - lo)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = torch.where(apply, scale, torch.ones_like(scale))
    angle = torch.where(apply, angle, torch.zeros_like(angle))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1),
                         torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    masks = F.grid_sample(masks, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return images, masks


def _window_jitter(images, cfg, gen, apply):
    if cfg.window_jitter_hu <= 0:
        return images
    n = images.shape[0]
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * cfg.window_jitter_hu
    shift = shift * apply[:, None]
    hu = images * (HU_HIGH - HU_LOW) + HU_LOW
    low = (HU_LOW + shift[:, 0]).view(n, 1, 1, 1)
    high = (HU_HIGH + shift[:, 1]).view(n, 1, 1, 1)
    return ((hu - low) / (high - low)).clamp_(0, 1)


def _blur(images, cfg, gen, apply):
    if cfg.blur_sigma <= 0:
        return images
    out = images.clone()
    sigmas = torch.rand(images.shape[0], generator=gen) * cfg.blur_sigma
    for i in range(images.shape[0]):
        s = float(sigmas[i])
        if not apply[i] or s < 0.3:
            continue
        radius = max(1, math.ceil(3 * s))
        x = torch.arange(-radius, radius + 1, dtype=images.dtype)
        k = torch.exp(-(x**2) / (2 * s * s))
        k = k / k.sum()
        img = F.pad(images[i : i + 1], (radius, radius, radius, radius), mode="replicate")
        img = F.conv2d(img, k.view(1, 1, 1, -1))
        out[i : i + 1] = F.conv2d(img, k.view(1, 1, -1, 1))
    return out
