"""The geometry of a DICOM series: orientation, positions, slice spacing, coverage and tilt.

Geometry follows DICOM and SimpleITK's ``ImageSeriesReader``:

* slices are sorted by the projection of ImagePositionPatient on the slice normal
  (row direction × column direction), never by file name or InstanceNumber;
* ``direction`` columns are the row direction (ImageOrientationPatient[0:3], along which the
  column index grows), the column direction (IOP[3:6]) and the normal; ``origin`` is the
  position of the first slice after sorting;
* ``spacing`` is (PixelSpacing[1], PixelSpacing[0], median step between slice positions along
  the normal: the lower median, so one of the real steps). SliceThickness is only used for a
  single-slice series.

Problems that still give a usable volume become ``Volume.warnings``: gaps, non-uniform steps
(the median step is used, nothing is resampled), gantry tilt (the volume keeps the slice normal
as its z axis and is *not* resampled, so tilted slices are sheared in-plane by the reported
amount) and single-slice series. Slices at one position (within :data:`DUPLICATE_TOL_MM`) are
listed in :attr:`Geometry.duplicates` for :mod:`scoat_core.io.dicom_acquisitions` to resolve.
Impossible geometry (mixed orientations or image sizes, non-positive or missing pixel spacing)
raises :class:`GeometryError`.

Trust rule (issue 14: never a plausible wrong number): **geometry that does not make a volume**
gives a warning starting with :data:`~scoat_core.volume.NOT_VOLUMETRIC`
(``Volume.volumetry_problems``; ``analyze()`` then marks the exam partial): slices too far apart
for their thickness or for volumetry, or whose gaps (holes left by unreadable files count) or
varying steps miss their span, by the rule volume files share
(:func:`scoat_core.io.volumetry.coverage_problems`). A pixel size taken from ImagerPixelSpacing
(no PixelSpacing) is flagged the same way; no pixel size at all is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from scoat_core.io.dicom_frames import Frame, float_or
from scoat_core.io.errors import GeometryError
from scoat_core.io.scan import functional_group_value
from scoat_core.io.volumetry import coverage_problems
from scoat_core.volume import NOT_VOLUMETRIC

#: Same orientation when the direction cosines differ by less than this.
ORIENTATION_TOL = 1e-3
#: Slices closer than this (mm along the normal) are duplicates.
DUPLICATE_TOL_MM = 1e-3
#: A step longer than this times the median step is a gap.
GAP_FACTOR = 1.5
#: Tilt (degrees between the slice normal and the slice-to-slice direction) worth a warning.
TILT_TOL_DEG = 0.5
#: Start of the warning given to a single-slice series (the scan gives the same words).
ONE_SLICE = "series has one slice"


@dataclass
class Geometry:
    """Validated geometry of a series: frames sorted along the normal, duplicates removed."""

    frames: list[Frame]
    positions: np.ndarray
    """(n, 3) LPS positions of the sorted frames."""
    row: np.ndarray
    col: np.ndarray
    normal: np.ndarray
    pixel_spacing: tuple[float, float]
    """(row spacing, column spacing) in mm, DICOM order."""
    duplicates: list[list[Frame]]
    """Frames that share a position, one list per position (the kept frame first)."""


def _fmt(v: np.ndarray) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"


def _check_sizes(frames: list[Frame], where: str, label: str) -> None:
    first = frames[0]
    for f in frames:
        if (f.rows, f.columns) != (first.rows, first.columns):
            raise GeometryError(
                where,
                f"{label} has slices of different sizes: {first.rows}×{first.columns} in "
                f"{first.file}, {f.rows}×{f.columns} in {f.file}",
            )


def _pixel_spacing(
    frames: list[Frame], where: str, label: str, warns: list[str]
) -> tuple[float, float]:
    """The common (row, column) pixel spacing; positive and equal in every slice.

    A slice without one is refused (volumes would rest on a guessed pixel size); one taken from
    ImagerPixelSpacing gives a :data:`NOT_VOLUMETRIC` warning.
    """
    missing = next((f for f in frames if f.pixel_spacing is None), None)
    if missing is not None:
        raise GeometryError(
            missing.file,
            "no PixelSpacing (nor a PixelMeasuresSequence or ImagerPixelSpacing): the pixel "
            "size is unknown, so no volume can be measured",
        )
    spacings = [f.pixel_spacing for f in frames if f.pixel_spacing is not None]
    first = spacings[0]
    stand_in = next((f for f in frames if f.spacing_keyword != "PixelSpacing"), None)
    if stand_in is not None:
        warns.append(
            f"{NOT_VOLUMETRIC}no PixelSpacing; pixel size taken from {stand_in.spacing_keyword}"
            f" ({first[0]:g} × {first[1]:g} mm), which is measured at the detector, not in the "
            "patient"
        )
    for f, s in zip(frames, spacings, strict=True):
        if min(s) <= 0:
            raise GeometryError(f.file, f"pixel spacing {s[0]:g} × {s[1]:g} mm is not positive")
        if not np.allclose(s, first, rtol=1e-3, atol=1e-4):
            raise GeometryError(
                where,
                f"{label} has slices with different pixel spacing: {first} mm in {frames[0].file}, "
                f"{s} mm in {f.file}",
            )
    return first


def _orientation(frames: list[Frame], where: str, label: str, warns: list[str]) -> np.ndarray:
    """The common ImageOrientationPatient (identity for a lone slice without one)."""
    if any(f.orientation is None for f in frames):
        if len(frames) > 1:
            bad = next(f for f in frames if f.orientation is None)
            raise GeometryError(bad.file, "no ImageOrientationPatient: slices cannot be ordered")
        warns.append("no ImageOrientationPatient: identity orientation assumed")
        return np.array([1.0, 0, 0, 0, 1, 0])
    first = frames[0].orientation
    assert first is not None
    if (
        min(np.linalg.norm(first[:3]), np.linalg.norm(first[3:])) < 0.5
        or np.linalg.norm(np.cross(first[:3], first[3:])) < 0.5
    ):
        raise GeometryError(frames[0].file, f"invalid ImageOrientationPatient {_fmt(first)}")
    for f in frames:
        assert f.orientation is not None
        if np.max(np.abs(f.orientation - first)) > ORIENTATION_TOL:
            raise GeometryError(
                where,
                f"{label} mixes slice orientations: {_fmt(first)} in {frames[0].file}, "
                f"{_fmt(f.orientation)} in {f.file}",
            )
    return first


def _positions(frames: list[Frame], warns: list[str]) -> np.ndarray:
    if any(f.position is None for f in frames):
        if len(frames) > 1:
            bad = next(f for f in frames if f.position is None)
            raise GeometryError(bad.file, "no ImagePositionPatient: slices cannot be ordered")
        warns.append("no ImagePositionPatient: origin (0, 0, 0) assumed")
        return np.zeros((1, 3))
    return np.array([f.position for f in frames], dtype=float)


def geometry(frames: list[Frame], where: str, label: str, warns: list[str]) -> Geometry:
    """Validate the frames, sort them along the normal and keep one frame per position (the
    others are listed in ``duplicates``, for the caller to compare)."""
    _check_sizes(frames, where, label)
    spacing = _pixel_spacing(frames, where, label, warns)
    o = _orientation(frames, where, label, warns)
    positions = _positions(frames, warns)
    row, col = o[:3] / np.linalg.norm(o[:3]), o[3:] / np.linalg.norm(o[3:])
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    dist = positions @ normal
    order = np.argsort(dist, kind="stable")
    groups = [[int(order[0])]]
    for i in order[1:]:
        if dist[i] - dist[groups[-1][0]] > DUPLICATE_TOL_MM:
            groups.append([int(i)])
        else:
            groups[-1].append(int(i))
    kept = [group[0] for group in groups]
    duplicates = [[frames[i] for i in group] for group in groups if len(group) > 1]
    return Geometry(
        [frames[i] for i in kept], positions[kept], row, col, normal, spacing, duplicates
    )


def slice_spacing(g: Geometry, ds: Dataset, warns: list[str]) -> float:
    """Lower-median step along the normal; for one slice, SpacingBetweenSlices or SliceThickness."""
    if len(g.frames) == 1:
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = ds.get(keyword)
            if value is None:
                value = functional_group_value(ds, "PixelMeasuresSequence", keyword)
            step = float_or(value, 0.0)
            if step > 0:
                warns.append(f"{ONE_SLICE}; slice spacing taken from {keyword} ({step:g} mm)")
                return step
        warns.append(f"{ONE_SLICE}; no SliceThickness/SpacingBetweenSlices: 1 mm used")
        return 1.0
    dist = g.positions @ g.normal
    steps = np.diff(dist)
    median = float(np.percentile(steps, 50, method="lower"))  # a real step, even for 2
    for i in np.flatnonzero(steps > GAP_FACTOR * median):
        warns.append(
            f"gap of {steps[i]:.2f} mm between slices at z={dist[i]:.2f} and z={dist[i + 1]:.2f}"
            f" mm along the slice normal (slices {i} and {i + 1}; median step {median:.3g} mm)"
        )
    if float(steps.max() - steps.min()) > max(0.01, 0.01 * median):
        warns.append(
            f"non-uniform slice spacing: steps from {steps.min():.3f} to {steps.max():.3f} mm; "
            f"the median {median:.3f} mm is used (slices not resampled)"
        )
    warns.extend(coverage_problems(steps, median, _slice_thickness(ds)))
    return median


def _slice_thickness(ds: Dataset) -> float | None:
    """The nominal SliceThickness (mm) of the series, None when absent or not positive."""
    value = ds.get("SliceThickness")
    if value is None or value == "":
        value = functional_group_value(ds, "PixelMeasuresSequence", "SliceThickness")
    thickness = float_or(value, 0.0)
    return thickness if thickness > 0 else None


def tilt_warning(g: Geometry, ds: Dataset) -> str | None:
    """Warn when slice positions step off the normal (gantry tilt) or the header says so."""
    header_tilt = float_or(ds.get("GantryDetectorTilt"), 0.0)
    offsets = g.positions - g.positions[0]
    along = offsets @ g.normal
    shear = float(np.linalg.norm(offsets - np.outer(along, g.normal), axis=1).max())
    span = float(np.linalg.norm(offsets[-1]))
    angle = float(np.degrees(np.arccos(min(1.0, abs(along[-1]) / span)))) if span > 0 else 0.0
    if angle > TILT_TOL_DEG:
        return (
            f"gantry tilt of {angle:.1f}° (GantryDetectorTilt {header_tilt:g}°): the volume "
            f"keeps the slice normal as its z axis and is not resampled, so slices are shifted "
            f"in-plane by up to {shear:.1f} mm"
        )
    if abs(header_tilt) >= 0.01:
        return (
            f"GantryDetectorTilt is {header_tilt:g}°; geometry taken from the slice orientation "
            "and positions as they are"
        )
    return None
