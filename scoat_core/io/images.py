"""Volume files: NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd) and NRRD (.nrrd, .nhdr).

Read and written through SimpleITK, which keeps spacing, origin and direction in LPS (NIfTI's
RAS affine is converted on read and back on write). These files carry no exam date: the caller
gives one, or a ``YYYYMMDD`` in the file name is used. Their slices are held to the rule of
DICOM stacks (:mod:`scoat_core.io.volumetry`): slices over 10 mm apart are read, but marked not
volumetric (the exam is then partial).
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import BinaryIO

import numpy as np

from scoat_core.io.errors import (
    DecodeError,
    GeometryError,
    InvalidValuesError,
    NotFoundError,
    PermissionDeniedError,
    ScoatIOError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from scoat_core.io.volumetry import uniform_stack_problems
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


#: Values any CT in Hounsfield units stays within: 16-bit stored values with the usual rescale
#: give -33792..64511, plus a margin for resampling. Anything outside is not HU.
HU_PLAUSIBLE_RANGE = (-40_000.0, 70_000.0)


def looks_like_hu(array: np.ndarray) -> tuple[bool, str]:
    """Decide whether voxel values are Hounsfield units; returns (verdict, reason).

    A chest CT in HU has air near −1000 (and usually lots of it), so its minimum is well below
    zero. Windowed display data (0–255 or 0–1) and plain 8-bit data do not; values beyond
    :data:`HU_PLAUSIBLE_RANGE` (1e30 fill values, garbage) and NaN/infinity are not HU either.
    """
    if array.size == 0:
        return False, "the volume is empty"
    lo, hi = float(np.min(array)), float(np.max(array))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        return False, f"{bad} voxels are NaN or infinite"
    if array.dtype in (np.uint8, np.bool_):
        return False, f"8-bit data (range {lo:g}..{hi:g}), not Hounsfield units"
    if lo < HU_PLAUSIBLE_RANGE[0] or hi > HU_PLAUSIBLE_RANGE[1]:
        return False, (f"values {lo:g}..{hi:g} are outside any Hounsfield range "
                       f"({HU_PLAUSIBLE_RANGE[0]:g}..{HU_PLAUSIBLE_RANGE[1]:g})")
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
    _check_voxel_data(path)
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        img = _itk_read(path)
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
    # the rule DICOM stacks follow: slices too far apart are read, but marked not volumetric
    volume.warnings.extend(uniform_stack_problems(volume.shape[0], volume.spacing[2]))
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


def _check_voxel_data(path: Path) -> None:
    """Refuse a volume file whose voxel data is shorter than its header says (ITK fills the rest
    with zeros without a word), or whose data file is missing or damaged."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti_header(path)
    elif name.endswith((".mha", ".mhd")):
        _check_metaimage(path)
    elif name.endswith((".nrrd", ".nhdr")):
        _check_nrrd(path)


#: Bytes per voxel of the NIfTI-1 data types (bitpix / 8 is used for the others).
_NIFTI_ITEM_BYTES = {2: 1, 4: 2, 8: 4, 16: 4, 32: 8, 64: 8, 128: 3, 256: 1, 512: 2, 768: 4,
                     1024: 8, 1280: 8, 1536: 16, 1792: 16, 2048: 32, 2304: 4}
_CHUNK = 1 << 23


def _check_nifti_header(path: Path) -> None:
    """Refuse NIfTI files that ITK would read wrongly without a word.

    ITK turns a zero pixdim into 1 mm, NaN voxels into 0 and missing voxels (a cut file) into 0,
    so spacing, NaN and the length of the voxel data are checked on the file.
    """
    gz = path.name.lower().endswith(".gz")
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            header = f.read(348)
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DecodeError(path, f"not valid gzip data ({exc})") from exc
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
    if not 1 <= dims[0] <= 7 or any(d < 1 for d in dims[1 : dims[0] + 1]):
        raise UnsupportedFormatError(path, f"bad NIfTI header: dimensions {dims[: dims[0] + 1]}")
    pixdim = struct.unpack(endian + "8f", header[76:108])
    n = max(1, min(int(dims[0]), 3))
    bad = [p for p in pixdim[1 : n + 1] if not np.isfinite(p) or p <= 0]
    if bad:
        spacing = tuple(round(p, 6) for p in pixdim[1 : n + 1])
        raise GeometryError(path, f"voxel spacing {spacing} mm is zero, negative or not finite")
    datatype, bitpix = struct.unpack(endian + "2h", header[70:74])
    item = _NIFTI_ITEM_BYTES.get(datatype) or max(0, bitpix) // 8
    if item == 0:
        raise UnsupportedFormatError(path, f"unsupported NIfTI data type {datatype}")
    offset = int(struct.unpack(endian + "f", header[108:112])[0])
    expected = int(np.prod(dims[1 : dims[0] + 1], dtype=np.int64)) * item
    float_dtype = {16: "f4", 64: "f8"}.get(datatype)
    if not gz and float_dtype is None:
        held, n_bad = max(0, path.stat().st_size - offset), 0
    else:
        dtype = np.dtype(endian + float_dtype) if float_dtype else None
        try:
            with open(path, "rb") as f:
                if not gz:
                    f.seek(offset)
                held, n_bad = _count_voxel_bytes(_blocks(f, gz), offset if gz else 0,
                                                 expected, dtype)
        except zlib.error as exc:
            raise DecodeError(path, f"damaged gzip data ({exc})") from exc
    if held < expected:
        raise TruncatedFileError(path, _truncated(expected, held))
    if n_bad:
        raise InvalidValuesError(path, f"{n_bad} voxels are NaN or infinite")


