"""Body outline, air inside the body, and the central airways (trachea and bronchi).

The trachea is found in the upper slices as a round dark region near the body's midline. The
airway is then tracked slice by slice through the air mask (a strict lumen threshold does not
work on real scans: tracheal air often reads -930 HU while 5 % of aerated lung is darker than
-915 HU): an air region of the next slice continues the airway when it overlaps it and does not
suddenly grow, which is where a bronchus enters a lung.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .morph import fill_holes_2d, largest_component

#: Air/tissue threshold (HU): halfway between aerated lung (~-850) and soft tissue (~+40).
AIR_HU = -400.0
#: Darker than this in an axial slice: a trachea candidate.
SEED_HU = -900.0
#: Plausible area of the trachea section (mm²).
TRACHEA_AREA_MM2 = (30.0, 800.0)
#: From one slice to the next, an airway region may grow at most this much (else it is lung).
GROWTH = 2.5
#: Length of main bronchi tracked below the carina (mm).
BRONCHI_MM = 40.0
#: Largest distance (mm) of the trachea centre from the body's left-right centre.
TRACHEA_OFF_MIDLINE_MM = 30.0


def body_masks(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(inside, air)``: the body outline with its holes filled per slice, and the air in it.

    The body is the largest 3-D component of voxels denser than :data:`AIR_HU`, so the table,
    blankets and the air around the patient (with any out-of-field padding) stay outside.
    """
    tissue = hu > AIR_HU
    body = largest_component(close_cut_sides(tissue))
    inside = fill_holes_2d(body)
    return inside, inside & ~tissue


#: The top or bottom image edge is closed like the sides when tissue covers this share of it:
#: an image cropped to the body (the training slices of medseg100) cuts the lungs there too,
#: while a table or a blanket at those edges covers far less.
CUT_EDGE_SHARE = 0.3


def close_cut_sides(tissue: np.ndarray) -> np.ndarray:
    """Tissue with each slice's image edges closed between their outermost tissue pixels: where
    a small field of view (or a crop to the body) cuts the chest and a lung, the body outline is
    completed along the edge, so the cut lung stays a hole of the body instead of joining the
    air outside. The left and right edges are always closed, the top and bottom ones when
    tissue covers :data:`CUT_EDGE_SHARE` of them."""
    out = tissue.copy()
    for axis, share in ((2, 0.0), (1, CUT_EDGE_SHARE)):
        for index in (0, tissue.shape[axis] - 1):
            edge = np.take(tissue, index, axis=axis)  # (slices, length along the edge)
            span = _between_ends(edge) & (edge.mean(axis=1) >= share)[:, None]
            target = out[:, :, index] if axis == 2 else out[:, index, :]
            target |= span
    return out


def _between_ends(edge: np.ndarray) -> np.ndarray:
    """Per row of ``edge``: True from its first to its last True pixel."""
    pos = np.arange(edge.shape[1])[None, :]
    has = edge.any(axis=1)
    first = np.argmax(edge, axis=1)
    last = edge.shape[1] - 1 - np.argmax(edge[:, ::-1], axis=1)
    return has[:, None] & (pos >= first[:, None]) & (pos <= last[:, None])


def find_trachea(
    hu: np.ndarray, inside: np.ndarray, air: np.ndarray, spacing: tuple[float, float, float]
) -> tuple[int, np.ndarray] | None:
    """``(slice, 2-D mask)`` of the trachea in the upper part of the air, or None."""
    z_air = np.flatnonzero(air.any(axis=(1, 2)))
    if z_air.size == 0:
        return None
    top, bottom = int(z_air[-1]), int(z_air[0])
    last = top - int(0.5 * (top - bottom))
    _, sy, sx = spacing
    for z in range(top, last - 1, -1):
        found = _trachea_in_slice(hu[z] < SEED_HU, inside[z], (sy, sx))
        if found is not None:
            return z, found
    return None


def _trachea_in_slice(
    dark: np.ndarray, inside: np.ndarray, pixel: tuple[float, float]
) -> np.ndarray | None:
    """The largest compact dark region near the midline of one slice, or None."""
    lab, n = ndimage.label(dark & inside)
    if n == 0 or not inside.any():
        return None
    sy, sx = pixel
    x_mid = float(np.mean(np.nonzero(inside)[1]))
    best, best_area = None, 0.0
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        region = lab[sl] == k
        area = float(np.count_nonzero(region)) * sy * sx
        if not TRACHEA_AREA_MM2[0] <= area <= TRACHEA_AREA_MM2[1]:
            continue
        cx = sl[1].start + float(np.mean(np.nonzero(region)[1]))
        h, w = (sl[0].stop - sl[0].start) * sy, (sl[1].stop - sl[1].start) * sx
        compact = area / (h * w) > 0.45 and max(h, w) < 2.5 * min(h, w)
        if compact and abs(cx - x_mid) * sx <= TRACHEA_OFF_MIDLINE_MM and area > best_area:
            best, best_area = lab == k, area
    return best


def track_airways(
    air: np.ndarray,
    seed: tuple[int, np.ndarray],
    spacing: tuple[float, float, float],
) -> np.ndarray:
    """Trachea and main bronchi: the air regions linked slice to slice from the trachea seed.

    Going down (and up) from the seed slice, an air region of the next slice belongs to the
    airway when it overlaps the airway of the previous slice and is not much larger than it
    (a region that grows abruptly has merged with a lung). Tracking stops
    :data:`BRONCHI_MM` below the carina (the first slice where the airway splits in two).
    """
    z0, seed2d = seed
    out = np.zeros(air.shape, dtype=bool)
    out[z0] = _regions_touching(air[z0], seed2d, np.inf)
    pixel_mm2 = spacing[1] * spacing[2]
    max_area = TRACHEA_AREA_MM2[1] / pixel_mm2
    carina = None
    for z in range(z0 - 1, -1, -1):
        out[z] = _regions_touching(air[z], out[z + 1], max_area)
        if not out[z].any():
            break
        if carina is None and ndimage.label(out[z])[1] >= 2:
            carina = z
        if carina is not None and (carina - z) * spacing[0] >= BRONCHI_MM:
            break
    for z in range(z0 + 1, air.shape[0]):
        out[z] = _regions_touching(air[z], out[z - 1], max_area)
        if not out[z].any():
            break
    return out


def _regions_touching(air: np.ndarray, previous: np.ndarray, max_area: float) -> np.ndarray:
    """Air regions of a slice overlapping ``previous`` (grown by one pixel), without leaks."""
    lab, n = ndimage.label(air)
    if n == 0:
        return np.zeros_like(air)
    near = ndimage.binary_dilation(previous)
    ids = np.unique(lab[near & (lab > 0)])
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    limit = max(GROWTH * np.count_nonzero(previous), 4.0)
    ok = [k for k in ids if areas[k] <= min(limit, max_area)]
    return np.isin(lab, ok) if ok else np.zeros_like(air)
