"""Pathology-inclusive refinement of the air-based lung labels.

Dense lesions (consolidation, dense ground glass) are darker than the -400 HU air threshold, so
the air mask has holes and, where a lesion touches the chest wall, "bites". Per lung:

1. close with a ball of :data:`CLOSE_MM` (vessel margins, small subpleural defects). It was
   10 mm, which bridged the hilar notch and took the hilar vessels in (RICORD: 117 mL of the
   mask above −100 HU, 87 mL at 4 mm, lesion inclusion on the phantoms unchanged); dense lesion
   margins are the opacity network's to add (:mod:`scoat_core.lung.evidence`);
2. fill *pleural pockets*: in every axial slice, the parts of the lung's convex hull that are not
   lung. A pocket whose outer rim (pixels just outside the hull) mostly lies outside the convex
   hull of both lungs, or behind the front of the vertebral body (paravertebral gutters), faces
   the chest wall: it is a lesion against the pleura. A pocket facing the space between the
   lungs (heart, hilum, mediastinum, aorta) is left out. Where only one lung is present in a
   slice, its mirror image about the body midline stands in for the other lung. Regions that
   the lung encloses in a slice are pockets too. Of the pockets stacked in 3-D, only the voxels
   that rest on lung are filled (following the pockets straight down ends on lung): a lesion is
   cradled by lung, while the diaphragm domes (which make the same pockets in the basal
   slices), the heart, the aorta and the spine rest on the abdomen;
3. fill the 3-D holes (lesions and vessels surrounded by lung). Holes are filled in 3-D, not per
   slice: the diaphragm domes and the heart are enclosed by lung in some axial slices but open
   to the abdomen or mediastinum in 3-D.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .morph import bbox, close_ball, convex_hull_2d, fill_holes_3d
from .separate import LEFT, RIGHT
from .walls import mirror

CLOSE_MM = 4.0
#: A pocket is filled when at most this fraction of its outer rim faces the other lung.
MAX_MEDIAL_RIM = 0.5
#: Bone (HU) and half-width (mm) of the midline band searched for the vertebral body.
BONE_HU = 200.0
SPINE_HALF_WIDTH_MM = 12.0


def include_pathology(
    labels: np.ndarray,
    hu: np.ndarray,
    inside: np.ndarray,
    blocked: np.ndarray,
    spacing: tuple[float, float, float],
    x_mid: float,
) -> np.ndarray:
    """Labels with holes, lesion margins and pleural pockets filled (see the module docstring)."""
    out = np.zeros_like(labels)
    allowed = inside & ~blocked
    margin = tuple(int(np.ceil(CLOSE_MM / s)) + 1 for s in spacing)
    for k in (RIGHT, LEFT):
        sl = bbox(labels == k, margin)
        if sl is None:
            continue
        sub = fill_holes_3d(close_ball(labels[sl] == k, CLOSE_MM, spacing))
        other = (labels[sl] != 0) & (labels[sl] != k)
        region = out[sl]
        region[sub & allowed[sl] & ~other & (region == 0)] = k
    out = fill_pockets(out, hu, allowed, inside, x_mid, spacing[2])
    for k in (RIGHT, LEFT):
        holes = fill_holes_3d(out == k) & (out == 0) & allowed
        out[holes] = k
    return out


def fill_pockets(
    labels: np.ndarray,
    hu: np.ndarray,
    allowed: np.ndarray,
    inside: np.ndarray,
    x_mid: float,
    sx: float,
) -> np.ndarray:
    """Fill the pleural pockets of every axial slice that rest on lung (module docstring)."""
    pockets = np.zeros_like(labels)
    for z in np.flatnonzero(labels.any(axis=(1, 2))):
        spine = vertebra_front(hu[z] > BONE_HU, inside[z], x_mid, sx)
        pockets[z] = _slice_pockets(labels[z], allowed[z], spine, x_mid)
    out = labels.copy()
    for k in (RIGHT, LEFT):
        keep = _resting_on_lung(pockets == k, labels == k)
        out[keep & (out == 0)] = k
    return out


def vertebra_front(bone: np.ndarray, inside: np.ndarray, x_mid: float, sx: float) -> int:
    """Row of the front of the vertebral body: bone near the midline in the posterior half.

    Returns the number of rows (no pocket counts as paravertebral) when no vertebra is seen.
    """
    rows = np.flatnonzero(inside.any(axis=1))
    if rows.size == 0:
        return bone.shape[0]
    centre = (rows[0] + rows[-1]) // 2
    half = max(1, round(SPINE_HALF_WIDTH_MM / sx))
    lo, hi = max(0, int(x_mid) - half), int(x_mid) + half + 1
    hits = np.flatnonzero(bone[centre:, lo:hi].any(axis=1))
    return int(centre + hits[0]) if hits.size else bone.shape[0]


def _resting_on_lung(pockets: np.ndarray, lung: np.ndarray) -> np.ndarray:
    """The pocket voxels whose column, followed down through the pockets, ends on lung.

    A lesion against the chest wall is cradled by lung below it; the diaphragm domes, the
    heart, the great vessels and the spine, which can make the same pockets, rest on the
    abdomen. Below the first slice (a scan that cuts the lungs) counts as lung.
    """
    keep = np.zeros_like(pockets)
    support = np.ones(pockets.shape[1:], dtype=bool)
    for z in range(pockets.shape[0]):
        if z > 0:
            support = np.where(pockets[z - 1], support, lung[z - 1])
        keep[z] = pockets[z] & support
    return keep


def _slice_pockets(lab: np.ndarray, allowed: np.ndarray, spine: int, x_mid: float) -> np.ndarray:
    """One axial slice: the pleural pockets of each lung, labelled like the lung."""
    out = np.zeros_like(lab)
    rows = bbox(lab > 0, 2)
    if rows is None:
        return out
    ys = rows[0]
    lab, allowed, spine = lab[ys], allowed[ys], spine - ys.start
    masks = {RIGHT: lab == RIGHT, LEFT: lab == LEFT}
    present = {k: bool(m.any()) for k, m in masks.items()}
    for k, other in ((RIGHT, LEFT), (LEFT, RIGHT)):
        if not present[k]:
            masks[k] = mirror(masks[other], x_mid)
    between = convex_hull_2d(masks[RIGHT] | masks[LEFT])
    between[max(0, spine) :] = False  # behind the vertebral body's front: chest wall
    for k in (RIGHT, LEFT):
        if not present[k]:
            continue
        hull = convex_hull_2d(masks[k])
        pocket = hull & ~masks[k] & allowed & (lab == 0)
        out[ys][_pleural(pocket, hull, between) & (out[ys] == 0)] = k
    return out


def _pleural(pocket: np.ndarray, hull: np.ndarray, between: np.ndarray) -> np.ndarray:
    """The pockets that face the chest wall, or that lung encloses in this slice.

    A pocket's *rim* is the ring of pixels just outside the lung's hull next to it. It faces the
    chest wall when at most :data:`MAX_MEDIAL_RIM` of the rim lies ``between`` the lungs.
    """
    plab, n = ndimage.label(pocket)
    if n == 0:
        return pocket
    grown = ndimage.grey_dilation(plab, size=(3, 3))
    rim = ~hull & (grown > 0)
    n_rim = np.bincount(grown[rim], minlength=n + 1)
    n_medial = np.bincount(grown[rim & between], minlength=n + 1)
    keep = (n_rim == 0) | (n_medial <= MAX_MEDIAL_RIM * n_rim)  # no rim: enclosed by lung
    keep[0] = False
    return keep[plab]
