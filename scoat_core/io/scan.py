"""Fast header-only scan of DICOM files under a path: patients → studies → series.

Only the header of each file is parsed (``stop_before_pixels`` and a fixed list of tags), so a
folder of thousands of files is listed in seconds. Each series is classified as *usable* (a CT
image series the lung analysis can read) or excluded with a reason, and
:meth:`StudyRecord.best_series` picks the series to analyse in each study; the rules of both
are in :mod:`scoat_core.io.series_choice`.

File handling:

* Hidden files and folders (name starting with ``.``) and ``DICOMDIR`` are skipped.
* Files with an obviously non-DICOM suffix (``.txt``, ``.png``, ``.json``, ``.nii.gz``...) are
  ignored silently. Other files are DICOM when bytes 128–131 are ``DICM``, or when they start
  like a preamble-less DICOM data set (group 0002 or 0008) and parse with a SOP Class UID or a
  Modality.
* A file named ``.dcm`` (``.dicom``, ``.dic``, ``.ima``), or one that starts like DICOM, that
  cannot be read becomes a :class:`FileProblem` (not DICOM, truncated); other non-DICOM files
  are ignored. A file that cannot be opened (permission) is a problem unless its suffix is
  ignored.
* Truncation is found without reading pixels: the length of the pixel data element (or, for
  compressed data, its end marker) is checked against the file size.

Cost: about 1 ms per file (pydicom's header parser dominates; threads do not help as it holds
the GIL), i.e. about 3 s for 3000 files.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from scoat_core.io.errors import (
    FileProblem,
    NotDicomError,
    NotFoundError,
    PermissionDeniedError,
    ScoatIOError,
    TruncatedFileError,
)
from scoat_core.io.series_choice import (
    CT_SOP_CLASSES,
    ENHANCED_SOP_CLASSES,
    exclusion_reason,
    is_axial,
    is_localizer,
    series_preference_key,
)
from scoat_core.progress import Cancelled
from scoat_core.volume import ExamInfo

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


#: Suffixes ignored without opening the file (volume files are listed by ``io.exams``).
# fmt: off
IGNORED_SUFFIXES = frozenset({
    ".txt", ".md", ".rst", ".csv", ".tsv", ".json", ".xml", ".html", ".htm", ".pdf", ".log",
    ".ini", ".cfg", ".yaml", ".yml", ".py", ".sh", ".bat", ".png", ".jpg", ".jpeg", ".gif", ".bmp",
    ".tif", ".tiff", ".svg", ".webp", ".nii", ".gz", ".bz2", ".xz", ".zip", ".tar", ".7z", ".mha",
    ".mhd", ".nrrd", ".nhdr", ".raw", ".npy", ".npz", ".mat", ".h5", ".hdf5", ".pt", ".pth",
    ".onnx", ".safetensors", ".pkl", ".exe", ".dll", ".so", ".db", ".sqlite", ".lnk", ".ds_store",
    ".avi", ".mp4", ".mov", ".mpg", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx",
})
# fmt: on
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima"})

#: Tags read from each file (everything the scan and ``ExamInfo`` need).
SCAN_TAGS = [
    "SOPClassUID", "Modality", "PatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "SeriesInstanceUID", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "StudyTime", "SeriesTime", "StudyDescription", "SeriesDescription",
    "SeriesNumber", "Manufacturer", "ManufacturerModelName", "StationName", "ConvolutionKernel",
    "SliceThickness", "SpacingBetweenSlices", "KVP", "ContrastBolusAgent",
    "ContrastBolusAgentSequence", "ImageType", "Rows", "Columns", "PixelSpacing",
    "ImageOrientationPatient", "NumberOfFrames", "SamplesPerPixel", "GantryDetectorTilt",
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
]  # fmt: skip


# ------------------------------------------------------------------------------ data model
@dataclass
class SeriesRecord:
    """One DICOM series found by the scan (header data of its first file, file list)."""

    series_uid: str
    modality: str
    sop_class_uid: str
    series_number: int | None
    description: str
    image_type: tuple[str, ...]
    files: list[str]
    n_files: int
    rows: int | None
    columns: int | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    orientation: tuple[float, ...] | None
    kernel: str
    manufacturer: str
    model: str
    usable: bool
    excluded_reason: str
    warnings: list[str]
    info: ExamInfo
    is_enhanced_multiframe: bool
    n_frames: int
    transfer_syntax: str = ""
    unread: list[FileProblem] = field(default_factory=list)
    """Files of this series (by their SeriesInstanceUID, or lying in its folder when the header
    is unreadable too) that could not be read: truncated or not readable. Their slices are
    missing, and the reader names them."""

    @property
    def folder(self) -> str:
        """The folder of the first file (for messages)."""
        return str(Path(self.files[0]).parent) if self.files else ""

    @property
    def is_axial(self) -> bool:
        """True when the slice normal is closest to the patient's z axis (or unknown)."""
        return self.orientation is None or is_axial(self.orientation)

    @property
    def is_localizer(self) -> bool:
        return is_localizer(self.image_type, self.description, self.orientation, self.n_frames)

    def label(self) -> str:
        """Short human label: number, description, slice count."""
        num = f"#{self.series_number} " if self.series_number is not None else ""
        desc = f"'{self.description}' " if self.description else ""
        return f"{self.modality or '?'} series {num}{desc}({self.n_frames} images)"


