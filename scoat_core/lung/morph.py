"""Binary morphology helpers on ``[z, y, x]`` masks with anisotropic voxels (mm)."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from scipy import ndimage

#: In-slice 4-connectivity as a 3-D structure: each axial slice is processed on its own.
PLANE = np.zeros((3, 3, 3), dtype=bool)
PLANE[1] = ndimage.generate_binary_structure(2, 1)
#: 3-D 6-connectivity.
FACES = ndimage.generate_binary_structure(3, 1)
#: Block size (mm) of the large-ball closings of :func:`closing_fill`.
COARSE_MM = 2.5


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of every axial slice (background not connected to the slice border)."""
    return _fill_background_off_side_faces(mask, PLANE)


def _fill_background_off_side_faces(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Set the background components that touch none of the four side faces."""
    lab, n = ndimage.label(~mask, structure=structure)
    if n == 0:
        return mask.copy()
    keep = np.ones(n + 1, dtype=bool)
    for face in (lab[:, 0, :], lab[:, -1, :], lab[:, :, 0], lab[:, :, -1]):
        keep[np.unique(face)] = False
    keep[0] = True
    return keep[lab]


def fill_holes_3d(mask: np.ndarray) -> np.ndarray:
    """Fill the 3-D holes of ``mask``: background 6-connected to no side face of the array.

    The first and last slices are not faces: a structure enclosed in the end slice of a scan
    that cuts the lungs (or in a single slice) is a hole.
    """
    return _fill_background_off_side_faces(mask, FACES)


def component_sizes(
    mask: np.ndarray, structure: np.ndarray = FACES
) -> tuple[np.ndarray, np.ndarray]:
    """Connected-component labels and the voxel count of each label (index 0 = background)."""
    lab, n = ndimage.label(mask, structure=structure)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    sizes[0] = 0
    return lab, sizes


def largest_component(mask: np.ndarray, structure: np.ndarray = FACES) -> np.ndarray:
    """The largest connected component (empty mask when there is none)."""
    lab, sizes = component_sizes(mask, structure)
    if sizes.max(initial=0) == 0:
        return np.zeros_like(mask, dtype=bool)
    return lab == int(np.argmax(sizes))


def distance_mm(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Euclidean distance (mm) of every voxel to the nearest voxel of ``mask``."""
    if not mask.any():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    return ndimage.distance_transform_edt(~mask, sampling=spacing).astype(np.float32)


def close_ball(
    mask: np.ndarray, radius_mm: float, spacing: tuple[float, float, float]
) -> np.ndarray:
    """Morphological closing with a ball of ``radius_mm`` (exact, via distance transforms).

    The first and last slices are repeated outward, so a mask cut by the scanned range (or a
    single slice) is closed like a structure that continues beyond it.
    """
    if not mask.any():
        return mask.copy()
    pads = _closing_pads(mask, [int(np.ceil(radius_mm / s)) + 1 for s in spacing])
    p = np.pad(mask, [pads[0], (0, 0), (0, 0)], mode="edge")
    p = np.pad(p, [(0, 0), pads[1], pads[2]])
    dilated = ndimage.distance_transform_edt(~p, sampling=spacing) <= radius_mm
    closed = ndimage.distance_transform_edt(dilated, sampling=spacing) > radius_mm
    core = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, mask.shape, strict=True))
    return closed[core] | mask


def _closing_pads(mask: np.ndarray, need: list[int]) -> list[tuple[int, int]]:
    """Padding per axis so that the mask lies ``need`` voxels from the array's faces.

    An end slice holding mask is repeated ``need`` times (see :func:`close_ball`).
    """
    box = bbox(mask)
    assert box is not None
    pads = []
    for axis, (b, k, n) in enumerate(zip(box, need, mask.shape, strict=True)):
        lo, hi = max(0, k - b.start), max(0, k - (n - b.stop))
        if axis == 0:
            lo = k if b.start == 0 else lo
            hi = k if b.stop == n else hi
        pads.append((lo, hi))
    return pads


def ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """Ellipsoidal structuring element of ``radius_mm`` on a grid of ``spacing``."""
    r = [int(radius_mm // s) for s in spacing]
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    return (zz * spacing[0]) ** 2 + (yy * spacing[1]) ** 2 + (xx * spacing[2]) ** 2 <= radius_mm**2


def close_small(
    mask: np.ndarray, radius_mm: float, spacing: tuple[float, float, float]
) -> np.ndarray:
    """Closing with a small ball (a few voxels): direct morphology, end slices repeated."""
    st = ball(radius_mm, spacing)
    rz, ry, rx = (n // 2 for n in st.shape)
    p = np.pad(mask, [(rz, rz), (0, 0), (0, 0)], mode="edge")
    p = np.pad(p, [(0, 0), (ry, ry), (rx, rx)])
    p = ndimage.binary_erosion(ndimage.binary_dilation(p, st), st, border_value=1)
    return p[rz : rz + mask.shape[0], ry : ry + mask.shape[1], rx : rx + mask.shape[2]] | mask


def dilate_mm(
    mask: np.ndarray, radius_mm: float, spacing: tuple[float, float, float]
) -> np.ndarray:
    """Dilation by a ball of ``radius_mm`` (computed in the mask's grown bounding box)."""
    out = np.zeros(mask.shape, dtype=bool)
    box = bbox(mask, tuple(int(np.ceil(radius_mm / s)) + 1 for s in spacing))
    if box is not None:
        out[box] = distance_mm(mask[box], spacing) <= radius_mm
    return out


def bbox(mask: np.ndarray, margin: tuple[int, ...] | int = 0) -> tuple[slice, ...] | None:
    """Index slices of the bounding box of ``mask`` grown by ``margin`` voxels, or None."""
    if not mask.any():
        return None
    margins = (margin,) * mask.ndim if isinstance(margin, int) else margin
    out = []
    for axis, m in enumerate(margins):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        out.append(slice(max(0, int(idx[0]) - m), min(mask.shape[axis], int(idx[-1]) + 1 + m)))
    return tuple(out)


def convex_hull_2d(mask: np.ndarray) -> np.ndarray:
    """Convex hull of the pixel centres of a 2-D mask (the mask itself when degenerate)."""
    from skimage.morphology import convex_hull_image

    if np.count_nonzero(mask) < 3:
        return mask.copy()
    box = bbox(mask)
    out = mask.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate (collinear) masks: qhull complains
        with contextlib.suppress(Exception):
            out[box] |= convex_hull_image(mask[box], offset_coordinates=False)
    return out


def closing_fill(
    mask: np.ndarray,
    radius_mm: float,
    spacing: tuple[float, float, float],
    coarse_mm: float | None = None,
) -> np.ndarray:
    """Voxels that a closing with a ball of ``radius_mm`` adds to ``mask`` (``mask`` excluded).

    For speed the closing can run on blocks of about ``coarse_mm`` (default :data:`COARSE_MM`;
    0 for none); a block is in the mask when at least half of it is, and the added blocks come
    back at full resolution less ``mask``: exact up to one block along the closing surface.
    """
    block = COARSE_MM if coarse_mm is None else coarse_mm
    f = tuple(max(1, round(block / s)) for s in spacing)
    if f == (1, 1, 1):
        return close_ball(mask, radius_mm, spacing) & ~mask
    shape = tuple(-(-n // k) for n, k in zip(mask.shape, f, strict=True))
    padded = np.zeros(tuple(n * k for n, k in zip(shape, f, strict=True)), dtype=np.float32)
    padded[: mask.shape[0], : mask.shape[1], : mask.shape[2]] = mask
    frac = padded.reshape(shape[0], f[0], shape[1], f[1], shape[2], f[2]).mean(axis=(1, 3, 5))
    coarse = frac >= 0.5
    coarse_spacing = tuple(s * k for s, k in zip(spacing, f, strict=True))
    added = close_ball(coarse, radius_mm, coarse_spacing) & ~coarse
    idx = [np.arange(n) // k for n, k in zip(mask.shape, f, strict=True)]
    return added[np.ix_(*idx)] & ~mask
