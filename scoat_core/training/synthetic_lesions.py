"""Synthetic consolidation pasted into training slices: the dense opacity expert slices rarely show.

Why: the expert-labelled slices hold little dense consolidation, and a network trained on them
learns "opacity = ground-glass density"; it leaves solid consolidation (−100 to +50 HU) out,
most of all against the heart or mediastinum, where density alone does not tell lung from soft
tissue. Each pasted lesion follows COVID-19 CT semiology (consolidation at −150 to +60 HU with
air bronchograms, often subpleural or paramediastinal, sometimes with a ground-glass halo), lies
inside the thoracic cavity of the slice (the aerated lung with its vessels, found in the slice
itself), and is added to the label. The soft tissue outside the lung stays unlabelled, so the
network keeps learning that the heart and chest wall are not opacity.

Works on a batch of network-input patches (N, 1, H, W) in [0, 1], with binary masks, before the
intensity augmentations, so window jitter, blur and noise apply to pasted lesions too.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage as ndi

from scoat_core.analysis.normalization import hu_to_unit, unit_to_hu

#: Pixels below this (HU) count as aerated lung when the slice's lung region is found.
AERATED_HU = -600.0
#: Aerated parts with a median below this (HU) are outside air, airways or padding.
OUTSIDE_AIR_HU = -960.0
#: Smallest lung region (share of the patch) that a lesion is pasted into.
MIN_LUNG_SHARE = 0.02


def lung_region(hu: np.ndarray) -> np.ndarray:
    """The slice's lungs with their vessels: aerated parts of at least 1 % of the patch, holes
    filled. A part that touches the patch border is outside air or padding when its median is
    below ``OUTSIDE_AIR_HU``; otherwise it is lung that the patch cuts."""
    air = hu < AERATED_HU
    labels, n = ndi.label(air)
    if n == 0:
        return np.zeros_like(air)
    index = np.arange(1, n + 1)
    sizes = ndi.sum_labels(air, labels, index)
    medians = ndi.median(hu, labels, index)
    touching = np.zeros(n + 1, bool)
    touching[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    keep = np.zeros(n + 1, bool)
    keep[1:] = (sizes >= 0.01 * air.size) & ~(touching[1:] & (medians < OUTSIDE_AIR_HU))
    region = ndi.binary_closing(keep[labels], iterations=2, border_value=0)
    return ndi.binary_fill_holes(region)


def _smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    field = ndi.gaussian_filter(rng.standard_normal(shape), max(sigma, 0.5))
    return field / (field.std() + 1e-9)


def _blob(shape: tuple[int, int], centre: tuple[int, int], radius: float,
          rng: np.random.Generator) -> np.ndarray:
    """A lobulated lesion outline: a rotated ellipse with a noisy, low-frequency border."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    ry, rx = radius * rng.uniform(0.6, 1.0), radius * rng.uniform(0.8, 1.4)
    dy, dx = yy - centre[0], xx - centre[1]
    u = (dy * np.cos(angle) + dx * np.sin(angle)) / ry
    v = (-dy * np.sin(angle) + dx * np.cos(angle)) / rx
    return np.hypot(u, v) + 0.3 * _smooth_noise(shape, radius / 3, rng) < 1.0


def _bronchograms(lesion: np.ndarray, centre: tuple[int, int], radius: float,
                  rng: np.random.Generator) -> np.ndarray:
    """One to three branching air-filled tubes (1 px wide) running through the lesion."""
    out = np.zeros_like(lesion)
    for _ in range(int(rng.integers(1, 4))):
        y, x = float(centre[0]), float(centre[1])
        heading = rng.uniform(0, 2 * np.pi)
        for _step in range(int(2.5 * radius)):
            heading += rng.normal(0, 0.06)
            y, x = y + np.sin(heading), x + np.cos(heading)
            iy, ix = round(y), round(x)
            if not (0 <= iy < lesion.shape[0] and 0 <= ix < lesion.shape[1]):
                break
            out[iy, ix] = True
    return out & ndi.binary_erosion(lesion, iterations=1)


def paste_consolidation(image: np.ndarray, mask: np.ndarray,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One slice (network units, H×W) with one synthetic consolidation pasted into its lungs;
    the mask gains the lesion. Returns the inputs unchanged when the slice has too little lung."""
    hu = unit_to_hu(image)
    lungs = lung_region(hu)
    if lungs.sum() < MIN_LUNG_SHARE * lungs.size:
        return image, mask
    side = min(image.shape)
    radius = rng.uniform(0.03, 0.14) * side
    if rng.random() < 0.6:  # subpleural / paramediastinal: centred near the lung's border
        edge = lungs & ~ndi.binary_erosion(lungs, iterations=max(1, int(radius / 2)))
        candidates = np.argwhere(edge)
    else:
        candidates = np.argwhere(lungs)
    centre = tuple(int(c) for c in candidates[rng.integers(len(candidates))])
    lesion = _blob(image.shape, centre, radius, rng) & lungs
    if lesion.sum() < 9:
        return image, mask
    level = rng.uniform(-150.0, 60.0)
    solid = level + 25.0 * _smooth_noise(image.shape, 1.5, rng)
    if rng.random() < 0.7:
        solid[_bronchograms(lesion, centre, radius, rng)] = rng.uniform(-950.0, -750.0)
    labelled = lesion.copy()
    if rng.random() < 0.5:  # ground-glass halo around the solid core
        width = max(1, round(radius * rng.uniform(0.1, 0.35)))
        halo = ndi.binary_dilation(lesion, iterations=width) & lungs & ~lesion
        glass = rng.uniform(-550.0, -350.0)
        hu = np.where(halo, np.maximum(hu, glass + 40.0 * _smooth_noise(image.shape, 1.0, rng)),
                      hu)
        labelled |= halo
    alpha = ndi.gaussian_filter(lesion.astype(np.float32), 0.8) * lungs
    out = hu * (1 - alpha) + solid * alpha
    return hu_to_unit(out), (mask.astype(bool) | labelled).astype(mask.dtype)


def paste_batch(images: torch.Tensor, masks: torch.Tensor, probability: float,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a synthetic consolidation into each sample of a batch with ``probability``."""
    if probability <= 0:
        return images, masks
    draws = torch.rand(images.shape[0], generator=gen)
    seeds = torch.randint(0, 2**31 - 1, (images.shape[0],), generator=gen)
    images, masks = images.clone(), masks.clone()
    for i in range(images.shape[0]):
        if draws[i] >= probability:
            continue
        rng = np.random.default_rng(int(seeds[i]))
        img, msk = paste_consolidation(images[i, 0].numpy(), masks[i, 0].numpy(), rng)
        images[i, 0] = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
        masks[i, 0] = torch.from_numpy(np.ascontiguousarray(msk)).to(masks.dtype)
    return images, masks
