"""The chest wall next to each lung, used as a barrier by the closings of :mod:`.abutting`.

A lesion against the chest wall, or filling the costophrenic recess between the chest wall and
the diaphragm, is a bite into the lung that the chest wall closes: a ball rolled in the body
must not enter the bite from the chest-wall side. The chest wall of a slice is the body outside
the convex hull of both lungs of this slice *and of the slices up to* :data:`PROJECT_MM` *above*
(the thoracic cavity widens downward, and near the bases the lungs are thin crescents whose own
hull would leave the abdomen outside). Only a strip of :data:`STRIP_MM` along the hull of the
lung itself is kept, on its outer side (away from the midline): near the mediastinum the strip
would make pockets of the mediastinal fat and vessels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .morph import bbox, convex_hull_2d
from .separate import LEFT, RIGHT

#: Lungs of the slices up to this height above (mm) widen the cavity of a slice.
PROJECT_MM = 60.0
#: Width (mm) of the chest-wall strip kept along the hull of a lung.
STRIP_MM = 15.0
#: The strip is kept where the distance to the midline is at least this fraction of the
#: lung's own (in this slice): its lateral, anterior and posterior sides.
LATERAL_FRACTION = 0.6


def mirror(mask: np.ndarray, x_mid: float) -> np.ndarray:
    """Mirror image of a 2-D mask about the column ``x_mid``."""
    cols = np.arange(mask.shape[1])
    src = np.rint(2.0 * x_mid - cols).astype(int)
    ok = (src >= 0) & (src < mask.shape[1])
    out = np.zeros_like(mask)
    out[:, ok] = mask[:, src[ok]]
    return out


def chest_wall_strips(
    labels: np.ndarray,
    inside: np.ndarray,
    x_mid: float,
    spacing: tuple[float, float, float],
) -> dict[int, np.ndarray]:
    """Per lung label, the chest-wall strip next to it (see the module docstring)."""
    walls = {k: np.zeros(labels.shape, dtype=bool) for k in (RIGHT, LEFT)}
    n_up = round(PROJECT_MM / spacing[0])
    pixel = (spacing[1], spacing[2])
    off_mid = np.abs(np.arange(labels.shape[2]) - x_mid)
    for z in np.flatnonzero(labels.any(axis=(1, 2))):
        above = labels[z : z + n_up + 1]
        masks = {k: (above == k).any(axis=0) for k in (RIGHT, LEFT)}
        for k, other in ((RIGHT, LEFT), (LEFT, RIGHT)):
            if not masks[k].any():
                masks[k] = mirror(masks[other], x_mid)
        outside = inside[z] & ~convex_hull_2d(masks[RIGHT] | masks[LEFT])
        for k in (RIGHT, LEFT):
            here = labels[z] == k
            if not here.any():
                continue
            lateral = off_mid >= LATERAL_FRACTION * abs(np.mean(np.nonzero(here)[1]) - x_mid)
            walls[k][z] = outside & lateral[None, :] & _near(convex_hull_2d(masks[k]), pixel)
    return walls


def _near(mask: np.ndarray, pixel: tuple[float, float]) -> np.ndarray:
    """Pixels within :data:`STRIP_MM` of a 2-D mask (computed in its bounding box only)."""
    margin = tuple(int(np.ceil(STRIP_MM / p)) + 1 for p in pixel)
    box = bbox(mask, margin)
    out = np.zeros_like(mask)
    if box is None:
        return out
    out[box] = ndimage.distance_transform_edt(~mask[box], sampling=pixel) <= STRIP_MM
    return out
