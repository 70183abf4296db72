"""Lesions against the mediastinum, the heart, the diaphragm and the chest wall.

A consolidation that abuts a soft-tissue structure has the density of that structure, so the
air-based lung mask goes around it, and the pleural pockets of :mod:`.pleura` (which leave out
what faces the mediastinum or rests on the abdomen) miss it. Per lung, on the working grid:

1. *closing*: the voxels that a closing with a ball of :data:`CLOSE_MM` adds to the lung. A ball
   that size does not fit in a lesion's bite but does fit in the heart, the liver and the
   mediastinum, which are left out except where they curve more than the ball;
2. *filters*: of these, the lesion-like voxels (no fat, no bone, not the airway lumen) with
   aerated lung within :data:`VERTICAL_MM` straight above or below, not in a vertical run longer
   than :data:`MAX_RUN_MM` (the aorta, the other vertical tubes and the hilum that the lungs wrap
   around are tubes), in parts at least :data:`THICK_MM` thick (the curved organs' slivers are
   thinner), whose lung shell is at least :data:`HALO_FRACTION` ground glass: a lesion's halo.
   A concavity of the mediastinal contour next to normal lung is anatomy, not a lesion;
3. *chest wall*: near those lesions and near the dense parts of the lung mask, the same closing
   with the chest wall as a barrier (:mod:`.walls`), so that a lesion against the ribs or in the
   costophrenic recess is not reached by a ball from outside the chest;
4. *lens*: the thin layer that the ball leaves between a lesion and the structure it abuts
   (:mod:`.lens`); then the 3-D holes are filled.

Limits: a consolidation without any ground glass around it and away from the chest wall, one
filling a lung's whole cross-section, or one with no aerated lung above or below it stays partly
out; a lesion against the heart or the hilum can take a few millimetres of it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .airway import AIR_HU
from .lens import below, thin_pockets
from .morph import PLANE, bbox, closing_fill, fill_holes_3d
from .pleura import BONE_HU
from .separate import LEFT, RIGHT
from .walls import chest_wall_strips

#: Radius (mm) of the ball whose closing finds the lesions.
CLOSE_MM = 30.0
#: Radius (mm) of the larger ball that bounds the recovery of the lens around a lesion.
LENS_CLOSE_MM = 60.0
#: Aerated lung at most this far (mm) straight above or below a filled voxel.
VERTICAL_MM = 80.0
#: Filled voxels in a vertical run of filled voxels longer than this (mm) are a tube.
MAX_RUN_MM = 60.0
#: A filled part must hold a voxel this deep (mm) (lesion and dense lung mask counted together).
THICK_MM = 4.0
#: ... and only its voxels within this distance (mm) of such deep voxels are kept.
KEEP_NEAR_MM = 12.0
#: The lung shell of a filled part: from this to this distance (mm) (past the partial volume).
HALO_SHELL_MM = (1.5, 6.0)
#: Ground glass (HU) in that shell...
HALO_HU = (-750.0, -250.0)
#: ... must be at least this fraction of it.
HALO_FRACTION = 0.5
#: The chest-wall closing is used this close (mm) to a lesion or a thick dense part of the lung.
WALL_NEAR_MM = 15.0
#: Depth (mm) of the lens searched straight under a lesion.
BELOW_MM = 14.0
#: Final dilation (mm) of the fill within the larger ball's closing.
GROW_MM = 3.0
#: Fat (HU, smoothed): never a lesion (pericardial and mediastinal fat).
FAT_HU = (-150.0, -70.0)
#: Voxels of the lung mask denser than this (HU) are its dense parts (lesions, vessels).
SOLID_HU = -250.0


def include_abutting(
    labels: np.ndarray,
    hu: np.ndarray,
    inside: np.ndarray,
    blocked: np.ndarray,
    spacing: tuple[float, float, float],
    x_mid: float,
) -> np.ndarray:
    """Labels with the lesions abutting other structures added (see the module docstring).

    ``blocked`` is the central airway with its wall margin: its lumen (air) is never filled, its
    wall may be where a lesion abuts a bronchus.
    """
    usable = inside & ~(blocked & (hu < AIR_HU)) & lesion_like(hu)
    walls = chest_wall_strips(labels, inside, x_mid, spacing)
    out = labels.copy()
    margin = tuple(int(np.ceil((CLOSE_MM + BELOW_MM) / s)) + 2 for s in spacing)
    for k in (RIGHT, LEFT):
        box = bbox(labels == k, margin)
        if box is None:
            continue
        lab = labels[box]
        fill = lesion_fill(lab == k, hu[box], usable[box] & (lab == 0), walls[k][box], spacing)
        region = out[box]
        region[fill & (region == 0)] = k
    allowed = inside & ~blocked
    for k in (RIGHT, LEFT):
        holes = fill_holes_3d(out == k) & (out == 0) & allowed
        out[holes] = k
    return out


def lesion_like(hu: np.ndarray) -> np.ndarray:
    """Voxels that may be lesion: neither fat (a region of it, not a partial volume) nor bone."""
    smooth = ndimage.uniform_filter(hu.astype(np.float32), (1, 3, 3))
    fat = (smooth > FAT_HU[0]) & (smooth < FAT_HU[1])
    fat = ndimage.binary_opening(fat, np.ones((1, 3, 3), dtype=bool))
    return ~fat & (hu < BONE_HU)


def lesion_fill(
    lung: np.ndarray,
    hu: np.ndarray,
    usable: np.ndarray,
    wall: np.ndarray,
    spacing: tuple[float, float, float],
) -> np.ndarray:
    """The voxels of one lung's lesions outside its mask (steps 1 to 4, holes excepted)."""
    aerated = ndimage.binary_erosion(lung & (hu < AIR_HU), PLANE)
    solid = lung & (hu > SOLID_HU)
    fill = closing_fill(lung, CLOSE_MM, spacing, coarse_mm=0.0) & usable
    fill &= near_along_z(aerated, spacing[0], VERTICAL_MM)
    fill &= ~long_runs(fill, spacing[0])
    fill = with_halo(keep_thick(fill, solid, spacing), lung, hu, spacing)
    seeds = fill | keep_thick(solid, np.zeros_like(solid), spacing, near_mm=np.inf)
    near = within(seeds, WALL_NEAR_MM, spacing) & within(wall, WALL_NEAR_MM, spacing)
    if near.any():
        reach = WALL_NEAR_MM + CLOSE_MM
        closed = _closing_near(lung | wall, near, CLOSE_MM, reach, spacing, coarse_mm=0.0)
        fill |= closed & usable & ~wall & near
    if not fill.any():
        return fill
    wider = _closing_near(lung | fill, fill, LENS_CLOSE_MM, BELOW_MM, spacing) & usable
    fill |= below(fill | solid, spacing[0], BELOW_MM) & wider
    fill |= within(fill, GROW_MM, spacing) & wider
    fill |= thin_pockets(lung, fill, usable, spacing)
    return fill