def _blocks(f: BinaryIO, compressed: bool) -> Iterator[bytes]:
    """The bytes of an open file from its position on; inflated when ``compressed`` (zlib or
    gzip, several members one after another, each followed by an empty block once its checksum
    has been verified). Damaged compressed data raises ``zlib.error``."""
    if not compressed:
        while block := f.read(_CHUNK):
            yield block
        return
    inflater = zlib.decompressobj(47)  # 32 + 15: zlib or gzip header, detected
    pending = b""
    while True:
        if not pending:
            pending = f.read(_CHUNK)
            if not pending:
                return  # a stream cut short simply ends here
        out = inflater.decompress(pending, _CHUNK)
        pending = inflater.unconsumed_tail
        if out:
            yield out
        if inflater.eof:
            yield b""
            pending, inflater = inflater.unused_data, zlib.decompressobj(47)


def _count_voxel_bytes(blocks: Iterator[bytes], skip: int, expected: int,
                       dtype: np.dtype | None = None) -> tuple[int, int]:
    """(voxel bytes present after the first ``skip`` bytes, up to ``expected``; how many of
    those values are NaN or infinite when ``dtype`` is a float type). A compressed stream is
    read to the end of the member holding the last voxels, so that its checksum is checked."""
    held, n_bad, rest = 0, 0, b""
    for block in blocks:
        if held >= expected:
            if not block:
                break
            continue
        if skip:
            cut = min(skip, len(block))
            block, skip = block[cut:], skip - cut
        block = block[: expected - held]
        held += len(block)
        if dtype is not None and block:
            data = rest + block
            usable = len(data) - len(data) % dtype.itemsize
            n_bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(data[:usable], dtype))))
            rest = data[usable:]
    return held, n_bad


def _truncated(expected: int, held: int, where: str = "file") -> str:
    return f"truncated: header promises {expected} bytes of voxels, {where} holds {held}"


#: Bytes per value of the MetaImage element types.
_META_ITEM_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4,
                    "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8,
                    "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def _read_text_header(path: Path, is_end) -> tuple[list[str], int]:
    """The header lines of a text-headed format up to the line where ``is_end(line)`` (kept), and
    the byte offset after it (the attached data's start)."""
    lines: list[str] = []
    with open(path, "rb") as f:
        for _ in range(1000):
            raw = f.readline(1 << 16)
            if not raw:
                break
            line = raw.decode("latin-1").rstrip("\r\n")
            lines.append(line)
            if is_end(line):
                break
        return lines, f.tell()


def _data_file(path: Path, name: str) -> Path:
    data = path.parent / name
    if not data.is_file():
        raise NotFoundError(path, f"its voxel data file {name} is missing")
    return data


