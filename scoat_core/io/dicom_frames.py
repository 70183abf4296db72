"""The slices of a DICOM series as the reader sees them before any pixel is decoded.

:class:`Frame` is the geometry and rescale of one slice (a file, or one frame of an Enhanced CT
multi-frame file, whose values come from its functional groups), :class:`Loaded` a file's
data set with its frames, and :func:`frames_of` builds them from a header. The small helpers
shared by the ``dicom_*`` modules are here too: numbers from header values (:func:`float_or`),
an exception as one line of text (:func:`one_line`) and a path relative to the series folder
for messages (:func:`rel`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from scoat_core.io.errors import GeometryError
from scoat_core.io.scan import functional_group_value


# --------------------------------------------------------------------------- data
@dataclass
class Frame:
    """Geometry and rescale of one slice (a file, or one frame of a multi-frame file)."""

    file: str
    index: int
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    """DICOM order: (row spacing, column spacing)."""
    slope: float
    intercept: float
    rows: int
    columns: int
    spacing_keyword: str = "PixelSpacing"
    """Where ``pixel_spacing`` came from: PixelSpacing (or its enhanced macro) or
    ImagerPixelSpacing (a stand-in measured at the detector)."""


@dataclass
class Loaded:
    """One file of the series: its data set (pixels still encoded) and its frames."""

    path: str
    ds: Dataset
    frames: list[Frame]


# ------------------------------------------------------------------------ helpers
def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else text or type(exc).__name__


def _floats(value: object, n: int) -> np.ndarray | None:
    try:
        out = np.array([float(v) for v in value], dtype=float)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return out if out.size == n and np.all(np.isfinite(out)) else None


def float_or(value: object, default: float) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def rel(path: str, where: str) -> str:
    """``path`` relative to the series folder ``where`` (for messages that name both)."""
    if not where or where == path:
        return path
    relative = os.path.relpath(path, where)
    return path if relative.startswith("..") else relative


# ------------------------------------------------------------------------ frames
def frames_of(path: str, ds: Dataset) -> list[Frame]:
    """Per-slice geometry of a classic image or of every frame of an enhanced image."""
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    n = max(int(float_or(ds.get("NumberOfFrames"), 1.0)), 1)
    enhanced = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    if n > 1 and not enhanced:
        raise GeometryError(path, f"{n} frames without per-frame positions: not a CT volume")

    def get(sequence: str, keyword: str, i: int) -> object:
        value = ds.get(keyword)
        if enhanced and (value is None or value == ""):
            value = functional_group_value(ds, sequence, keyword, i)
        return value

    frames = []
    for i in range(n):
        spacing = _floats(get("PixelMeasuresSequence", "PixelSpacing", i), 2)
        keyword = "PixelSpacing"
        if spacing is None and "ImagerPixelSpacing" in ds:
            spacing, keyword = _floats(ds.get("ImagerPixelSpacing"), 2), "ImagerPixelSpacing"
        orientation = get("PlaneOrientationSequence", "ImageOrientationPatient", i)
        rescale = "PixelValueTransformationSequence"
        frames.append(
            Frame(
                file=path,
                index=i,
                position=_floats(get("PlanePositionSequence", "ImagePositionPatient", i), 3),
                orientation=_floats(orientation, 6),
                pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
                slope=float_or(get(rescale, "RescaleSlope", i), 1.0),
                intercept=float_or(get(rescale, "RescaleIntercept", i), 0.0),
                rows=rows,
                columns=cols,
                spacing_keyword=keyword,
            )
        )
    return frames
