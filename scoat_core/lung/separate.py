"""Pick the lungs among the air components and label them right (1) / left (2).

Works on the canonical ``[S, P, L]`` grid: a smaller column is more to the patient's right.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .morph import bbox, component_sizes

RIGHT, LEFT = 1, 2
#: A side's largest component is a lung when at least this fraction of the largest one...
SIDE_MIN_FRACTION = 0.05
#: ... and more components join it when at least this fraction of it.
EXTRA_PIECE_FRACTION = 0.25
#: Components considered (largest first).
MAX_PIECES = 12
#: A joined mask splits when two parts of at least this fraction of it separate.
SPLIT_FRACTION = 0.06
#: A joined mask is split by erosion up to this depth (mm) before falling back to the midline.
MAX_SPLIT_DEPTH_MM = 20.0
#: Smallest air component (mL) that can be a lung.
MIN_LUNG_ML = 5.0


def pick_lungs(
    air: np.ndarray, x_mid: float, spacing: tuple[float, float, float]
) -> tuple[np.ndarray, list[str]] | None:
    """Right (1) / left (2) labels of the lung components of ``air``; None when there is none.

    A largest component with much volume on both sides of the midline holds both lungs and is
    split. Otherwise each side takes its largest component (when at least
    :data:`SIDE_MIN_FRACTION` of the largest overall) plus the components of at least
    :data:`EXTRA_PIECE_FRACTION` of that one (a diseased lung may fall apart in a few pieces).
    """
    lab, sizes = component_sizes(air)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    order = np.argsort(sizes)[::-1][:MAX_PIECES]
    largest = int(order[0])
    if sizes[largest] * voxel_ml < MIN_LUNG_ML:
        return None
    if crosses_midline(lab == largest, x_mid, spacing):
        return split_joined(lab == largest, x_mid, spacing)
    cols = np.broadcast_to(np.arange(air.shape[2], dtype=np.float64), air.shape)
    sum_x = np.bincount(lab.ravel(), weights=cols.ravel(), minlength=sizes.size)
    labels = np.zeros(air.shape, dtype=np.uint8)
    main: dict[int, int] = {}
    for cid in (int(c) for c in order):
        if sizes[cid] < SIDE_MIN_FRACTION * sizes[largest]:
            break
        side = RIGHT if sum_x[cid] / sizes[cid] < x_mid else LEFT
        if side not in main or sizes[cid] >= EXTRA_PIECE_FRACTION * main[side]:
            main.setdefault(side, int(sizes[cid]))
            labels[lab == cid] = side
    warnings = []
    if len(main) == 1:
        name = "right" if RIGHT in main else "left"
        warnings.append(f"only one lung found (the {name} lung)")
    return labels, warnings


def split_joined(
    mask: np.ndarray, x_mid: float, spacing: tuple[float, float, float]
) -> tuple[np.ndarray, list[str]]:
    """Labels of a mask holding both lungs: erode until two parts separate, else split at x_mid."""
    depth = ndimage.distance_transform_edt(mask, sampling=spacing)
    total = np.count_nonzero(mask)
    step = min(spacing[1:])
    for t in np.arange(step, MAX_SPLIT_DEPTH_MM + step, step):
        lab, sizes = component_sizes(depth > t)
        big = np.flatnonzero(sizes >= SPLIT_FRACTION * total)
        if big.size >= 2:
            a, b = (lab == k for k in big[np.argsort(sizes[big])[::-1][:2]])
            if np.mean(np.nonzero(a)[2]) > np.mean(np.nonzero(b)[2]):
                a, b = b, a  # a: smaller column, the patient's right
            seeds = np.where(a, RIGHT, 0) + np.where(b, LEFT, 0)
            return _grow_seeds(mask, seeds.astype(np.uint8), spacing), []
        if big.size == 0:
            break
    cols = np.arange(mask.shape[2])[None, None, :]
    labels = np.where(mask, np.where(cols < x_mid, RIGHT, LEFT), 0).astype(np.uint8)
    return labels, ["lungs could not be separated; split at the midline"]


def _grow_seeds(
    mask: np.ndarray, seeds: np.ndarray, spacing: tuple[float, float, float]
) -> np.ndarray:
    """Give every mask voxel the label of its nearest seed voxel (within the mask's box)."""
    box = bbox(mask)
    out = np.zeros(mask.shape, dtype=np.uint8)
    if box is None:
        return out
    sub = seeds[box]
    _, idx = ndimage.distance_transform_edt(sub == 0, sampling=spacing, return_indices=True)
    out[box] = np.where(mask[box], sub[tuple(idx)], 0)
    return out


def crosses_midline(mask: np.ndarray, x_mid: float, spacing: tuple[float, float, float]) -> bool:
    """True when a single component has much volume on both sides of x_mid (two joined lungs)."""
    cols = np.nonzero(mask)[2]
    n_right = np.count_nonzero(cols < x_mid - 10.0 / spacing[2])
    n_left = np.count_nonzero(cols > x_mid + 10.0 / spacing[2])
    return min(n_right, n_left) > 2 * SPLIT_FRACTION * cols.size


def midline(inside: np.ndarray) -> float:
    """Column of the body's left-right centre (mean over the body voxels)."""
    cols = np.nonzero(inside.any(axis=(0, 1)))[0]
    if cols.size == 0:
        return inside.shape[2] / 2.0
    weights = inside.sum(axis=(0, 1))
    return float(np.sum(np.arange(inside.shape[2]) * weights) / max(1, weights.sum()))
