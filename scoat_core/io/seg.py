"""DICOM SEG output (highdicom): the analysis masks over their source CT series.

One binary SEG object with three segments — 1 right lung, 2 left lung, 3 lung opacification —
referencing every source slice, so 3D Slicer, OHIF and other viewers show it over the series.
Frames follow the source files; each file is matched to its mask slice by its position along the
volume's slice axis (so the order of the files on disk does not matter).

The SEG is written wherever the standard allows, and what had to be adapted is reported in
``notes`` (the caller puts them in the warnings of ``metrics.json``): duplicate source slices (the
reader kept one per position) are not referenced; unevenly spaced slices are matched to mask
slices in their order along the slice normal, each frame keeping its source's position; missing
Type 2 patient and study attributes are written empty, a Patient's Sex other than M, F or O and
unreadable dates or times are written empty, a multi-valued PatientName (a backslash in the
name; the attribute has one value) is written as one value, and a source without PixelSpacing
(the reader took the pixel size from elsewhere) gets the volume's, one without SliceThickness the
slice spacing. A source that defeats the SEG
(a slice off the volume's grid, multi-frame sources, no position or orientation) raises
:class:`SegError` naming the file and the reason.
A failure to write the file raises :class:`OSError` naming it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.valuerep import DA, TM, PersonName

from scoat_core import __version__
from scoat_core.errors import UserError
from scoat_core.io.dicom_geometry import DUPLICATE_TOL_MM
from scoat_core.volume import Volume

SEGMENTS = (
    (1, "Right lung", Code("91723000", "SCT", "Anatomical Structure"),
     Code("3341006", "SCT", "Right lung")),
    (2, "Left lung", Code("91723000", "SCT", "Anatomical Structure"),
     Code("44029006", "SCT", "Left lung")),
    (3, "Lung opacification", Code("49755003", "SCT", "Morphologically Abnormal Structure"),
     Code("52988006", "SCT", "Lesion")),
)


#: Type 2 attributes of the Patient and General Study modules that highdicom copies from the
#: first source: they must be present, and may be empty.
TYPE2_COPIED = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber",
                "StudyID", "StudyDate", "StudyTime")


class SegError(UserError):
    """The source headers do not allow a DICOM SEG (the message names the file and why)."""


def _name(ds: pydicom.Dataset) -> str:
    return str(getattr(ds, "filename", None) or "a source file")


def _frames(volume: Volume, sources: list[pydicom.Dataset],
            notes: list[str]) -> list[pydicom.Dataset]:
    """The sources of mask slices 0, 1, … in order (duplicate positions dropped).

    The reader sorts slices along the normal and keeps the first file of each position, so the
    k-th distinct position is mask slice k, evenly spaced or not.
    """
    for ds in sources:
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise SegError(f"{_name(ds)}: multi-frame sources are not supported for the SEG")
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient"):
            if keyword not in ds:
                raise SegError(f"{_name(ds)}: no {keyword}")
        if "PixelSpacing" not in ds:  # the reader took it from elsewhere (ImagerPixelSpacing)
            ds.PixelSpacing = [f"{volume.spacing[1]:.6g}", f"{volume.spacing[0]:.6g}"]
            note = (f"the source has no PixelSpacing; the SEG states the pixel size the volume "
                    f"used ({volume.spacing[1]:.6g} x {volume.spacing[0]:.6g} mm)")
            if note not in notes:
                notes.append(note)
        if not str(ds.get("SliceThickness") or "").strip():  # Type 2 in CT, highdicom needs it
            ds.SliceThickness = f"{volume.spacing[2]:.6g}"
            note = (f"the source has no SliceThickness; the SEG states the slice spacing "
                    f"({volume.spacing[2]:.6g} mm)")
            if note not in notes:
                notes.append(note)
        if (int(ds.get("Rows", 0)), int(ds.get("Columns", 0))) != volume.shape[1:]:
            raise SegError(f"{_name(ds)}: {ds.get('Rows')}x{ds.get('Columns')} pixels, the "
                           f"volume has {volume.shape[1]}x{volume.shape[2]}")
    normal = np.asarray(volume.direction, float)[:, 2]
    dist = np.array([np.asarray(ds.ImagePositionPatient, float) @ normal for ds in sources])
    order = np.argsort(dist, kind="stable")
    kept = [int(order[0])]
    for i in order[1:]:
        if dist[i] - dist[kept[-1]] > DUPLICATE_TOL_MM:
            kept.append(int(i))
    if len(kept) < len(sources):
        n = len(sources) - len(kept)
        notes.append(f"{n} duplicate source slice{'s' if n > 1 else ''} (same position) not "
                     "referenced")
    if len(kept) != volume.shape[0]:
        raise SegError(f"{_name(sources[0])}: the series has {len(kept)} slice positions, the "
                       f"volume {volume.shape[0]} slices")
    step = float(volume.spacing[2])
    expected = float(np.asarray(volume.origin, float) @ normal) + step * np.arange(len(kept))
    off = np.abs(dist[kept] - expected)
    if off[0] > 0.25 * step:
        raise SegError(f"{_name(sources[kept[0]])}: slice position is not on the volume's grid")
    if off.max() > 0.25 * step:
        notes.append("slices are not evenly spaced: each SEG frame is placed at the position of "
                     "its source slice")
    return [sources[i] for i in kept]


def _patient_and_study(sources: list[pydicom.Dataset], notes: list[str]) -> None:
    """Make the Type 2 attributes highdicom copies usable, as the standard allows."""
    first = sources[0]
    fixes: dict[str, str] = {}
    for keyword in TYPE2_COPIED:
        if keyword not in first:
            fixes[keyword] = ""
            notes.append(f"the source has no {keyword}; written empty")
    name = first.get("PatientName")
    if name is not None and not isinstance(name, (str, PersonName)):
        joined = " ".join(str(v) for v in name)
        fixes["PatientName"] = joined
        original = "\\".join(str(v) for v in name)
        notes.append(f"PatientName \"{original}\" has {len(name)} values (a backslash); "
                     f"written as one: \"{joined}\"")
    sex = str(first.get("PatientSex") or "")
    if sex and sex not in ("M", "F", "O"):
        fixes["PatientSex"] = ""
        notes.append(f"PatientSex {sex!r} is not M, F or O; written empty")
    for keyword, vr in (("PatientBirthDate", DA), ("StudyDate", DA), ("StudyTime", TM)):
        value = first.get(keyword)
        if value:
            try:
                vr(value)
            except (ValueError, TypeError):
                fixes[keyword] = ""
                notes.append(f"{keyword} {str(value)!r} is not a DICOM date/time; written empty")
    for ds in sources:
        for keyword, value in fixes.items():
            setattr(ds, keyword, value)


def _cause_errno(exc: BaseException) -> tuple[int, str]:
    """The errno and message of the first OSError in ``exc``'s chain that has one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return seen.errno, seen.strerror or os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    return errno.EIO, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _clean_character_set(ds: pydicom.Dataset) -> None:
    """Drop blank Specific Character Set values (some scanners write ``''``), which highdicom
    refuses; with none left the attribute goes and the default repertoire applies."""
    if "SpecificCharacterSet" not in ds:
        return
    value = ds.SpecificCharacterSet
    values = [value] if isinstance(value, str) else list(value or [])
    kept = [v.strip() for v in values if v and v.strip()]
    if not kept:
        del ds.SpecificCharacterSet
    elif kept != values:
        ds.SpecificCharacterSet = kept[0] if len(kept) == 1 else kept