@dataclass
class StudyRecord:
    """One study (exam) of a patient with its series."""

    study_uid: str
    study_date: date | None
    study_time: time | None
    description: str
    series: list[SeriesRecord] = field(default_factory=list)

    @property
    def usable_series(self) -> list[SeriesRecord]:
        return [s for s in self.series if s.usable]

    def best_series(self) -> SeriesRecord | None:
        """The usable series to analyse, or None (see :func:`series_preference_key`)."""
        usable = self.usable_series
        return min(usable, key=series_preference_key) if usable else None


@dataclass
class PatientRecord:
    """One patient with studies ordered by date (undated last)."""

    patient_id: str
    patient_name: str
    birth_date: date | None
    studies: list[StudyRecord] = field(default_factory=list)


@dataclass
class ScanResult:
    """Everything found under a path, and the files that could not be read."""

    patients: list[PatientRecord]
    """Ordered by PatientID."""
    problems: list[FileProblem]
    n_files_seen: int
    """Non-hidden files looked at, including the non-DICOM files ignored."""

    def all_series(self) -> list[SeriesRecord]:
        return [s for p in self.patients for st in p.studies for s in st.series]


# ------------------------------------------------------------------------- value parsing
def parse_date(value: object) -> date | None:
    """A DICOM DA (``YYYYMMDD``, also ``YYYY.MM.DD``) as a date, None when empty or invalid."""
    text = re.sub(r"[^0-9]", "", str(value or ""))
    if len(text) < 8:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def parse_time(value: object) -> time | None:
    """A DICOM TM (``HHMMSS.ffffff``, ``HHMM``, ``HH``, or with colons) as a time, or None."""
    text = str(value or "").strip().replace(":", "")
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", text)
    if not m:
        return None
    hh, mm, ss, frac = m.groups()
    try:
        return time(int(hh), int(mm or 0), min(int(ss or 0), 59), int((frac or "0").ljust(6, "0")))
    except ValueError:
        return None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "/".join(str(v).strip() for v in value)
    return str(value).strip()


