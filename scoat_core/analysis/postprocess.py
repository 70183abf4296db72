"""From probabilities to the opacity mask: bounded by the dilated lungs, small specks removed.

The opacity mask keeps what the network calls opacity (probability > ``THRESHOLD``) inside the
lung mask dilated by ``LUNG_DILATION_MM`` (an ellipsoid in mm, so it is the same on every grid),
without 26-connected components smaller than ``MIN_COMPONENT_MM3``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LUNG_DILATION_MM = 3.0
MIN_COMPONENT_MM3 = 20.0


def _dilation_radius(spacing) -> list[int]:
    """Voxel radius (z, y, x) of the ``LUNG_DILATION_MM`` ball."""
    return [max(0, round(LUNG_DILATION_MM / s)) for s in (spacing[2], spacing[1], spacing[0])]


def grown_box(lungs: np.ndarray, spacing) -> tuple[slice, slice, slice] | None:
    """Bounding box of the lungs grown by the dilation radius (clipped), None without lungs."""
    if not lungs.any():
        return None
    box = []
    for axis, r in enumerate(_dilation_radius(spacing)):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(lungs.any(axis=other))
        box.append(slice(max(0, idx[0] - r), min(lungs.shape[axis], idx[-1] + r + 1)))
    return box[0], box[1], box[2]


def dilate_lungs(lungs: np.ndarray, spacing) -> np.ndarray:
    """The lung mask dilated by an ellipsoid of radius ``LUNG_DILATION_MM``."""
    radius = _dilation_radius(spacing)
    if not any(radius):
        return lungs
    zz, yy, xx = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
    ball = ((zz / max(radius[0], 1)) ** 2 + (yy / max(radius[1], 1)) ** 2
            + (xx / max(radius[2], 1)) ** 2) <= 1
    return ndimage.binary_dilation(lungs, structure=ball)


def remove_small_components(mask: np.ndarray, spacing) -> np.ndarray:
    """uint8 mask without the 26-connected components smaller than ``MIN_COMPONENT_MM3``."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n:
        sizes = np.bincount(labels.ravel())[1:] * float(np.prod(spacing))
        small = np.flatnonzero(sizes < MIN_COMPONENT_MM3) + 1
        if small.size:
            mask = mask & ~np.isin(labels, small)
    return mask.astype(np.uint8)


def postprocess(mask: np.ndarray, lungs: np.ndarray, spacing) -> np.ndarray:
    """Keep opacity inside the slightly dilated lungs; drop components < MIN_COMPONENT_MM3."""
    return remove_small_components(mask.astype(bool) & dilate_lungs(lungs, spacing), spacing)
