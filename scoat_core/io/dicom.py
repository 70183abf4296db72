"""Read a DICOM CT series (or an Enhanced CT multi-frame file) into a :class:`Volume`.

The entry points are here: :func:`open_dataset` (one whole file), :func:`read_series` (the
files of one series) and :func:`read_dicom` (a file, or the best CT series under a folder),
with the path they take: open and check each file, take its frames, check the geometry,
resolve slices that share a position, decode and rescale the kept frames into the array, check
that the values are HU. The rules of each step are in their own module, with their trust rules
(issue 14: never a plausible wrong number):

* :mod:`scoat_core.io.dicom_frames`: the geometry and rescale of each slice, from its header;
* :mod:`scoat_core.io.dicom_geometry`: orientation, positions, slice spacing, coverage, tilt;
* :mod:`scoat_core.io.dicom_acquisitions`: duplicates, and acquisitions mixed in one series;
* :mod:`scoat_core.io.dicom_pixels`: decoding, the rescale to HU, the HU plausibility checks.

Problems that still give a usable volume become ``Volume.warnings``; the files of the series
that the scan could not read give one too (their slices are missing: a gap). What cannot be
read raises a :class:`ScoatIOError` subclass naming the file or the series folder.

Decoding is serial: the pylibjpeg decoders hold the GIL, so a thread pool measured no faster.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from scoat_core.io.dicom_acquisitions import resolve_duplicates
from scoat_core.io.dicom_frames import Frame, Loaded, frames_of, one_line, rel
from scoat_core.io.dicom_geometry import geometry, slice_spacing, tilt_warning
from scoat_core.io.dicom_pixels import (
    check_decoders,
    decode,
    hu_problem,
    integral_rescale,
    is_hu,
    rescale_into,
)
from scoat_core.io.errors import (
    EmptyFolderError,
    FileProblem,
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
    ScanResult,
    SeriesRecord,
    exam_info_from_dataset,
    looks_like_dicom,
    read_header,
    scan_path,
    series_record,
    unread_note,
)
from scoat_core.io.series_choice import CT_SOP_CLASSES, exclusion_reason, series_preference_key
from scoat_core.progress import Cancelled
from scoat_core.volume import Volume

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


# ------------------------------------------------------------------------ helpers
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
        raise NotDicomError(path, f"not a readable DICOM file ({one_line(exc)})") from exc
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


def _check_image(path: str, ds: Dataset, allow_non_ct: bool) -> None:
    """Raise unless the dataset is a grayscale image (a CT image unless ``allow_non_ct``)."""
    reason = exclusion_reason(
        str(ds.get("SOPClassUID", "")), str(ds.get("Modality", "")), ds.get("SamplesPerPixel")
    )
    if "PixelData" not in ds:
        for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
            if keyword in ds:
                raise UnsupportedFormatError(path, f"{keyword} (floating-point pixels, as in "
                                             "parametric maps) is not a CT image")
        if "Rows" in ds or str(ds.get("SOPClassUID", "")) in CT_SOP_CLASSES:
            raise TruncatedFileError(path, "truncated: the file ends before or inside its pixels")
        raise UnsupportedModalityError(path, reason or "no pixel data: not an image")
    if reason and not allow_non_ct:
        raise UnsupportedModalityError(path, reason)
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise UnsupportedFormatError(path, "colour image: only grayscale slices can be read")


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
) -> list[Loaded]:
    loaded = []
    for i, path in enumerate(paths):
        _check_cancel(cancel, path)
        ds = open_dataset(path)
        _check_image(path, ds, allow_non_ct)
        loaded.append(Loaded(path, ds, frames_of(path, ds)))
        if progress is not None:
            progress(i + 1, 2 * len(paths))
    return loaded


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
    unread = list(files.unread) if isinstance(files, SeriesRecord) else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = _load_all(paths, allow_non_ct, progress, cancel)
        return _assemble(loaded, where, progress, cancel, unread)


def _assemble(
    loaded: list[Loaded],
    where: str,
    progress: Progress | None,
    cancel: Cancel | None,
    unread: list[FileProblem] | None = None,
) -> Volume:
    warns: list[str] = []
    if unread:
        warns.append(_unread_warning(unread, where))
    label = _series_label(loaded[0].ds)
    frames = [f for item in loaded for f in item.frames]
    geometry_warns: list[str] = []
    g = geometry(frames, where, label, geometry_warns)
    check_decoders(loaded)
    decoded: dict[str, np.ndarray] = {}
    if g.duplicates:
        g, geometry_warns = resolve_duplicates(
            g, frames, loaded, decoded, where, label, geometry_warns
        )
    warns += geometry_warns
    by_path = {item.path: item for item in loaded}
    ds0 = by_path[g.frames[0].file].ds
    dz = slice_spacing(g, ds0, warns)
    tilt = tilt_warning(g, ds0)
    if tilt:
        warns.append(tilt)
    series_uids = {str(by_path[f.file].ds.get("SeriesInstanceUID", "")) for f in g.frames}
    if len(series_uids) > 1:
        warns.append(f"files from {len(series_uids)} different series read as one volume")
    numbers = _instance_numbers(g.frames, by_path)  # before the pixels: they free the headers
    array = _read_pixels(loaded, g.frames, progress, cancel, decoded)
    row_mm, col_mm = g.pixel_spacing
    source = loaded[0].path if len(loaded) == 1 else where
    in_hu = is_hu(ds0, g.frames)
    if not in_hu:
        kind = ds0.get("RescaleType") or "no rescale to HU"
        warns.append(f"not in Hounsfield units ({kind}); HU-based numbers are refused")
    else:
        problem = hu_problem(array, g.frames, where)
        if problem:
            in_hu = False
            warns.append(f"not in Hounsfield units: {problem}; HU-based numbers are refused")
    return Volume(
        array=array,
        spacing=(col_mm, row_mm, dz),
        origin=tuple(g.positions[0]),  # type: ignore[arg-type]
        direction=np.column_stack([g.row, g.col, g.normal]),
        info=exam_info_from_dataset(ds0, source),
        is_hu=in_hu,
        warnings=warns,
        source_files=tuple(dict.fromkeys(f.file for f in g.frames)),
        instance_numbers=numbers,
    )


def _instance_numbers(frames: list[Frame], by_path: dict[str, Loaded]) -> tuple[int | None, ...]:
    """The InstanceNumber of each slice's file (None for a frame of a multi-frame file, or a
    missing or unreadable number); empty when no slice has one."""
    numbers: list[int | None] = []
    for f in frames:
        item = by_path[f.file]
        try:
            value = int(item.ds.get("InstanceNumber")) if len(item.frames) == 1 else None
        except (TypeError, ValueError):
            value = None
        numbers.append(value)
    return tuple(numbers) if any(n is not None for n in numbers) else ()


def _unread_warning(unread: list[FileProblem], where: str) -> str:
    """The warning for files of the series that the scan could not read (their slices are
    missing); it starts with the scan's own note, so ``scoat info`` shows it once."""
    shown = "; ".join(f"{rel(p.path, where)}: {p.message}" for p in unread[:3])
    more = f"; and {len(unread) - 3} more" if len(unread) > 3 else ""
    they = "they" if len(unread) > 1 else "it"
    return (
        f"{unread_note(len(unread))}: {shown}{more}; the slices are missing from the volume "
        f"(a gap where {they} lay)"
    )


