"""`segment_lungs`: right and left lung masks of a chest CT, pathology included."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..progress import Cancelled
from ..volume import Volume
from .abutting import include_abutting
from .airway import AIR_HU, body_masks, find_trachea, track_airways
from .errors import LungSegmentationError, NotHounsfieldError
from .evidence import include_evidence
from .grid import (
    Orientation,
    block_mean,
    factors_for,
    source_of,
    upsample,
)
from .morph import FACES, bbox, close_small, component_sizes, dilate_mm
from .pleura import include_pathology
from .separate import LEFT, RIGHT, midline, pick_lungs

#: Airway lumen grown by this margin (mm) is never lung (the bronchial wall).
AIRWAY_MARGIN_MM = 2.5
#: A boundary block of the working grid denser than this (HU) was filled as pathology: kept whole.
DENSE_HU = -250.0
#: A border voxel whose 3 × 3 in-plane mean is darker than this (HU) is lung (ground glass).
GGO_KEEP_HU = -300.0
#: Smoothed voxels darker than this (HU) are aerated lung (the rim next to them is not GGO).
AERATED_HU = -700.0
#: The air mask is closed by this radius (mm) first: diseased lung is a mesh of air pockets.
PRE_CLOSE_MM = 3.0
#: A part of a lung label not connected to the rest and smaller than this (mL) is debris
#: (partial-volume crumbs of the chest wall left by the border refinement) and is dropped,
#: unless it touches the first or last slice, where the scan may cut a real lung part off.
DEBRIS_ML = 5.0
#: Plausible total volume (mL) of two fully scanned adult lungs.
PLAUSIBLE_ML = (1500.0, 9000.0)
#: Start of the warnings that the lung volume is implausible (recomputed when the mask changes).
IMPLAUSIBLE_VOLUME = "lung volume "
#: The warnings of a scan that cuts the lungs (``LungResult.complete`` False), one per way.
SINGLE_SLICE = "single slice: the volumes are those of this slice only"
BEYOND_RANGE = "the lungs extend beyond the scanned range: volumes cover the scanned part only"
FOV_CUT = "the field of view cuts the lungs: volumes cover the part inside the image only"
CUT_WARNINGS = (SINGLE_SLICE, BEYOND_RANGE, FOV_CUT)

CUBE = np.ones((3, 3, 3), dtype=bool)


@dataclass
class LungResult:
    """Lung labels on the CT grid (0 background, 1 right lung, 2 left lung) and their volumes."""

    labels: Volume
    right_ml: float
    left_ml: float
    total_ml: float
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    """False when the scan cuts the lungs (or is one slice): volumes are of the scanned part."""


class _Steps:
    """Reports progress and honours cancellation between the steps."""

    def __init__(self, progress: Callable[[float], None] | None, cancel: Callable[[], bool] | None):
        self.progress, self.cancel = progress, cancel

    def __call__(self, fraction: float) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("lung segmentation cancelled")
        if self.progress is not None:
            self.progress(float(fraction))


def segment_lungs(
    volume: Volume,
    *,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> LungResult:
    """Segment the right (1) and left (2) lungs of a chest CT in HU.

    Runs on a working grid of about 1.6 × 1.6 × 2.5 mm (block means), then refines the lung
    border on the full grid. Raises :class:`LungSegmentationError` (a ``UserError``) when the
    volume is not in HU or holds no lungs; soft problems go to ``LungResult.warnings``.
    """
    _check_volume(volume)
    steps = _Steps(progress, cancel)
    steps(0.0)
    orient = Orientation.of(volume)
    hu_full = orient.forward(volume.array)
    f = factors_for(orient.spacing)
    hu = block_mean(hu_full, f)
    spacing = tuple(s * k for s, k in zip(orient.spacing, f, strict=True))
    steps(0.1)
    inside, air = body_masks(hu)
    _check_body(inside, air, source_of(volume))
    x_mid = midline(inside)
    steps(0.25)
    blocked = _airway_block(hu, inside, air, spacing)
    steps(0.4)
    candidates = close_small(air & ~blocked, PRE_CLOSE_MM, spacing) & inside & ~blocked
    picked = pick_lungs(candidates, x_mid, spacing)
    if picked is None:
        raise LungSegmentationError(f"no lungs found in {source_of(volume)}")
    labels, warnings = picked
    steps(0.5)
    labels = include_pathology(labels, hu, inside, blocked, spacing, x_mid)
    steps(0.65)
    labels = include_abutting(labels, hu, inside, blocked, spacing, x_mid)
    steps(0.8)
    full = _full_resolution(labels, hu, hu_full, f, blocked)
    steps(0.9)
    drop_debris(full, volume.voxel_volume_ml)
    steps(0.95)
    out = volume.derive(np.ascontiguousarray(orient.backward(full)))
    result = _result(out, warnings, _complete(full, warnings))
    steps(1.0)
    return result


def add_evidence(result: LungResult, volume: Volume, evidence: np.ndarray) -> LungResult:
    """``result`` with the opacity ``evidence`` (boolean, the CT's grid) that touches a lung
    added to it (:func:`scoat_core.lung.evidence.include_evidence`); volumes recomputed."""
    labels = include_evidence(result.labels.array, volume.array, evidence)
    warnings = [w for w in result.warnings if not w.startswith(IMPLAUSIBLE_VOLUME)]
    return _result(result.labels.derive(labels), warnings, result.complete)


def _check_volume(volume: Volume) -> None:
    if not volume.is_hu:
        raise NotHounsfieldError(
            f"{source_of(volume)} is not in Hounsfield units (e.g. 8-bit display data): "
            "lung segmentation needs a CT in HU"
        )
    if volume.array.size == 0 or not np.issubdtype(volume.array.dtype, np.number):
        raise LungSegmentationError(f"{source_of(volume)} holds no image data")


def _check_body(inside: np.ndarray, air: np.ndarray, source: str) -> None:
    if not inside.any():
        raise LungSegmentationError(
            f"no lungs found in {source}: no body (nothing denser than {AIR_HU:.0f} HU)"
        )
    if not air.any():
        raise LungSegmentationError(f"no lungs found in {source}: no air inside the body")


def _airway_block(
    hu: np.ndarray, inside: np.ndarray, air: np.ndarray, spacing: tuple[float, float, float]
) -> np.ndarray:
    """Trachea and main bronchi plus a wall margin; empty when no trachea is found."""
    seed = find_trachea(hu, inside, air, spacing)
    if seed is None:
        return np.zeros(hu.shape, dtype=bool)
    tree = track_airways(air, seed, spacing)
    return dilate_mm(tree, AIRWAY_MARGIN_MM, spacing) if tree.any() else tree


def _full_resolution(
    labels: np.ndarray,
    hu: np.ndarray,
    hu_full: np.ndarray,
    f: tuple[int, int, int],
    blocked: np.ndarray,
) -> np.ndarray:
    """Labels on the full grid: block interiors kept, border blocks re-thresholded per voxel.

    Border blocks denser than :data:`DENSE_HU` (filled lesions) are kept whole; the others, and
    the air blocks just outside the lung, take the full-grid voxels darker than ``AIR_HU`` or,
    smoothed, than :data:`GGO_KEEP_HU` (ground glass at the pleura, noisy around ``AIR_HU``).
    """
    if f == (1, 1, 1):
        return labels
    code = np.zeros_like(labels)
    for k in (RIGHT, LEFT):
        m = labels == k
        keep = ndimage.binary_erosion(m, FACES, border_value=1) | (m & (hu > DENSE_HU))
        ring = ndimage.binary_dilation(m, FACES) & ~keep & ~blocked & np.isin(labels, (0, k))
        code[keep] = k
        code[ring & (code == 0)] = k + 2
    full = np.zeros(hu_full.shape, dtype=np.uint8)
    box = bbox(code > 0)
    if box is None:
        return full
    fbox = tuple(
        slice(b.start * k, min(n, b.stop * k))
        for b, k, n in zip(box, f, hu_full.shape, strict=True)
    )
    up = upsample(code[box], f, tuple(s.stop - s.start for s in fbox))
    dark = _lung_voxels(hu_full[fbox])
    full[fbox] = np.where(up <= 2, up, np.where(dark, up - 2, 0))
    return full


def drop_debris(labels: np.ndarray, voxel_ml: float) -> None:
    """Clear, in place, the lung parts smaller than :data:`DEBRIS_ML` that are not connected
    (26-neighbourhood) to the rest of their lung and do not touch the scan's end slices."""
    box = bbox(labels > 0)
    if box is None or labels.shape[0] < 3:
        return
    sub = labels[box]
    full_z = (box[0].start == 0, box[0].stop == labels.shape[0])
    for k in (RIGHT, LEFT):
        parts, sizes = component_sizes(sub == k, CUBE)
        if sizes.size <= 2:
            continue
        keep = sizes * voxel_ml >= DEBRIS_ML
        keep[int(np.argmax(sizes))] = True
        for end, at in zip(full_z, (0, -1), strict=True):
            if end:
                keep[np.unique(parts[at])] = True
        keep[0] = False
        sub[(parts > 0) & ~keep[parts]] = 0


def _lung_voxels(hu: np.ndarray) -> np.ndarray:
    """Full-grid voxels of a border block that belong to the lung (aerated or ground glass).

    A voxel within two voxels of aerated lung is on the partial-volume rim of a lung-tissue
    boundary: there only ``AIR_HU`` counts.
    """
    smooth = ndimage.uniform_filter(hu.astype(np.float32), (1, 3, 3))
    rim = ndimage.maximum_filter(smooth < AERATED_HU, size=(3, 5, 5))
    return (hu < AIR_HU) | ((smooth < GGO_KEEP_HU) & ~rim)


def _complete(full: np.ndarray, warnings: list[str]) -> bool:
    """Whether the lungs lie wholly in the scan; adds a warning when they do not."""
    if full.shape[0] == 1:
        warnings.append(SINGLE_SLICE)
        return False
    if full[0].any() or full[-1].any():
        warnings.append(BEYOND_RANGE)
        return False
    if full[:, :, 0].any() or full[:, :, -1].any() or full[:, 0].any() or full[:, -1].any():
        warnings.append(FOV_CUT)
        return False
    return True


def _result(labels: Volume, warnings: list[str], complete: bool) -> LungResult:
    vml = labels.voxel_volume_ml
    right = float(np.count_nonzero(labels.array == RIGHT)) * vml
    left = float(np.count_nonzero(labels.array == LEFT)) * vml
    total = right + left
    if complete and total < PLAUSIBLE_ML[0]:
        warnings.append(f"{IMPLAUSIBLE_VOLUME}{total:.0f} mL is implausibly small")
    if complete and total > PLAUSIBLE_ML[1]:
        warnings.append(f"{IMPLAUSIBLE_VOLUME}{total:.0f} mL is implausibly large")
    return LungResult(labels, right, left, total, warnings, complete)
