"""The report's images as plain data: key images and interval change maps (RGB, no Qt).

:func:`slice_image` renders one slice in lung window with the opacity (amber, its part above
−200 HU magenta) or the change since the previous exam (new red, resolved green, persistent
amber) and the lung contour (cyan), cropped to the lungs of the whole exam plus a margin, so
every slice of an exam has the same field of view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from scoat_core import display
from scoat_core.analysis.quantify import HIGH_OPACITY_HU
from scoat_core.followup.comparison import CHANGE_LABELS
from scoat_core.volume import Volume

#: Margin (mm) kept around the lungs when key images are cropped.
CROP_MARGIN_MM = 12.0
#: Opacity of the change colours over the grey slice.
CHANGE_ALPHA = 0.55

PixelMM = tuple[float, float]


@dataclass
class KeyImage:
    """One key image (RGB uint8, lung window, overlays burnt in) and where it is."""

    rgb: np.ndarray | None
    """None when there is nothing to show at this level (:attr:`note` says why)."""
    pixel_mm: PixelMM = (1.0, 1.0)
    """(row height, column width) in mm."""
    letters: dict[str, str] = field(default_factory=dict)
    caption: str = ""
    """The slice, e.g. "Im 45 (slice 45/120)" (the DICOM InstanceNumber where there is one)."""
    plane: str = "axial"
    index: int | None = None
    baseline_index: int | None = None
    """The baseline slice this one matches; None for the exam's own key slice."""
    note: str = ""
    """'' at a matched level, else what the image is instead ("own key slice", ...)."""


@dataclass
class IntervalChange:
    """New / resolved / persistent opacity from one exam to the next, on the later exam's grid
    (the earlier opacity brought over through the registrations)."""

    first_label: str
    second_label: str
    first_date: date | None
    second_date: date | None
    new_ml: float | None = None
    resolved_ml: float | None = None
    persistent_ml: float | None = None
    images: list[KeyImage] = field(default_factory=list)
    """The later exam's axial images at its levels, the change colours burnt in."""
    coronal: KeyImage | None = None
    note: str = ""
    """How the exams were registered, or why there is no change map."""

    @property
    def days(self) -> int | None:
        if self.first_date and self.second_date:
            return (self.second_date - self.first_date).days
        return None

    @property
    def available(self) -> bool:
        """True when the change was computed (False: :attr:`note` says why not)."""
        return self.new_ml is not None


def _crop_box(mask: np.ndarray, pixel_mm: PixelMM, margin_mm: float) -> tuple[slice, slice]:
    """Rows and columns of the mask's bounding box plus a margin (the whole image if empty)."""
    if not mask.any():
        return slice(None), slice(None)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    mr, mc = (max(1, round(margin_mm / p)) for p in pixel_mm)
    return (slice(max(0, rows[0] - mr), min(mask.shape[0], rows[-1] + 1 + mr)),
            slice(max(0, cols[0] - mc), min(mask.shape[1], cols[-1] + 1 + mc)))


def _blend(rgb: np.ndarray, labels: np.ndarray, alpha: float = CHANGE_ALPHA) -> np.ndarray:
    """The change colours of ``labels`` (1 new, 2 resolved, 3 persistent) over ``rgb``."""
    out = rgb.astype(np.float32)
    for value, name in CHANGE_LABELS.items():
        where = labels == value
        out[where] = out[where] * (1 - alpha) + np.asarray(display.COLOURS[name]) * alpha
    return np.rint(out).astype(np.uint8)


def slice_image(ct: Volume, lung: np.ndarray, opacity: np.ndarray | None, plane: display.Plane,
                index: int, *, crop: bool = True, high_hu: float | None = HIGH_OPACITY_HU,
                change: np.ndarray | None = None) -> tuple[np.ndarray, PixelMM]:
    """RGB uint8 of slice ``index`` in lung window and its (row, column) pixel size in mm:
    the ``opacity`` (boolean) overlaid, or with ``change`` (labels on ``ct``'s grid) the change
    colours instead; cropped to the exam's lungs when ``crop``. Masks may be boolean or labels
    (non-zero counts)."""
    lung = np.asarray(lung)  # thresholded per slice below: no whole-volume pass per image
    width, level = display.PRESETS["lung"]
    hu = display.extract(ct.array, plane, index)
    lung2d = display.extract(lung, plane, index) > 0
    gray = display.window_to_uint8(hu, width, level)
    if change is not None:
        image = _blend(display.compose(gray), display.extract(change, plane, index))
        image = _contour(image, lung2d)
    else:
        opac2d = None if opacity is None else display.extract(np.asarray(opacity), plane,
                                                              index) > 0
        high = opac2d & (hu > high_hu) if high_hu is not None and opac2d is not None else None
        image = display.compose(gray, opacity=opac2d, high=high, lung=lung2d, mode="fill")
    pix = display.pixel_size_mm(ct.spacing, plane)
    if crop:
        # The lungs projected on the plane: both planes share the left-right extent.
        proj = lung.any(axis=0 if plane == "axial" else 1, keepdims=True)
        rows, cols = _crop_box(display.extract(proj, plane, 0), pix, CROP_MARGIN_MM)
        image = image[rows, cols]
    return np.ascontiguousarray(image), (float(pix[0]), float(pix[1]))


def _contour(rgb: np.ndarray, lung2d: np.ndarray) -> np.ndarray:
    """The lung contour drawn over ``rgb`` (in place) in the lung colour."""
    rgb[display.mask_edges(lung2d)] = display.COLOURS["lung"]
    return rgb
