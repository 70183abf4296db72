"""Measurements drawn on an axial slice: a ruler (mm) and an ellipse ROI (HU statistics, mm²).

Points are continuous voxel indices ``(x, y, z)`` = (column, row, slice) of the exam's
:class:`~scoat_core.volume.Volume`, pixel centres at integers. Lengths and areas always come
from the volume's geometry (spacing, direction), never from voxel counts alone.

An ellipse is the one inscribed in the axis-aligned box whose opposite corners are its two
points; a pixel belongs to it when its centre lies inside (or on) the ellipse. Each radius is at
least half a pixel, so a box one pixel wide still holds that pixel's column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scoat_core.volume import Volume

Kind = Literal["ruler", "ellipse"]
RULER: Kind = "ruler"
ELLIPSE: Kind = "ellipse"
KINDS: tuple[Kind, ...] = (RULER, ELLIPSE)

Point = tuple[float, float, float]


@dataclass(frozen=True)
class Measurement:
    """One ruler or ellipse on axial slice ``slice_index``; ``id`` and ``created`` (ISO time)
    are set once it is stored."""

    kind: Kind
    slice_index: int
    points: tuple[Point, Point]
    label: str = ""
    id: int | None = None
    created: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"measurement kind must be one of {KINDS}, got {self.kind!r}")
        points = tuple(tuple(float(v) for v in p) for p in self.points)
        if len(points) != 2 or any(len(p) != 3 for p in points):
            raise ValueError(f"a measurement needs two (x, y, z) points, got {self.points!r}")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "slice_index", int(self.slice_index))


@dataclass(frozen=True)
class RoiStats:
    """Values of the pixels of an ROI (sample SD; 0 for a single pixel)."""

    mean: float
    sd: float
    min: float
    max: float
    area_mm2: float
    n_pixels: int


def distance_mm(volume: Volume, a: Sequence[float], b: Sequence[float]) -> float:
    """Physical distance (mm) between voxel points ``a`` and ``b`` ``(x, y, z)``."""
    pa, pb = volume.index_to_lps(np.asarray(a, float)), volume.index_to_lps(np.asarray(b, float))
    return float(np.linalg.norm(pa - pb))


def pixel_area_mm2(volume: Volume) -> float:
    """Area (mm²) of one pixel of an axial slice: the area spanned by its column and row
    vectors (``spacing x × spacing y`` for an orthonormal direction)."""
    m = volume.direction @ np.diag(volume.spacing)
    return float(np.linalg.norm(np.cross(m[:, 0], m[:, 1])))


def ellipse_mask(shape_yx: tuple[int, int], a: Sequence[float], b: Sequence[float]
                 ) -> np.ndarray:
    """Boolean ``[rows, cols]`` mask of the ellipse inscribed in the box with corners ``a``
    and ``b`` (``(x, y, ...)`` voxel coordinates); pixels outside the slice are left out."""
    rows, cols = shape_yx
    cx, cy = (a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0
    rx, ry = max(abs(b[0] - a[0]) / 2.0, 0.5), max(abs(b[1] - a[1]) / 2.0, 0.5)
    mask = np.zeros((rows, cols), bool)
    x0, x1 = max(int(np.ceil(cx - rx)), 0), min(int(np.floor(cx + rx)), cols - 1)
    y0, y1 = max(int(np.ceil(cy - ry)), 0), min(int(np.floor(cy + ry)), rows - 1)
    if x0 > x1 or y0 > y1:
        return mask
    y, x = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    mask[y0:y1 + 1, x0:x1 + 1] = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0 + 1e-9
    return mask


def ellipse_stats(volume: Volume, slice_index: int, a: Sequence[float], b: Sequence[float]
                  ) -> RoiStats | None:
    """Mean, SD, min and max of the voxels of axial slice ``slice_index`` inside the ellipse
    of corners ``a`` and ``b``, and its area (pixel count × pixel area); None when no pixel
    centre of the slice is inside."""
    if not 0 <= slice_index < volume.shape[0]:
        return None
    image = volume.array[slice_index]
    mask = ellipse_mask(image.shape, a, b)
    values = image[mask].astype(np.float64)
    if not values.size:
        return None
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return RoiStats(float(values.mean()), sd, float(values.min()), float(values.max()),
                    values.size * pixel_area_mm2(volume), int(values.size))


def _num(value: float, fmt: str = ".0f") -> str:
    """A number with a typographic minus sign."""
    return format(value, fmt).replace("-", "−")


def ruler_text(mm: float) -> str:
    """``42.3 mm``."""
    return f"{_num(mm, '.1f')} mm"


def roi_text(stats: RoiStats | None, is_hu: bool = True) -> str:
    """``mean −812 HU, SD 45, 312 mm²`` and a second line ``min −950, max −603 HU``."""
    if stats is None:
        return "no pixel inside"
    unit = " HU" if is_hu else ""
    return (f"mean {_num(stats.mean)}{unit}, SD {_num(stats.sd)}, {_num(stats.area_mm2)} mm²\n"
            f"min {_num(stats.min)}, max {_num(stats.max)}{unit}")


def measurement_text(volume: Volume, m: Measurement) -> str:
    """What a measurement shows on the image: its value, after its label when it has one."""
    a, b = m.points
    if m.kind == RULER:
        text = ruler_text(distance_mm(volume, a, b))
    else:
        text = roi_text(ellipse_stats(volume, m.slice_index, a, b), volume.is_hu)
    return f"{m.label}: {text}" if m.label else text
