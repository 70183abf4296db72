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

The pseudo-labelled ``covid-semiseg-pseudo`` slices come in **two display windows**, found the
same way (``tools/window_evidence.py``, ``docs/window_evidence.json``): the "coronacases" slices
are wide-windowed, best fit [−1050, 1650] HU (distance 10.2; mean grey 59, bone and soft tissue
visible), the Radiopaedia slices lung-windowed, best fit [−1250, 100] HU (18.8). An 8-bit image
shown through a window [L, H] is taken back to HU (``L + v / 255 · (H − L)``) and then through
the network's window (:func:`display8_to_unit` with ``window``), so all three sources give the
network the same numbers for the same tissue. The wide window keeps the soft tissue and bone
that the network's window clips at +200 HU, so those slices add no detail there, but they show
the network consolidation against the heart and chest wall. :func:`display_window_of` picks the
window from the file name (the sets' own naming).
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


#: Display windows (HU) of 8-bit training images whose name contains the key; every other 8-bit
#: image is taken as the network's own window (medseg100-train). Evidence: module docstring.
DISPLAY_WINDOWS: dict[str, tuple[float, float]] = {
    "coronacases": (-1050.0, 1650.0),
    "radiopaedia": (-1250.0, 100.0),
}


def display_window_of(name: str) -> tuple[float, float]:
    """The HU window an 8-bit training image named ``name`` was exported with."""
    lower = name.lower()
    for key, window in DISPLAY_WINDOWS.items():
        if key in lower:
            return window
    return HU_LOW, HU_HIGH


def display8_to_unit(image: np.ndarray,
                     window: tuple[float, float] | None = None) -> np.ndarray:
    """Map an 8-bit display image (0–255) of ``window`` (HU; default: the network's own lung
    window, where this is ``value / 255``) to the network's [0, 1] input."""
    unit = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    if window is None or (window[0] == HU_LOW and window[1] == HU_HIGH):
        return unit
    low, high = window
    return hu_to_unit(unit * np.float32(high - low) + np.float32(low))


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
        "display_windows": {k: list(v) for k, v in DISPLAY_WINDOWS.items()},
    }