def _closing_near(
    mask: np.ndarray,
    focus: np.ndarray,
    radius_mm: float,
    reach_mm: float,
    spacing: tuple[float, float, float],
    coarse_mm: float | None = None,
) -> np.ndarray:
    """:func:`closing_fill` computed only in the box of ``focus`` grown by ``reach_mm``.

    The mask beyond the box counts as background, so near the box's faces the result is a subset
    of the whole closing's (a ball may sit where the mask was cut off).
    """
    out = np.zeros_like(mask)
    box = bbox(focus, tuple(int(np.ceil(reach_mm / s)) + 1 for s in spacing))
    if box is not None:
        out[box] = closing_fill(mask[box], radius_mm, spacing, coarse_mm)
    return out


def near_along_z(mask: np.ndarray, sz: float, dist_mm: float) -> np.ndarray:
    """Voxels with a voxel of ``mask`` at most ``dist_mm`` straight above or below."""
    out = np.zeros_like(mask)
    n = mask.shape[0]
    for order in (range(n - 1, -1, -1), range(n)):
        dist = np.full(mask.shape[1:], np.inf)
        for z in order:
            dist += sz
            out[z] |= dist <= dist_mm
            dist[mask[z]] = 0.0
    return out


def long_runs(mask: np.ndarray, sz: float, max_mm: float = MAX_RUN_MM) -> np.ndarray:
    """Voxels of ``mask`` in a vertical run (consecutive along axis 0) longer than ``max_mm``."""
    n = mask.shape[0]
    up = np.zeros(mask.shape, dtype=np.int32)
    down = np.zeros(mask.shape, dtype=np.int32)
    for z in range(n):
        up[z] = np.where(mask[z], (up[z - 1] if z else 0) + 1, 0)
    for z in range(n - 1, -1, -1):
        down[z] = np.where(mask[z], (down[z + 1] if z < n - 1 else 0) + 1, 0)
    return mask & ((up + down - 1) * sz > max_mm)


