"""Volume files: NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd) and NRRD (.nrrd, .nhdr).

Read and written through SimpleITK, which keeps spacing, origin and direction in LPS (NIfTI's
RAS affine is converted on read and back on write). These files carry no exam date: the caller
gives one, or a ``YYYYMMDD`` in the file name is used.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
from datetime import date
from pathlib import Path

import numpy as np

from scoat_core.io.errors import (
    GeometryError,
    InvalidValuesError,
    NotFoundError,
    PermissionDeniedError,
    ScoatIOError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from scoat_core.volume import ExamInfo, Volume

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")

_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")


def is_volume_file(path: str | Path) -> bool:
    """True for a file name that this module reads."""
    return str(path).lower().endswith(VOLUME_SUFFIXES)


def volume_stem(path: str | Path) -> str:
    """The file name without its (possibly double) volume suffix."""
    name = Path(path).name
    for suffix in VOLUME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def date_from_name(path: str | Path) -> date | None:
    """A valid ``YYYYMMDD`` date found in the file name (or its folder name), else None."""
    p = Path(path)
    for text in (p.name, p.parent.name):
        for m in _DATE_IN_NAME.finditer(text):
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                continue
    return None


_GENERIC_STEMS = {"", "ct", "image", "img", "volume", "vol", "scan", "series"}


def patient_id_from_name(path: str | Path) -> str:
    """A patient label from the file name without its date; the folder's when the name is generic.

    ``PAT7_20200301.nii.gz`` → ``PAT7``; ``20200301_PAT7/ct.nii.gz`` → ``PAT7``.
    """
    p = Path(path)
    for text in (volume_stem(p), p.parent.name):
        label = _DATE_IN_NAME.sub("", text).strip(" _-.")
        if label.lower() not in _GENERIC_STEMS:
            return label
    return volume_stem(p)


def looks_like_hu(array: np.ndarray) -> tuple[bool, str]:
    """Decide whether voxel values are Hounsfield units; returns (verdict, reason).

    A chest CT in HU has air near −1000 (and usually lots of it), so its minimum is well below
    zero. Windowed display data (0–255 or 0–1) and plain 8-bit data do not.
    """
    if array.size == 0:
        return False, "the volume is empty"
    sample = array[:: max(1, array.shape[0] // 16)]
    lo, hi = float(np.min(sample)), float(np.max(sample))
    if array.dtype in (np.uint8, np.bool_):
        return False, f"8-bit data (range {lo:g}..{hi:g}), not Hounsfield units"
    if lo >= -50.0 and hi <= 255.0:
        return False, f"values {lo:g}..{hi:g} look like windowed display data, not HU"
    if lo > -500.0:
        return False, f"no air in the volume (minimum {lo:g}), so values are not HU"
    return True, ""


def read_image(path: str | Path, *, study_date: date | None = None) -> Volume:
    """Read a NIfTI/MHA/NRRD volume into a Volume; raises a ScoatIOError subclass on bad input."""
    import SimpleITK as sitk

    path = Path(path)
    _check_readable(path)
    if not is_volume_file(path):
        raise UnsupportedFormatError(path, f"not a volume file ({', '.join(VOLUME_SUFFIXES)})")
    _check_nifti_header(path)
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        reason = _first_line(exc)
        if "spacing" in reason.lower():
            raise GeometryError(path, f"invalid voxel spacing ({reason})") from exc
        raise ScoatIOError(path, f"cannot read the volume ({reason})") from exc
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise UnsupportedFormatError(path, "a multi-component (colour/vector) image, not a CT")
    if img.GetDimension() == 4 and img.GetSize()[3] == 1:
        img = img[:, :, :, 0]
    if img.GetDimension() not in (2, 3):
        raise UnsupportedFormatError(path, f"a {img.GetDimension()}-D image, expected 3-D")
    spacing = img.GetSpacing()
    if any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise GeometryError(path, f"voxel spacing {tuple(spacing)} is zero, negative or not finite")
    direction = np.array(img.GetDirection())
    if not np.all(np.isfinite(direction)) or abs(abs(np.linalg.det(_as3x3(direction))) - 1) > 1e-3:
        raise GeometryError(path, "the orientation matrix is not a rotation")
    volume = Volume.from_sitk(img)
    if np.issubdtype(volume.array.dtype, np.floating) and not np.all(np.isfinite(volume.array)):
        bad = int(np.count_nonzero(~np.isfinite(volume.array)))
        raise InvalidValuesError(path, f"{bad} voxels are NaN or infinite")
    hu, reason = looks_like_hu(volume.array)
    volume.is_hu = hu
    if not hu:
        volume.warnings.append(f"not in Hounsfield units: {reason}; HU-based numbers are refused")
    exam_date = study_date or date_from_name(path)
    if exam_date is None:
        volume.warnings.append("no exam date in the file or its name; give one")
    if volume.shape[0] == 1:
        volume.warnings.append("volume has one slice")
    volume.info = ExamInfo(
        patient_id=patient_id_from_name(path),
        study_date=exam_date,
        modality="CT",
        series_description=volume_stem(path),
        source=str(path),
    )
    return volume


def write_image(volume: Volume, path: str | Path, *, compress: bool = True) -> Path:
    """Write a volume (CT or mask) with its geometry; format from the suffix."""
    import SimpleITK as sitk

    path = Path(path)
    if not is_volume_file(path):
        formats = ", ".join(VOLUME_SUFFIXES)
        raise UnsupportedFormatError(path, f"cannot write this format (use {formats})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial{_suffix(path)}")
    sitk.WriteImage(volume.to_sitk(), str(tmp), useCompression=compress)
    os.replace(tmp, path)  # never leave a half-written file under the final name
    return path


def write_mask(mask: Volume, path: str | Path) -> Path:
    """Write a label mask as compact unsigned 8-bit (or 16-bit when labels need it)."""
    labels = mask.array
    dtype = np.uint8 if labels.size == 0 or int(labels.max()) < 256 else np.uint16
    return write_image(mask.derive(labels.astype(dtype, copy=False)), path)


def _check_nifti_header(path: Path) -> None:
    """Refuse NIfTI files that ITK would read wrongly without a word.

    ITK turns a zero pixdim into 1 mm and NaN voxels into 0, so both are checked on the file.
    """
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            header = f.read(348)
    except (OSError, EOFError) as exc:
        raise TruncatedFileError(path, f"cannot read the NIfTI header ({exc})") from exc
    if len(header) < 348:
        raise TruncatedFileError(path, "file ends inside the NIfTI header")
    for endian in "<>":
        if struct.unpack(endian + "i", header[:4])[0] == 348:
            break
    else:
        raise UnsupportedFormatError(path, "not a NIfTI-1 file (bad header size)")
    dims = struct.unpack(endian + "8h", header[40:56])
    pixdim = struct.unpack(endian + "8f", header[76:108])
    n = max(1, min(int(dims[0]), 3))
    bad = [p for p in pixdim[1 : n + 1] if not np.isfinite(p) or p <= 0]
    if bad:
        spacing = tuple(round(p, 6) for p in pixdim[1 : n + 1])
        raise GeometryError(path, f"voxel spacing {spacing} mm is zero, negative or not finite")
    float_types = {16: "f4", 64: "f8"}
    datatype = struct.unpack(endian + "h", header[70:72])[0]
    if datatype in float_types:
        offset = int(struct.unpack(endian + "f", header[108:112])[0])
        with opener(path, "rb") as f:
            f.seek(offset)
            data = np.frombuffer(f.read(), dtype=endian + float_types[datatype])
        bad_count = int(np.count_nonzero(~np.isfinite(data)))
        if bad_count:
            raise InvalidValuesError(path, f"{bad_count} voxels are NaN or infinite")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next(s for s in VOLUME_SUFFIXES if name.endswith(s))


def _as3x3(direction: np.ndarray) -> np.ndarray:
    n = round(float(np.sqrt(direction.size)))
    return direction.reshape(n, n)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise NotFoundError(path, "no such file or folder")
    if path.is_dir():
        raise UnsupportedFormatError(path, "is a folder, expected a volume file")
    if not os.access(path, os.R_OK):
        raise PermissionDeniedError(path, "permission denied")


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # SimpleITK's messages start with a source location; the last line says what went wrong.
    return lines[-1] if lines else type(exc).__name__