def write_dicom_seg(
    volume: Volume,
    lung_labels: np.ndarray,
    opacity: np.ndarray,
    source_files: Sequence[str | Path],
    path: str | Path,
    *,
    model_name: str = "SCOAT-Net",
    notes: list[str] | None = None,
) -> Path:
    """Write the SEG for masks on ``volume``'s grid, referencing ``source_files``.

    What had to be adapted to write it is appended to ``notes``. Raises :class:`SegError` when
    the sources do not allow a SEG, :class:`OSError` (naming ``path``) when it cannot be written.
    """
    import highdicom as hd

    notes = [] if notes is None else notes
    sources = []
    for f in source_files:
        try:
            sources.append(pydicom.dcmread(str(f), stop_before_pixels=True))
        except (OSError, InvalidDicomError) as exc:
            raise SegError(f"{f}: cannot read the source header ({exc})") from exc
    if not sources:
        raise SegError("no source files to reference")
    for ds in sources:
        _clean_character_set(ds)
    sources = _frames(volume, sources, notes)
    _patient_and_study(sources, notes)
    masks = np.stack([lung_labels == 1, lung_labels == 2, opacity > 0], axis=-1)
    pixel_array = masks.astype(np.uint8)  # (frames, rows, cols, segments), frame k = slice k
    algorithm = hd.AlgorithmIdentificationSequence(
        name=f"SCOAT Follow-up ({model_name})", version=__version__,
        family=codes.cid7162.ArtificialIntelligence,
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=label, segmented_property_category=category,
            segmented_property_type=prop,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, label, category, prop in SEGMENTS
    ]
    with warnings.catch_warnings():
        # Source names like "JANCT000" have one component; highdicom warns, the SEG is fine.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=pixel_array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=901,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SCOAT Follow-up",
            manufacturer_model_name="SCOAT Follow-up", software_versions=__version__,
            device_serial_number="0", series_description="SCOAT lungs and opacification",
            omit_empty_frames=True,
        )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        seg.save_as(str(tmp))
        os.replace(tmp, path)
    except Exception as exc:
        # pydicom re-raises errors inside an element as ``type(exc)(message + traceback)``,
        # which loses the errno and the file: name them again, without the traceback.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if not isinstance(exc, OSError) and not isinstance(exc.__cause__, OSError):
            raise
        code, message = _cause_errno(exc)
        raise OSError(code, message, str(path)) from exc
    return path
