"""Lungs = aerated lung ∪ opacity: dense pathology added from outside evidence (the network).

The HU rules of :func:`~scoat_core.lung.segment_lungs` find the aerated lung and the lesions
cradled by it, but no HU rule tells a consolidation without an aerated rim from the heart or the
mediastinum it abuts: both are soft tissue. The opacity network reads texture and context (air
bronchograms, the lung's shape) and has seen the mediastinum in every training slice, so its
opacity is the evidence :func:`include_evidence` adds, bounded so that its false positives do
not become lung:

* only opacity **connected to a lung** (26-connectivity, through opacity voxels) is added: the
  network's false positives in the bowel, the liver or the chest wall are islands and stay out;
* only voxels below :data:`MAX_HU` (contrast-filled heart chambers and great vessels, bone);
* each added part takes the label of the lung it touches most.

Measured with ``tools/lung_rimless.py`` (phantom lesions against the heart and mediastinum) and
``tools/lung_evidence.py`` (RICORD and the demo timeline).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .morph import bbox
from .separate import LEFT, RIGHT

#: Opacity denser than this (HU) is never added: iodinated blood and bone, not lung. Consolidation
#: enhances to about +60 HU on contrast CT; blood pool in CT angiography is above +200 HU.
MAX_HU = 150.0
CUBE = np.ones((3, 3, 3), dtype=bool)


def include_evidence(labels: np.ndarray, hu: np.ndarray, evidence: np.ndarray) -> np.ndarray:
    """``labels`` (0, RIGHT, LEFT) with the ``evidence`` components that touch a lung added.

    ``hu`` and ``evidence`` (boolean: the network's opacity) share the labels' grid. Returns a
    new array; ``labels`` is untouched.
    """
    out = labels.copy()
    candidates = evidence & (labels == 0) & (hu < MAX_HU)
    box = bbox(candidates, 1)
    if box is None:
        return out
    cand, lab = candidates[box], labels[box]
    parts, n = ndimage.label(cand, CUBE)
    if n == 0:
        return out
    grown = ndimage.grey_dilation(parts, footprint=CUBE)  # each part's neighbourhood
    touching = (lab > 0) & (grown > 0)
    per_side = {k: np.bincount(grown[touching & (lab == k)], minlength=n + 1)
                for k in (RIGHT, LEFT)}
    side = np.where(per_side[RIGHT] >= per_side[LEFT], RIGHT, LEFT).astype(labels.dtype)
    side[(per_side[RIGHT] + per_side[LEFT]) == 0] = 0  # islands: not lung
    side[0] = 0
    region = out[box]
    add = side[parts]
    region[add > 0] = add[add > 0]
    return out