def _read_pixels(
    loaded: list[Loaded],
    frames: list[Frame],
    progress: Progress | None,
    cancel: Cancel | None,
    decoded: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Decode each file with kept frames once (``decoded``: files already decoded) and write
    its kept frames, rescaled, at their sorted index."""
    target = {(f.file, f.index): k for k, f in enumerate(frames)}
    first = frames[0]
    dtype = np.int16 if integral_rescale(frames) else np.float32
    out = np.empty((len(frames), first.rows, first.columns), dtype=dtype)
    n = len(loaded)
    decoded = decoded if decoded is not None else {}
    for i, item in enumerate(loaded):
        _check_cancel(cancel, item.path)
        if not any((f.file, f.index) in target for f in item.frames):
            item.ds = Dataset()  # a duplicate or another acquisition: not decoded
            if progress is not None:
                progress(n + i + 1, 2 * n)
            continue
        stored = decoded.pop(item.path, None)
        if stored is None:
            stored = decode(item)
        for f in item.frames:
            k = target.get((f.file, f.index))
            if k is not None:
                out = rescale_into(out, k, stored[f.index], f)
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
    errors: list[ScoatIOError] = []
    failures: list[str] = []
    for series in sorted(study.usable_series, key=series_preference_key):
        others = [p for p in scan.problems if p not in series.unread]  # the series names its own
        skipped = [f"{len(others)} file(s) skipped: {others[0]}"] if others else []
        try:
            vol = read_series(series, progress=progress, cancel=cancel)
        except ScoatIOError as exc:
            errors.append(exc)
            failures.append(f"{series.label()} could not be read: {exc.problem}")
            continue
        vol.warnings[:0] = notes + skipped + failures
        return vol
    raise errors[0]
