"""Finishing a lesion fill: the thin parts between the fill and the structure the lesion abuts.

A closing with a ball of radius R leaves, between a lesion and a flat or gently curved structure
it abuts (the mediastinal pleura, the diaphragm), a lens up to ``c² / 2R`` thick for a contact
``2c`` wide. Three finishing steps recover most of it:

* :func:`below`: the diaphragm under a lesion is hidden by it; the dense voxels straight under
  the fill, a few millimetres down, are taken where a closing with a larger ball also adds them;
* :func:`thin_pockets`: in axial, coronal and sagittal slices, a thin pocket of the convex hull
  of lung plus fill that lies mostly against the fill is a lens against a flat wall;
* a small dilation of the fill (done by the caller).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .morph import bbox, convex_hull_2d

#: A pocket is thin when no pixel lies deeper than this (mm) inside it.
THIN_MM = 5.0
#: ... and it lies against the fill when at least this fraction of its lung-or-fill border is fill.
AGAINST_FILL = 0.5
#: Slice planes searched, as axis orders of the ``[S, P, L]`` array: axial, coronal, sagittal.
PLANES = ((0, 1, 2), (1, 0, 2), (2, 0, 1))


def below(mask: np.ndarray, sz: float, depth_mm: float) -> np.ndarray:
    """Voxels not in ``mask`` within ``depth_mm`` straight under a voxel of it (axis 0 = up)."""
    out = np.zeros_like(mask)
    dist = np.full(mask.shape[1:], np.inf)
    for z in range(mask.shape[0] - 1, -1, -1):
        dist = np.where(mask[z], 0.0, dist + sz)
        out[z] = (dist <= depth_mm) & ~mask[z]
    return out


def thin_pockets(
    lung: np.ndarray, fill: np.ndarray, usable: np.ndarray, spacing: tuple[float, float, float]
) -> np.ndarray:
    """Thin pockets against the fill (module docstring) in the three orthogonal slice planes."""
    out = np.zeros_like(fill)
    for perm in PLANES:
        back = tuple(int(i) for i in np.argsort(perm))
        pixel = (spacing[perm[1]], spacing[perm[2]])
        found = _plane_pockets(
            lung.transpose(perm), fill.transpose(perm), usable.transpose(perm), pixel
        )
        out |= found.transpose(back)
    return out & ~fill


def _plane_pockets(
    lung: np.ndarray, fill: np.ndarray, usable: np.ndarray, pixel: tuple[float, float]
) -> np.ndarray:
    """Thin pockets against the fill in the slices along axis 0."""
    out = np.zeros_like(fill)
    for i in np.flatnonzero(fill.any(axis=(1, 2))):
        solid = lung[i] | fill[i]
        box = bbox(solid, 2)
        if box is None:
            continue
        m = solid[box]
        pocket = convex_hull_2d(m) & ~m & usable[i][box]
        lab, n = ndimage.label(pocket)
        if n == 0:
            continue
        index = np.arange(1, n + 1)
        depth = ndimage.maximum(
            ndimage.distance_transform_edt(pocket, sampling=pixel), lab, index=index
        )
        grown = ndimage.grey_dilation(lab, size=(3, 3))
        border = grown * ~pocket
        n_fill = np.bincount(border[fill[i][box]], minlength=n + 1)[1:]
        n_lung = np.bincount(border[lung[i][box] & ~fill[i][box]], minlength=n + 1)[1:]
        good = (np.asarray(depth) <= THIN_MM) & (n_fill > 0)
        good &= n_fill >= AGAINST_FILL * (n_fill + n_lung)
        out[i][box] = np.concatenate([[False], good])[lab]
    return out