def _float(value: object) -> float | None:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def functional_group_value(ds: Dataset, sequence: str, keyword: str, frame: int = 0) -> object:
    """``keyword`` from a functional-group macro of an enhanced image: per-frame, else shared."""
    groups = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) > frame:
        groups.append(per_frame[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    for group in groups:
        items = group.get(sequence)
        if items and keyword in items[0]:
            return items[0].get(keyword)
    return None


def _header_value(ds: Dataset, keyword: str, sequence: str) -> object:
    """A top-level attribute, or the same attribute from an enhanced functional group."""
    value = ds.get(keyword)
    if value is None or value == "":
        value = functional_group_value(ds, sequence, keyword)
    return value


def _contrast(ds: Dataset) -> bool | None:
    """True when a contrast agent is named, False for an explicit 'none', None when unknown."""
    agent = _text(ds, "ContrastBolusAgent")
    if agent:
        return agent.upper() not in {"NONE", "NO", "N", "0", "NIL", "NON"}
    if ds.get("ContrastBolusAgentSequence"):
        return True
    return None


def exam_info_from_dataset(ds: Dataset, source: str | Path = "") -> ExamInfo:
    """Patient, study and acquisition fields of a DICOM header as an :class:`ExamInfo`.

    The study date falls back to the series, acquisition then content date. ``contrast`` is
    True when ContrastBolusAgent names an agent (or the enhanced agent sequence is present),
    False when it says ``NONE``/``NO``, and None when absent or empty (unknown). Multi-valued
    kernels are joined with ``/``.
    """
    study_date = None
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        study_date = parse_date(ds.get(keyword))
        if study_date:
            break
    kernel = ds.get("ConvolutionKernel")
    if kernel is None:
        kernel = functional_group_value(ds, "CTReconstructionSequence", "ConvolutionKernel")
    if kernel is not None and not isinstance(kernel, str):
        kernel = "/".join(str(k).strip() for k in kernel)
    return ExamInfo(
        patient_id=_text(ds, "PatientID"),
        patient_name=str(ds.get("PatientName") or "").strip(),
        birth_date=parse_date(ds.get("PatientBirthDate")),
        patient_sex=_text(ds, "PatientSex"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        study_date=study_date,
        study_time=parse_time(ds.get("StudyTime") or ds.get("SeriesTime")),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=_int(ds.get("SeriesNumber")),
        modality=_text(ds, "Modality"),
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
        station=_text(ds, "StationName"),
        kernel=str(kernel or "").strip(),
        slice_thickness_mm=_float(_header_value(ds, "SliceThickness", "PixelMeasuresSequence")),
        kvp=_float(_header_value(ds, "KVP", "CTXRayDetailsSequence")),
        contrast=_contrast(ds),
        source=str(source),
    )


# ------------------------------------------------------------------------- file reading
@dataclass
class FileHeader:
    """The scan tags of one DICOM file."""

    path: str
    ds: Dataset
    transfer_syntax: str

    @property
    def sop_class_uid(self) -> str:
        return _text(self.ds, "SOPClassUID")

    @property
    def n_frames(self) -> int:
        return max(_int(self.ds.get("NumberOfFrames")) or 1, 1)

    def orientation(self) -> tuple[float, ...] | None:
        value = _header_value(self.ds, "ImageOrientationPatient", "PlaneOrientationSequence")
        try:
            out = tuple(float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return None
        return out if len(out) == 6 else None


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _starts_like_dicom(head: bytes) -> bool:
    """A preamble-less data set starting with a group 0002/0008 element (either endianness)."""
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def looks_like_dicom(head: bytes) -> bool:
    return head[128:132] == b"DICM" or _starts_like_dicom(head)


_PIXEL_VRS = (b"OB", b"OW", b"UN", b"OF", b"OD", b"OL", b"OV")
DEFLATED = "1.2.840.10008.1.2.1.99"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def _check_complete(path: str, fp, size: int, ds: Dataset) -> None:
    """Raise TruncatedFileError when the pixel data of an image ends early (or is missing).

    ``fp`` is where pydicom stopped, before the pixel data element: its length is checked
    against the file size, or, for compressed (undefined-length) data, the end marker is sought.
    """
    offset = fp.tell()
    header = fp.read(12)
    little = getattr(ds, "original_encoding", (None, True))[1] is not False
    if len(header) < 8 or header[:2] not in (b"\xe0\x7f", b"\x7f\xe0"):
        if "Rows" in ds or ds.get("SOPClassUID", "") in CT_SOP_CLASSES:
            raise TruncatedFileError(path, "truncated: the file ends before its pixel data")
        return
    fmt = "<L" if little else ">L"
    if header[4:6] not in _PIXEL_VRS:  # implicit VR (pydicom also accepts it in explicit files)
        length, start = struct.unpack(fmt, header[4:8])[0], offset + 8
    else:
        length, start = struct.unpack(fmt, header[8:12])[0], offset + 12
    if length == 0xFFFFFFFF:
        delimiter = b"\xfe\xff\xdd\xe0" if little else b"\xff\xfe\xe0\xdd"
        fp.seek(max(start, size - 8192))
        if delimiter not in fp.read():
            raise TruncatedFileError(
                path, f"truncated: compressed pixel data has no end marker ({size} bytes)"
            )
    elif start + length > size:
        raise TruncatedFileError(
            path, f"truncated: pixel data needs {start + length} bytes, file has {size}"
        )


def _no_sop_class(path: str, ds: Dataset, report: bool) -> None:
    """A data set without SOP Class UID and Modality: a DICOMDIR (None), a header cut short
    (its file meta names an SOP class), or not DICOM (error when ``report``, else None)."""
    meta_sop = str(ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if meta_sop == MEDIA_STORAGE_DIRECTORY:
        return None
    if meta_sop:
        raise TruncatedFileError(path, "truncated or corrupt: the header ends early")
    if report:
        raise NotDicomError(path, "not a DICOM image (no SOP Class UID or Modality)")
    return None


def read_header(path: str | Path, *, require_dicom: bool = True) -> FileHeader | None:
    """Parse the scan tags of one file.

    Raises a :class:`ScoatIOError` (not found, permission, not DICOM, truncated). Returns None
    for a DICOMDIR index and, with ``require_dicom=False``, for a file that is not DICOM.
    """
    path = str(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fp:
            head = fp.read(132)
            if not looks_like_dicom(head):
                if require_dicom:
                    raise NotDicomError(path, "not a DICOM file (no 'DICM' marker at byte 128)")
                return None
            fp.seek(0)
            ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=SCAN_TAGS, force=True)
            if "SOPClassUID" not in ds and "Modality" not in ds:
                return _no_sop_class(path, ds, require_dicom or head[128:132] == b"DICM")
            ts = str(ds.file_meta.get("TransferSyntaxUID", "") or "")
            if ts != DEFLATED:  # a deflated data set is read from a separate buffer
                _check_complete(path, fp, size, ds)
    except FileNotFoundError as exc:
        raise NotFoundError(path, "no such file") from exc
    except PermissionError as exc:
        raise PermissionDeniedError(path, "permission denied") from exc
    except IsADirectoryError as exc:
        raise NotDicomError(path, "is a folder, not a file") from exc
    except ScoatIOError:
        raise
    except (EOFError, struct.error) as exc:
        raise TruncatedFileError(path, f"truncated: the header ends early ({exc})") from exc
    except (InvalidDicomError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotDicomError(path, f"not a readable DICOM file ({_one_line(exc)})") from exc
    except OSError as exc:
        raise PermissionDeniedError(path, f"cannot be read ({exc.strerror or exc})") from exc
    return FileHeader(path, ds, ts)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:160] + "...") if len(text) > 160 else text or type(exc).__name__


# ---------------------------------------------------------------------------- walking
def _walk(path: Path, problems: list[FileProblem]) -> tuple[list[str], int]:
    """Candidate files under ``path`` (sorted) and the number of non-hidden files seen."""
    if path.is_file():
        return [str(path)], 1

    def on_error(exc: OSError) -> None:
        problems.append(FileProblem(str(exc.filename), "permission denied: folder not listed"))

    candidates: list[str] = []
    seen = 0
    for root, dirs, files in os.walk(path, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name.upper() == "DICOMDIR":
                continue
            seen += 1
            suffix = _suffix(name)
            if suffix in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"):
                kind = {".jpg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper())
                problems.append(FileProblem(os.path.join(root, name),
                                            f"not DICOM or a volume file ({kind} image)"))
            elif suffix not in IGNORED_SUFFIXES:
                candidates.append(os.path.join(root, name))
    return candidates, seen


def _scan_one(
    path: str, problems: list[FileProblem], unread: list[tuple[FileProblem, str | None]]
) -> FileHeader | None:
    named_dicom = _suffix(path) in DICOM_SUFFIXES
    try:
        return read_header(path, require_dicom=named_dicom)
    except ScoatIOError as exc:
        problem = FileProblem(path, exc.problem)
        problems.append(problem)
        if isinstance(exc, (TruncatedFileError, PermissionDeniedError)):
            unread.append((problem, _series_uid_of(path)))
    return None


def _series_uid_of(path: str) -> str | None:
    """The SeriesInstanceUID of a file that cannot be read whole (None when its header is cut
    before it, or the file cannot be opened)."""
    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"], force=True
        )
    except (
        OSError,
        EOFError,
        struct.error,
        InvalidDicomError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
    ):
        return None
    uid = _text(ds, "SeriesInstanceUID")
    return uid or None


def unread_note(n: int) -> str:
    """The scan's warning for a series with ``n`` unreadable files (the reader's starts so)."""
    return f"{n} file{'s' if n > 1 else ''} of the series could not be read"


def _attach_unread(
    patients: list[PatientRecord], unread: list[tuple[FileProblem, str | None]]
) -> list[PatientRecord]:
    """Give each series the unreadable files that belong to it (see ``SeriesRecord.unread``)."""
    if not unread:
        return patients
    for series in (s for p in patients for st in p.studies for s in st.series):
        folders = {os.path.dirname(f) for f in series.files}
        series.unread = [
            problem
            for problem, uid in unread
            if (
                uid == series.series_uid
                if uid is not None
                else os.path.dirname(problem.path) in folders
            )
        ]
        if series.unread:
            series.warnings.append(unread_note(len(series.unread)))
    return patients


def scan_path(
    path: str | Path, progress: Progress | None = None, cancel: Cancel | None = None
) -> ScanResult:
    """Scan a DICOM file or a folder (recursively) and group its series.

    ``progress(done, total)`` is called after each file; when ``cancel()`` returns True,
    :class:`scoat_core.progress.Cancelled` is raised. A missing path raises NotFoundError.
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(path, "no such file or folder")
    problems: list[FileProblem] = []
    unread: list[tuple[FileProblem, str | None]] = []
    candidates, seen = _walk(path, problems)
    headers: list[FileHeader] = []
    with warnings.catch_warnings():  # pydicom warns about every oddity; problems say enough
        warnings.simplefilter("ignore")
        for i, file in enumerate(candidates):
            if cancel is not None and cancel():
                raise Cancelled(f"scan of {path} cancelled")
            header = _scan_one(file, problems, unread)
            if header is not None:
                headers.append(header)
            if progress is not None:
                progress(i + 1, len(candidates))
        return ScanResult(_attach_unread(group_headers(headers), unread), problems, seen)


# ---------------------------------------------------------------------------- grouping
def group_headers(headers: list[FileHeader]) -> list[PatientRecord]:
    """Group file headers by PatientID → StudyInstanceUID → SeriesInstanceUID."""
    tree: dict[str, dict[str, dict[str, list[FileHeader]]]] = {}
    for h in headers:
        pid = _text(h.ds, "PatientID")
        study = _text(h.ds, "StudyInstanceUID")
        series = _text(h.ds, "SeriesInstanceUID")
        tree.setdefault(pid, {}).setdefault(study, {}).setdefault(series, []).append(h)
    patients = [_patient_record(pid, studies) for pid, studies in tree.items()]
    patients.sort(key=lambda p: (p.patient_id, p.patient_name))
    return patients


def _patient_record(pid: str, studies: dict[str, dict[str, list[FileHeader]]]) -> PatientRecord:
    records = [_study_record(uid, series) for uid, series in studies.items()]
    records.sort(key=_study_order)
    first = next(iter(next(iter(studies.values())).values()))[0].ds
    return PatientRecord(
        patient_id=pid,
        patient_name=str(first.get("PatientName") or "").strip(),
        birth_date=parse_date(first.get("PatientBirthDate")),
        studies=records,
    )


def _study_order(s: StudyRecord) -> tuple:
    return (s.study_date is None, s.study_date or date.min, s.study_time or time.min, s.study_uid)


def _study_record(uid: str, series: dict[str, list[FileHeader]]) -> StudyRecord:
    records = [series_record(files) for files in series.values()]
    records.sort(key=lambda s: (s.series_number is None, s.series_number or 0, s.series_uid))
    info = records[0].info
    return StudyRecord(uid, info.study_date, info.study_time, info.study_description, records)


def series_record(headers: list[FileHeader]) -> SeriesRecord:
    """Summarise the headers of one series (files sorted by path) and classify it."""
    headers = sorted(headers, key=lambda h: h.path)
    ds = headers[0].ds
    folders = sorted({str(Path(h.path).parent) for h in headers})
    source = folders[0] if len(folders) == 1 else os.path.commonpath(folders)
    info = exam_info_from_dataset(ds, source)
    orientations = {tuple(np.round(o, 3)) for h in headers if (o := h.orientation()) is not None}
    sizes = {(h.ds.get("Rows"), h.ds.get("Columns")) for h in headers}
    n_frames = sum(h.n_frames for h in headers)
    image_type = tuple(str(v).strip() for v in (ds.get("ImageType") or ()))
    orientation = headers[0].orientation()
    reason = exclusion_reason(
        _text(ds, "SOPClassUID"), info.modality, _int(ds.get("SamplesPerPixel"))
    )
    if not reason and is_localizer(image_type, info.series_description, orientation, n_frames):
        reason = "localizer (scout) image, not an axial series"
    notes = []
    if len(orientations) > 1:
        notes.append(f"series mixes {len(orientations)} slice orientations")
    if len(sizes) > 1:
        notes.append(f"series mixes {len(sizes)} image sizes")
    if n_frames == 1 and not reason:
        notes.append("series has one slice")
    spacing = _header_value(ds, "PixelSpacing", "PixelMeasuresSequence")
    return SeriesRecord(
        series_uid=info.series_uid,
        modality=info.modality,
        sop_class_uid=_text(ds, "SOPClassUID"),
        series_number=info.series_number,
        description=info.series_description,
        image_type=image_type,
        files=[h.path for h in headers],
        n_files=len(headers),
        rows=_int(ds.get("Rows")),
        columns=_int(ds.get("Columns")),
        pixel_spacing=_pair(spacing),
        slice_thickness=info.slice_thickness_mm,
        orientation=orientation,
        kernel=info.kernel,
        manufacturer=info.manufacturer,
        model=info.model,
        usable=not reason,
        excluded_reason=reason,
        warnings=notes,
        info=info,
        is_enhanced_multiframe=_text(ds, "SOPClassUID") in ENHANCED_SOP_CLASSES
        or "PerFrameFunctionalGroupsSequence" in ds,
        n_frames=n_frames,
        transfer_syntax=headers[0].transfer_syntax,
    )


def _pair(value: object) -> tuple[float, float] | None:
    try:
        a, b = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (a, b)
