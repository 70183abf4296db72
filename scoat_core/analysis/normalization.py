"""The one input normalisation of the networks, shared by training and inference.

The network sees a **lung window mapped linearly to [0, 1]**: ``HU_LOW`` → 0, ``HU_HIGH`` → 1,
values outside clipped. CT volumes in Hounsfield units go through :func:`hu_to_unit`.

The training slices of ``medseg100-train`` are 8-bit lung-window display images, i.e. some window
already mapped to 0–255. They are treated as *this* window mapped to 0–255, so
:func:`display8_to_unit` is ``value / 255`` and both paths give the network the same numbers for
the same tissue. The window was checked against real HU: ``tools/window_evidence.py`` compares
the grey-level histogram of the 50 medseg slices with the HU histogram of the RICORD chest CT
mapped through candidate windows. The best fit is [−1150, 200] HU (distance 18.1 grey levels,
against 21.5 for the often-quoted [−1250, 250]); see ``docs/window_evidence.json``. Training adds
intensity-window jitter (±150 HU on each end) so the model does not depend on one exact window.
"""

from __future__ import annotations

import numpy as np

#: Lung window of the network input, in HU (level −475, width 1350): the best fit of the
#: training images' grey levels to real HU (tools/window_evidence.py).
HU_LOW = -1150.0
HU_HIGH = 200.0


def hu_to_unit(hu: np.ndarray, low: float = HU_LOW, high: float = HU_HIGH) -> np.ndarray:
    """Map Hounsfield units to the network's [0, 1] input (float32, clipped)."""
    out = (np.asarray(hu, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def display8_to_unit(image: np.ndarray) -> np.ndarray:
    """Map an 8-bit lung-window display image (0–255) to the network's [0, 1] input."""
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)


def unit_to_hu(unit: np.ndarray, low: float = HU_LOW, high: float = HU_HIGH) -> np.ndarray:
    """Inverse of :func:`hu_to_unit` inside the window (for displaying training images in HU)."""
    return np.asarray(unit, dtype=np.float32) * np.float32(high - low) + np.float32(low)


def describe() -> dict[str, object]:
    """The normalisation as recorded in a model manifest."""
    return {
        "kind": "hu_window_to_unit",
        "hu_low": HU_LOW,
        "hu_high": HU_HIGH,
        "display8": "value / 255 (8-bit images are taken as this window mapped to 0-255)",
    }