def _check_metaimage(path: Path) -> None:
    """Length of a MetaImage's voxel data (attached or in ElementDataFile) against its header."""
    lines, start = _read_text_header(
        path, lambda line: line.split("=", 1)[0].strip().lower() == "elementdatafile")
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition("=") for ln in lines)}
    item = _META_ITEM_BYTES.get(fields.get("elementtype", "").upper())
    try:
        sizes = [int(v) for v in fields.get("dimsize", "").split()]
        channels = int(fields.get("elementnumberofchannels", "1"))
        header_size = int(fields.get("headersize", "0"))
    except ValueError as exc:
        raise UnsupportedFormatError(path, f"bad MetaImage header ({exc})") from exc
    data_name = fields.get("elementdatafile", "")
    if not data_name:
        raise UnsupportedFormatError(path, "not a MetaImage file (no ElementDataFile)")
    if (item is None or not sizes or fields.get("binarydata", "true").lower() == "false"
            or data_name.upper() == "LIST" or " " in data_name or "%" in data_name):
        return  # ASCII data, a list of slice files or an unknown type: left to ITK
    expected = int(np.prod(sizes, dtype=np.int64)) * channels * item
    data = path if data_name.upper() == "LOCAL" else _data_file(path, data_name)
    offset = start if data is path else max(0, header_size)
    where = "file" if data is path else f"data file {data.name}"
    if fields.get("compresseddata", "false").lower() == "true":
        try:
            with open(data, "rb") as f:
                f.seek(offset)
                held = _count_voxel_bytes(_blocks(f, True), 0, expected)[0]
        except zlib.error as exc:
            raise DecodeError(path, f"damaged compressed voxel data ({exc})") from exc
    elif header_size == -1:  # the data is the end of the file
        held = data.stat().st_size - (start if data is path else 0)
    else:
        held = data.stat().st_size - offset
    if held < expected:
        raise TruncatedFileError(path, _truncated(expected, max(0, held), where))


#: Bytes per value of the NRRD types (every spelling the format allows).
_NRRD_ITEM_BYTES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8",
                     "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16",
                     "int16_t", "ushort", "unsigned short", "unsigned short int", "uint16",
                     "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32",
                     "uint32_t", "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long",
                     "signed long long int", "int64", "int64_t", "ulonglong",
                     "unsigned long long", "unsigned long long int", "uint64", "uint64_t",
                     "double"), 8),
}


def _check_nrrd(path: Path) -> None:
    """Length of a NRRD's raw or gzip voxel data (attached or in its data file)."""
    lines, start = _read_text_header(path, lambda line: line == "")
    if not lines or not lines[0].startswith("NRRD"):
        raise UnsupportedFormatError(path, "not a NRRD file (no NRRD magic)")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.startswith("#") or ":=" in line or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower().replace(" ", "")] = value.strip()
    item = _NRRD_ITEM_BYTES.get(" ".join(fields.get("type", "").lower().split()))
    encoding = fields.get("encoding", "").lower()
    try:
        sizes = [int(v) for v in fields.get("sizes", "").split()]
        line_skip = int(fields.get("lineskip", "0"))
        byte_skip = int(fields.get("byteskip", "0"))
    except ValueError as exc:
        raise UnsupportedFormatError(path, f"bad NRRD header ({exc})") from exc
    data_name = fields.get("datafile", "")
    if (item is None or not sizes or encoding not in ("raw", "gzip", "gz")
            or data_name.upper().startswith("LIST") or " " in data_name or "%" in data_name):
        return  # text or bzip2 data, a list of files or an unknown type: left to ITK
    expected = int(np.prod(sizes, dtype=np.int64)) * item
    data = _data_file(path, data_name) if data_name else path
    where = "file" if data is path else f"data file {data.name}"
    with open(data, "rb") as f:
        f.seek(start if data is path else 0)
        for _ in range(max(0, line_skip)):
            f.readline()
        if encoding == "raw":
            if byte_skip == -1:  # the data is the end of the file
                held = data.stat().st_size - f.tell()
            else:
                held = data.stat().st_size - f.tell() - byte_skip
        else:
            try:  # the byte skip applies to the inflated data
                held = _count_voxel_bytes(_blocks(f, True), max(0, byte_skip), expected)[0]
            except zlib.error as exc:
                raise DecodeError(path, f"damaged gzip voxel data ({exc})") from exc
    if held < expected:
        raise TruncatedFileError(path, _truncated(expected, max(0, held), where))


def _itk_read(path: Path):
    """``sitk.ReadImage`` of exactly this file.

    ITK's NIfTI reader, given ``x.nii.gz``, reads ``x.nii`` (or ``x.hdr``) when one lies beside
    it: such a file is read through a link (or copy) in a folder of its own.
    """
    import SimpleITK as sitk

    name = path.name
    if not name.lower().endswith(".nii.gz"):
        return sitk.ReadImage(str(path))
    stem = name[: -len(".nii.gz")]
    if not any(path.with_name(stem + s).exists() for s in (".nii", ".hdr", ".NII", ".HDR")):
        return sitk.ReadImage(str(path))
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="scoat-read-") as tmp:
        alias = Path(tmp) / "volume.nii.gz"
        try:
            alias.symlink_to(path.resolve())
        except OSError:
            shutil.copyfile(path, alias)
        return sitk.ReadImage(str(alias))


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
