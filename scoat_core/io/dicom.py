"""Read a DICOM CT series (or an Enhanced CT multi-frame file) into a :class:`Volume`.

Geometry follows DICOM and SimpleITK's ``ImageSeriesReader``:

* slices are sorted by the projection of ImagePositionPatient on the slice normal
  (row direction × column direction), never by file name or InstanceNumber;
* ``direction`` columns are the row direction (ImageOrientationPatient[0:3], along which the
  column index grows), the column direction (IOP[3:6]) and the normal; ``origin`` is the
  position of the first slice after sorting;
* ``spacing`` is (PixelSpacing[1], PixelSpacing[0], median step between slice positions along
  the normal: the lower median, so one of the real steps). SliceThickness is only used for a
  single-slice series.

Problems that still give a usable volume become ``Volume.warnings``: duplicate positions (one
kept), gaps, non-uniform steps (the median step is used, nothing is resampled), gantry tilt (the
volume keeps the slice normal as its z axis and is *not* resampled, so tilted slices are sheared
in-plane by the reported amount) and single-slice series. Impossible geometry (mixed
orientations or image sizes, non-positive pixel spacing) raises :class:`GeometryError`.

Pixels are decoded by pydicom (``ds.pixel_array``) and rescaled to HU with RescaleSlope and
RescaleIntercept (per slice, or per frame from the functional groups of enhanced images). The
array is int16 when the rescaled values are integers that fit, float32 otherwise. Decoding is
serial: the pylibjpeg decoders hold the GIL, so a thread pool measured no faster.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from scoat_core.io.errors import (
    DecodeError,
    EmptyFolderError,
    GeometryError,
    NotDicomError,
    NotFoundError,
    NoUsableSeriesError,
    PermissionDeniedError,
    ScoatIOError,
    TruncatedFileError,
    UnsupportedFormatError,
    UnsupportedModalityError,
)
from scoat_core.io.scan import (
    CT_SOP_CLASSES,
    ScanResult,
    SeriesRecord,
    exam_info_from_dataset,
    exclusion_reason,
    functional_group_value,
    looks_like_dicom,
    read_header,
    scan_path,
    series_preference_key,
    series_record,
)
from scoat_core.progress import Cancelled
from scoat_core.volume import Volume

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]

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

# Packages that decode each compressed transfer syntax (pydicom delegates to plugins).
_LIBJPEG = "pylibjpeg-libjpeg (with pylibjpeg)"
_OPENJPEG = "pylibjpeg-openjpeg (with pylibjpeg)"
_JPEG = ("JPEG", f"pillow, {_LIBJPEG} or python-gdcm")
_JPEG_LOSSLESS = ("JPEG Lossless", f"{_LIBJPEG} or python-gdcm")
_JPEG_LS = ("JPEG-LS", f"{_LIBJPEG}, pyjpegls or python-gdcm")
_J2K = ("JPEG 2000", f"{_OPENJPEG} or python-gdcm")
_HTJ2K = ("HTJ2K", _OPENJPEG)
_DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": _JPEG,
    "1.2.840.10008.1.2.4.51": _JPEG,
    "1.2.840.10008.1.2.4.57": _JPEG_LOSSLESS,
    "1.2.840.10008.1.2.4.70": _JPEG_LOSSLESS,
    "1.2.840.10008.1.2.4.80": _JPEG_LS,
    "1.2.840.10008.1.2.4.81": _JPEG_LS,
    "1.2.840.10008.1.2.4.90": _J2K,
    "1.2.840.10008.1.2.4.91": _J2K,
    "1.2.840.10008.1.2.4.201": _HTJ2K,
    "1.2.840.10008.1.2.4.202": _HTJ2K,
    "1.2.840.10008.1.2.4.203": _HTJ2K,
    "1.2.840.10008.1.2.5": ("RLE", "pylibjpeg-rle (with pylibjpeg) or numpy"),
}


# --------------------------------------------------------------------------- data
@dataclass
class _Frame:
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


@dataclass
class _Loaded:
    path: str
    ds: Dataset
    frames: list[_Frame]


# ------------------------------------------------------------------------ helpers
def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else text or type(exc).__name__


def _floats(value: object, n: int) -> np.ndarray | None:
    try:
        out = np.array([float(v) for v in value], dtype=float)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return out if out.size == n and np.all(np.isfinite(out)) else None


def _float_or(value: object, default: float) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def _check_cancel(cancel: Cancel | None, what: str) -> None:
    if cancel is not None and cancel():
        raise Cancelled(f"reading {what} cancelled")


def open_dataset(path: str | Path) -> Dataset:
    """Read a whole DICOM file (pixel data still encoded); typed errors naming the file."""
    path = str(path)
    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
            if not looks_like_dicom(head):
                raise NotDicomError(path, "not a DICOM file (no 'DICM' marker at byte 128)")
            fp.seek(0)
            ds = pydicom.dcmread(fp, force=True)
    except FileNotFoundError as exc:
        raise NotFoundError(path, "no such file") from exc
    except PermissionError as exc:
        raise PermissionDeniedError(path, "permission denied") from exc
    except ScoatIOError:
        raise
    except EOFError as exc:
        raise TruncatedFileError(path, "truncated: the file ends inside its header") from exc
    except (InvalidDicomError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotDicomError(path, f"not a readable DICOM file ({_one_line(exc)})") from exc
    except OSError as exc:
        raise PermissionDeniedError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if "SOPClassUID" not in ds and "Modality" not in ds:
        if read_header(path) is None:  # raises the precise problem: truncated, not DICOM...
            raise UnsupportedFormatError(path, "a DICOMDIR index, not an image")
        raise TruncatedFileError(path, "truncated or corrupt: the data set ends early")
    if "TransferSyntaxUID" not in ds.file_meta:  # preamble-less file: record what was found
        implicit, little = getattr(ds, "original_encoding", (True, True))
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        )
    return ds


def _transfer_syntax(ds: Dataset) -> UID:
    return UID(str(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian))


def _check_image(path: str, ds: Dataset, allow_non_ct: bool) -> None:
    """Raise unless the dataset is a grayscale image (a CT image unless ``allow_non_ct``)."""
    reason = exclusion_reason(
        str(ds.get("SOPClassUID", "")), str(ds.get("Modality", "")), ds.get("SamplesPerPixel")
    )
    if "PixelData" not in ds:
        if "Rows" in ds or str(ds.get("SOPClassUID", "")) in CT_SOP_CLASSES:
            raise TruncatedFileError(path, "truncated: the file ends before or inside its pixels")
        raise UnsupportedModalityError(path, reason or "no pixel data: not an image")
    if reason and not allow_non_ct:
        raise UnsupportedModalityError(path, reason)
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise UnsupportedFormatError(path, "colour image: only grayscale slices can be read")


# ------------------------------------------------------------------------ frames
def _frames_of(path: str, ds: Dataset) -> list[_Frame]:
    """Per-slice geometry of a classic image or of every frame of an enhanced image."""
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    n = max(int(_float_or(ds.get("NumberOfFrames"), 1.0)), 1)
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
        orientation = get("PlaneOrientationSequence", "ImageOrientationPatient", i)
        rescale = "PixelValueTransformationSequence"
        frames.append(
            _Frame(
                file=path,
                index=i,
                position=_floats(get("PlanePositionSequence", "ImagePositionPatient", i), 3),
                orientation=_floats(orientation, 6),
                pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
                slope=_float_or(get(rescale, "RescaleSlope", i), 1.0),
                intercept=_float_or(get(rescale, "RescaleIntercept", i), 0.0),
                rows=rows,
                columns=cols,
            )
        )
    return frames


@dataclass
class _Geometry:
    """Validated geometry of a series: frames sorted along the normal, duplicates removed."""

    frames: list[_Frame]
    positions: np.ndarray
    """(n, 3) LPS positions of the sorted frames."""
    row: np.ndarray
    col: np.ndarray
    normal: np.ndarray
    pixel_spacing: tuple[float, float]
    """(row spacing, column spacing) in mm, DICOM order."""


def _fmt(v: np.ndarray) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"


def _check_sizes(frames: list[_Frame], where: str, label: str) -> None:
    first = frames[0]
    for f in frames:
        if (f.rows, f.columns) != (first.rows, first.columns):
            raise GeometryError(
                where,
                f"{label} has slices of different sizes: {first.rows}×{first.columns} in "
                f"{first.file}, {f.rows}×{f.columns} in {f.file}",
            )


def _pixel_spacing(
    frames: list[_Frame], where: str, label: str, warns: list[str]
) -> tuple[float, float]:
    """The common (row, column) pixel spacing; positive and equal in every slice."""
    spacings = [f.pixel_spacing for f in frames]
    if any(s is None for s in spacings):
        warns.append("no PixelSpacing: 1 mm pixels assumed")
    first = spacings[0] or (1.0, 1.0)
    for f, s in zip(frames, spacings, strict=True):
        s = s or (1.0, 1.0)
        if min(s) <= 0:
            raise GeometryError(f.file, f"pixel spacing {s[0]:g} × {s[1]:g} mm is not positive")
        if not np.allclose(s, first, rtol=1e-3, atol=1e-4):
            raise GeometryError(
                where,
                f"{label} has slices with different pixel spacing: {first} mm in {frames[0].file}, "
                f"{s} mm in {f.file}",
            )
    return first


def _orientation(frames: list[_Frame], where: str, label: str, warns: list[str]) -> np.ndarray:
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


def _positions(frames: list[_Frame], warns: list[str]) -> np.ndarray:
    if any(f.position is None for f in frames):
        if len(frames) > 1:
            bad = next(f for f in frames if f.position is None)
            raise GeometryError(bad.file, "no ImagePositionPatient: slices cannot be ordered")
        warns.append("no ImagePositionPatient: origin (0, 0, 0) assumed")
        return np.zeros((1, 3))
    return np.array([f.position for f in frames], dtype=float)


def _geometry(frames: list[_Frame], where: str, label: str, warns: list[str]) -> _Geometry:
    """Validate the frames, sort them along the normal and drop duplicate positions."""
    _check_sizes(frames, where, label)
    spacing = _pixel_spacing(frames, where, label, warns)
    o = _orientation(frames, where, label, warns)
    positions = _positions(frames, warns)
    row, col = o[:3] / np.linalg.norm(o[:3]), o[3:] / np.linalg.norm(o[3:])
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    dist = positions @ normal
    order = np.argsort(dist, kind="stable")
    kept = [int(order[0])]
    for i in order[1:]:
        if dist[i] - dist[kept[-1]] > DUPLICATE_TOL_MM:
            kept.append(int(i))
    if len(kept) < len(frames):
        n = len(frames) - len(kept)
        warns.append(f"{n} duplicate slice{'s' if n > 1 else ''} removed (same position)")
    return _Geometry([frames[i] for i in kept], positions[kept], row, col, normal, spacing)


def _slice_spacing(g: _Geometry, ds: Dataset, warns: list[str]) -> float:
    """Lower-median step along the normal; for one slice, SpacingBetweenSlices or SliceThickness."""
    if len(g.frames) == 1:
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = ds.get(keyword)
            if value is None:
                value = functional_group_value(ds, "PixelMeasuresSequence", keyword)
            step = _float_or(value, 0.0)
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
    return median


def _tilt_warning(g: _Geometry, ds: Dataset) -> str | None:
    """Warn when slice positions step off the normal (gantry tilt) or the header says so."""
    header_tilt = _float_or(ds.get("GantryDetectorTilt"), 0.0)
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


# ------------------------------------------------------------------------ pixels
def _decoder_problem(ds: Dataset) -> str | None:
    """Why pydicom cannot decode this transfer syntax here (None when it can)."""
    ts = _transfer_syntax(ds)
    if not ts.is_compressed:
        return None
    try:
        from pydicom.pixels import get_decoder

        decoder = get_decoder(ts)
    except (NotImplementedError, ValueError, KeyError):
        return f"transfer syntax {ts.name} ({ts}) has no pixel data decoder in pydicom"
    if decoder.is_available:
        return None
    name, packages = _DECODER_PACKAGES.get(str(ts), (ts.name, ""))
    if not packages:
        packages = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
    return f"{name} pixel data needs {packages} (transfer syntax {ts}); install one of them"


def _decode(loaded: _Loaded) -> np.ndarray:
    """Stored pixel values as (frames, rows, columns); typed errors naming the file."""
    ds, path = loaded.ds, loaded.path
    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoders raise many types; each becomes one typed error
        text = _one_line(exc)
        if "less than expected" in text or "too short" in text.lower():
            raise TruncatedFileError(path, f"truncated pixel data ({text})") from exc
        problem = _decoder_problem(ds)
        if problem is None or "missing dependencies" not in text:
            problem = f"cannot decode {_transfer_syntax(ds).name} pixel data ({text})"
        raise DecodeError(path, problem) from exc
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    expected = (len(loaded.frames), loaded.frames[0].rows, loaded.frames[0].columns)
    if arr.shape != expected:
        raise DecodeError(path, f"decoded pixel array {arr.shape} != expected {expected}")
    return arr


def _integral_rescale(frames: list[_Frame]) -> bool:
    return all(float(f.slope).is_integer() and float(f.intercept).is_integer() for f in frames)


def _rescale_into(out: np.ndarray, k: int, stored: np.ndarray, f: _Frame) -> np.ndarray:
    """Write HU of one frame into ``out[k]``; returns ``out`` (converted to float32 when the
    integer result would not fit int16)."""
    if out.dtype == np.int16:
        lo, hi = int(stored.min()), int(stored.max())
        ends = [lo * f.slope + f.intercept, hi * f.slope + f.intercept]
        if min(ends) >= -32768 and max(ends) <= 32767:
            if f.slope == 1:
                np.add(stored, np.int32(f.intercept), out=out[k], casting="unsafe")
            else:
                out[k] = stored.astype(np.int32) * int(f.slope) + int(f.intercept)
            return out
        out = out.astype(np.float32)
    out[k] = stored.astype(np.float64) * f.slope + f.intercept
    return out


# ------------------------------------------------------------------------ reading
def _paths_of(files: Sequence[str | Path] | SeriesRecord) -> tuple[list[str], str]:
    """The file list and the folder that holds it (common parent), for messages."""
    paths = list(files.files) if isinstance(files, SeriesRecord) else [str(p) for p in files]
    folders = sorted({os.path.dirname(p) or "." for p in paths})
    if len(folders) > 1:
        return paths, os.path.commonpath(folders)
    return paths, folders[0] if folders else ""


def _series_label(ds: Dataset) -> str:
    """``series 3 'LUNG 1.0'`` for messages."""
    number = ds.get("SeriesNumber")
    desc = str(ds.get("SeriesDescription", "") or "").strip()
    text = "series" + (f" {number}" if number not in (None, "") else "")
    return text + (f" '{desc}'" if desc else "")


def _load_all(
    paths: list[str], allow_non_ct: bool, progress: Progress | None, cancel: Cancel | None
) -> list[_Loaded]:
    loaded = []
    for i, path in enumerate(paths):
        _check_cancel(cancel, path)
        ds = open_dataset(path)
        _check_image(path, ds, allow_non_ct)
        loaded.append(_Loaded(path, ds, _frames_of(path, ds)))
        if progress is not None:
            progress(i + 1, 2 * len(paths))
    return loaded


def _check_decoders(loaded: list[_Loaded]) -> None:
    seen: set[str] = set()
    for item in loaded:
        ts = str(_transfer_syntax(item.ds))
        if ts in seen:
            continue
        seen.add(ts)
        problem = _decoder_problem(item.ds)
        if problem:
            raise DecodeError(item.path, problem)


def _is_hu(ds: Dataset, frames: list[_Frame]) -> bool:
    """CT with a rescale to Hounsfield units (RescaleType absent, HU or "Hounsfield ...")."""
    if str(ds.get("Modality", "")).upper() != "CT":
        return False
    rescale_type = ds.get("RescaleType")
    if rescale_type is None:
        rescale_type = functional_group_value(ds, "PixelValueTransformationSequence", "RescaleType")
    has_rescale = (
        "RescaleIntercept" in ds
        or any(f.intercept != 0 for f in frames)
        or (
            functional_group_value(ds, "PixelValueTransformationSequence", "RescaleIntercept")
            is not None
        )
    )
    return has_rescale and _names_hounsfield(str(rescale_type or ""))


def _names_hounsfield(rescale_type: str) -> bool:
    """RescaleType absent, "HU", or a spelling of Hounsfield units seen in the wild."""
    text = rescale_type.strip().upper()
    return text in ("", "HU") or text.startswith(("HOUNSFIELD", "HOUNDSFIELD", "HU "))


def read_series(
    files: Sequence[str | Path] | SeriesRecord,
    *,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    allow_non_ct: bool = False,
) -> Volume:
    """Read the files of one series (or one multi-frame file) into a Volume in HU.

    ``progress(done, total)`` counts two steps per file (header, then pixels). Raises a
    :class:`ScoatIOError` subclass naming the file or series folder on any problem, and
    :class:`UnsupportedModalityError` for non-CT images unless ``allow_non_ct``.
    """
    paths, where = _paths_of(files)
    if not paths:
        raise NoUsableSeriesError(where or "(no files)", "no DICOM files given")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = _load_all(paths, allow_non_ct, progress, cancel)
        return _assemble(loaded, where, progress, cancel)


def _assemble(
    loaded: list[_Loaded], where: str, progress: Progress | None, cancel: Cancel | None
) -> Volume:
    warns: list[str] = []
    ds0 = loaded[0].ds
    g = _geometry([f for item in loaded for f in item.frames], where, _series_label(ds0), warns)
    dz = _slice_spacing(g, ds0, warns)
    tilt = _tilt_warning(g, ds0)
    if tilt:
        warns.append(tilt)
    series_uids = {str(item.ds.get("SeriesInstanceUID", "")) for item in loaded}
    if len(series_uids) > 1:
        warns.append(f"files from {len(series_uids)} different series read as one volume")
    _check_decoders(loaded)
    array = _read_pixels(loaded, g.frames, progress, cancel)
    row_mm, col_mm = g.pixel_spacing
    source = loaded[0].path if len(loaded) == 1 else where
    is_hu = _is_hu(ds0, g.frames)
    if not is_hu:
        kind = ds0.get("RescaleType") or "no rescale to HU"
        warns.append(f"not in Hounsfield units ({kind}); HU-based numbers are refused")
    return Volume(
        array=array,
        spacing=(col_mm, row_mm, dz),
        origin=tuple(g.positions[0]),  # type: ignore[arg-type]
        direction=np.column_stack([g.row, g.col, g.normal]),
        info=exam_info_from_dataset(ds0, source),
        is_hu=is_hu,
        warnings=warns,
    )


def _read_pixels(
    loaded: list[_Loaded], frames: list[_Frame], progress: Progress | None, cancel: Cancel | None
) -> np.ndarray:
    """Decode each file once and write its kept frames, rescaled, at their sorted index."""
    target = {(f.file, f.index): k for k, f in enumerate(frames)}
    first = frames[0]
    dtype = np.int16 if _integral_rescale(frames) else np.float32
    out = np.empty((len(frames), first.rows, first.columns), dtype=dtype)
    n = len(loaded)
    for i, item in enumerate(loaded):
        _check_cancel(cancel, item.path)
        stored = _decode(item)
        for f in item.frames:
            k = target.get((f.file, f.index))
            if k is not None:
                out = _rescale_into(out, k, stored[f.index], f)
        item.ds = Dataset()  # free the encoded pixel data early
        if progress is not None:
            progress(n + i + 1, 2 * n)
    return out


def read_dicom(
    path: str | Path, *, progress: Progress | None = None, cancel: Cancel | None = None
) -> Volume:
    """Read one DICOM file, or the best CT series of the first study found under a folder.

    For a folder the series are tried in preference order (:meth:`StudyRecord.best_series`
    first); a series that fails to read is skipped with a warning. ``progress`` reports the
    reading of the series (not the scan before it; ``cancel`` covers both). Raises
    :class:`EmptyFolderError` when no DICOM file is found and :class:`NoUsableSeriesError`
    when none is a readable CT series.
    """
    p = Path(path)
    if not p.exists():
        raise NotFoundError(p, "no such file or folder")
    if p.is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = read_header(p)
        if header is None:
            raise UnsupportedFormatError(p, "a DICOMDIR index, not an image: open its folder")
        record = series_record([header])
        if not record.usable:
            raise UnsupportedModalityError(p, record.excluded_reason)
        return read_series([p], progress=progress, cancel=cancel)
    if not os.access(p, os.R_OK | os.X_OK):
        raise PermissionDeniedError(p, "permission denied: the folder cannot be listed")
    scan = scan_path(p, cancel=cancel)
    return _read_best(p, scan, progress, cancel)


def _read_best(
    folder: Path, scan: ScanResult, progress: Progress | None, cancel: Cancel | None
) -> Volume:
    if not scan.patients:
        if scan.problems:
            first = scan.problems[0]
            raise NoUsableSeriesError(
                folder,
                f"no readable DICOM file: {len(scan.problems)} file(s) failed, "
                f"first {first.path}: {first.message}",
            )
        found = f"{scan.n_files_seen} files looked at" if scan.n_files_seen else "it is empty"
        raise EmptyFolderError(folder, f"no DICOM files in the folder ({found})")
    studies = [st for pt in scan.patients for st in pt.studies]
    study = next((st for st in studies if st.usable_series), None)
    if study is None:
        excluded = "; ".join(f"{s.label()}: {s.excluded_reason}" for s in scan.all_series()[:3])
        raise NoUsableSeriesError(folder, f"no usable CT series ({excluded})")
    notes = []
    if len(studies) > 1:
        date = study.study_date.isoformat() if study.study_date else "undated"
        notes.append(f"folder holds {len(studies)} studies; read the first usable one ({date})")
    if scan.problems:
        notes.append(f"{len(scan.problems)} file(s) skipped: {scan.problems[0]}")
    errors: list[ScoatIOError] = []
    for series in sorted(study.usable_series, key=series_preference_key):
        try:
            vol = read_series(series, progress=progress, cancel=cancel)
        except ScoatIOError as exc:
            errors.append(exc)
            notes.append(f"{series.label()} could not be read: {exc.problem}")
            continue
        vol.warnings[:0] = notes
        return vol
    raise errors[0]
