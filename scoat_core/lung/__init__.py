"""Classical lung segmentation of chest CT (right and left lung, pathology included).

:func:`segment_lungs` returns a :class:`LungResult` whose ``labels`` hold 0 background,
1 the RIGHT lung and 2 the LEFT lung (patient sides, from the LPS geometry). The algorithm:

1. canonical orientation ``[S, P, L]`` and block means to about 1.6 × 1.6 × 2.5 mm;
2. body = largest component denser than -400 HU, holes filled per slice; air inside it;
3. trachea found as a round dark region near the midline in the upper slices and tracked slice
   by slice down to 4 cm below the carina (:mod:`scoat_core.lung.airway`); removed with a
   2.5 mm wall margin, so the lungs are no longer joined through it;
4. the air is closed by 3 mm (diseased lung is a mesh of air pockets); on each side of the body
   midline the largest component is a lung (a component spanning both sides holds both lungs
   and is split by erosion, else at the midline); right = the patient's right;
5. pathology inclusion: a 4 mm ball closing, filling of the pleural pockets of each slice's
   convex hull that rest on lung, 3-D hole filling (see :mod:`scoat_core.lung.pleura`);
6. lesions abutting the mediastinum, the heart, the diaphragm or the chest wall: a 30 mm ball
   closing of each lung kept where it looks like a lesion (lesion-like HU, aerated lung above or
   below, not a vertical tube, thick, with a ground-glass halo), the same closing against the
   chest wall near lesions, then the thin lens between lesion and structure
   (see :mod:`scoat_core.lung.abutting`);
7. back to the full grid: interior blocks kept, border blocks re-thresholded voxel by voxel
   (ground glass kept).

The analysis (:func:`scoat_core.analysis.pipeline.analyze`) then adds the opacity network's
findings that touch a lung (:func:`add_evidence`, :mod:`scoat_core.lung.evidence`): lungs =
aerated lung ∪ opacity.

Known limits: a consolidation without an aerated or ground-glass rim that abuts the mediastinum
or the heart is inside only where the network calls it opacity (``tools/lung_rimless.py``: a
smooth rimless phantom blob 2-15 %); a lesion against the heart or the hilum can take a few
millimetres of it, and a hilum's large vessels are partly included.

:func:`lung_bounding_box` and :func:`lung_slices` help to crop to the lungs.
"""

from __future__ import annotations

import numpy as np

from ..volume import Volume
from .errors import LungSegmentationError, NotHounsfieldError
from .segment import LungResult, add_evidence, segment_lungs

__all__ = [
    "LungResult",
    "LungSegmentationError",
    "NotHounsfieldError",
    "add_evidence",
    "lung_bounding_box",
    "lung_slices",
    "segment_lungs",
]


def lung_slices(labels: Volume | np.ndarray) -> np.ndarray:
    """Boolean per array slice (axis 0): does it contain lung?"""
    array = labels.array if isinstance(labels, Volume) else np.asarray(labels)
    return array.reshape(array.shape[0], -1).any(axis=1)


def lung_bounding_box(labels: Volume, margin_mm: float = 10.0) -> tuple[slice, slice, slice] | None:
    """Array slices ``(z, y, x)`` of the lungs' bounding box grown by ``margin_mm``, or None."""
    array = labels.array
    if not array.any():
        return None
    sx, sy, sz = labels.spacing
    out = []
    for axis, s in enumerate((sz, sy, sx)):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(array.any(axis=other))
        m = int(np.ceil(margin_mm / s))
        out.append(slice(max(0, int(idx[0]) - m), min(array.shape[axis], int(idx[-1]) + 1 + m)))
    return out[0], out[1], out[2]