def with_halo(
    fill: np.ndarray, lung: np.ndarray, hu: np.ndarray, spacing: tuple[float, float, float]
) -> np.ndarray:
    """The components of ``fill`` whose lung shell holds enough ground glass (module docstring).

    Each shell voxel (lung at :data:`HALO_SHELL_MM` from the fill) counts for the component of
    its nearest fill voxel.
    """
    lab, n = ndimage.label(fill)
    if n == 0:
        return fill
    box = bbox(fill, tuple(int(np.ceil(HALO_SHELL_MM[1] / s)) + 1 for s in spacing))
    dist, idx = ndimage.distance_transform_edt(~fill[box], sampling=spacing, return_indices=True)
    shell = lung[box] & (dist > HALO_SHELL_MM[0]) & (dist <= HALO_SHELL_MM[1])
    owner = lab[box][tuple(i[shell] for i in idx)]
    shell_hu = hu[box][shell]
    ggo = (shell_hu > HALO_HU[0]) & (shell_hu < HALO_HU[1])
    total = np.bincount(owner, minlength=n + 1)
    halo = np.bincount(owner, weights=ggo, minlength=n + 1)
    keep = halo >= HALO_FRACTION * np.maximum(total, 1)
    keep[0] = False
    return keep[lab]


def within(mask: np.ndarray, dist_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """Voxels within ``dist_mm`` of ``mask`` (distance computed in its grown bounding box)."""
    out = np.zeros_like(mask)
    box = bbox(mask, tuple(int(np.ceil(dist_mm / s)) + 1 for s in spacing))
    if box is not None:
        out[box] = ndimage.distance_transform_edt(~mask[box], sampling=spacing) <= dist_mm
    return out


def keep_thick(
    fill: np.ndarray,
    solid: np.ndarray,
    spacing: tuple[float, float, float],
    near_mm: float = KEEP_NEAR_MM,
) -> np.ndarray:
    """The voxels of ``fill`` near a deep voxel of its component of ``fill | solid``.

    A component of ``fill | solid`` is kept when it holds a voxel deeper than
    :data:`THICK_MM`, and of it the ``fill`` voxels within ``near_mm`` of such deep voxels.
    """
    both = fill | solid
    box = bbox(both, 1)
    if box is None:
        return np.zeros_like(fill)
    deep = np.zeros_like(fill)
    deep[box] = ndimage.distance_transform_edt(both[box], sampling=spacing) > THICK_MM
    lab, n = ndimage.label(both)
    keep = np.zeros(n + 1, dtype=bool)
    keep[np.unique(lab[deep])] = True
    keep[0] = False
    out = fill & keep[lab]
    if np.isfinite(near_mm):
        out &= within(deep, near_mm, spacing)
    return out
