"""How much of a phantom's true lesions an opacity mask found, per lesion kind."""

from __future__ import annotations

import numpy as np

from .spec import LESION_LABELS


def lesion_recall(lesion_labels: np.ndarray, opacity: np.ndarray) -> dict[str, float | None]:
    """Fraction of each kind's true voxels (``"ggo"``, ``"consolidation"``) inside ``opacity``;
    None for a kind the phantom does not have."""
    found = opacity > 0
    out: dict[str, float | None] = {}
    for kind, label in LESION_LABELS.items():
        true = lesion_labels == label
        n = int(np.count_nonzero(true))
        out[kind] = float(np.count_nonzero(found & true)) / n if n else None
    return out
