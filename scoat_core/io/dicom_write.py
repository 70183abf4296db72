"""Write a Volume as a DICOM CT series: one CT Image Storage file per slice.

Files are Explicit VR Little Endian with a preamble and file meta, named ``IM00000.dcm``...
Voxels are stored as int16 with RescaleSlope 1: HU volumes use RescaleIntercept −1024 (stored =
HU + 1024), other volumes intercept 0, so integer values round-trip exactly; non-integer values
are rounded to the nearest integer. Slice ``k`` is placed at ``origin + k·spacing_z·normal``, where
the normal is the volume's third direction column. A left-handed direction (third column =
−row×column) is valid: readers sort slices along row×column, so they return the same physical
image with the slice order reversed.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from scoat_core import __version__
from scoat_core.volume import ExamInfo, Volume

#: Display window written into HU series (lung window).
LUNG_WINDOW = (-600.0, 1500.0)
HU_INTERCEPT = -1024


def _ds(value: float) -> str:
    """A decimal string (VR DS) of at most 16 characters, as precise as fits."""
    return format_number_as_ds(float(value)) if np.isfinite(value) else "0"


def _da(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _tm(value: time | None) -> str:
    if value is None:
        return ""
    text = value.strftime("%H%M%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def _stored_values(volume: Volume) -> tuple[np.ndarray, int]:
    """int16 stored values and the RescaleIntercept that maps them back to the volume values."""
    values = np.asarray(volume.array)
    if values.dtype.kind == "b":
        values = values.astype(np.int16)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)):
            raise ValueError("volume has NaN or infinite values; cannot write DICOM")
        values = np.rint(values)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    intercept = HU_INTERCEPT if volume.is_hu else 0
    if lo - intercept < -32768 or hi - intercept > 32767:
        if hi - lo > 65535:
            raise ValueError(f"values from {lo:g} to {hi:g} do not fit 16-bit DICOM pixels")
        intercept = int(np.floor((lo + hi) / 2))
    stored = (values.astype(np.int64) - intercept).astype(np.int16)
    return stored, intercept


def _window(volume: Volume, stored: np.ndarray, intercept: int) -> tuple[float, float]:
    if volume.is_hu:
        return LUNG_WINDOW
    lo, hi = float(stored.min()) + intercept, float(stored.max()) + intercept
    return (lo + hi) / 2, max(hi - lo, 1.0)


def _file_meta(sop_instance_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"SCOAT_{__version__}"[:16]
    return meta


def _series_dataset(
    volume: Volume, description: str, series_number: int, uids: dict[str, str]
) -> Dataset:
    """Attributes shared by every slice: patient, study, series, equipment, image pixel."""
    info: ExamInfo = volume.info
    now = datetime.now()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.InstanceCreationDate, ds.InstanceCreationTime = (
        now.strftime("%Y%m%d"),
        now.strftime("%H%M%S"),
    )
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = _da(info.study_date)
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = _tm(info.study_time)
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = info.manufacturer
    ds.ReferringPhysicianName = ""
    ds.StationName = info.station
    ds.StudyDescription = info.study_description
    ds.SeriesDescription = description
    ds.ManufacturerModelName = info.model
    ds.PatientName = info.patient_name
    ds.PatientID = info.patient_id
    ds.PatientBirthDate = _da(info.birth_date)
    ds.PatientSex = info.patient_sex
    if info.contrast is not None:
        ds.ContrastBolusAgent = "CONTRAST" if info.contrast else "NONE"
    if info.kvp is not None:
        ds.KVP = _ds(info.kvp)
    if info.kernel:
        ds.ConvolutionKernel = info.kernel.split("/") if "/" in info.kernel else info.kernel
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.StudyID = ""
    ds.SeriesNumber = series_number
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU" if volume.is_hu else "US"
    return ds


def _geometry_attributes(ds: Dataset, volume: Volume) -> None:
    """Orientation, pixel spacing (DICOM order: row, column) and slice thickness/spacing."""
    sx, sy, sz = volume.spacing
    row, col = volume.direction[:, 0], volume.direction[:, 1]
    ds.ImageOrientationPatient = [_ds(v) for v in (*row, *col)]
    ds.PixelSpacing = [_ds(sy), _ds(sx)]
    ds.SliceThickness = _ds(volume.info.slice_thickness_mm or sz)
    ds.SpacingBetweenSlices = _ds(sz)


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    *,
    series_description: str | None = None,
    series_number: int = 1,
    uid_prefix: str | None = None,
) -> list[Path]:
    """Write ``volume`` as CT Image Storage files ``IM00000.dcm``... in ``folder``.

    Study and series UIDs come from ``volume.info`` (generated when empty, with ``uid_prefix``
    if given, e.g. ``"1.2.826.0.1.3680043.8.498."``). Returns the paths in slice order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = volume.info
    prefix = uid_prefix or "1.2.826.0.1.3680043.8.498."
    uids = {
        "study": info.study_uid or generate_uid(prefix),
        "series": info.series_uid or generate_uid(prefix),
        "frame": generate_uid(prefix),
    }
    description = info.series_description if series_description is None else series_description
    base = _series_dataset(volume, description, series_number, uids)
    _geometry_attributes(base, volume)
    stored, intercept = _stored_values(volume)
    base.RescaleIntercept = str(intercept)
    center, width = _window(volume, stored, intercept)
    base.WindowCenter, base.WindowWidth = _ds(center), _ds(width)
    normal = volume.direction[:, 2]
    paths = []
    for k in range(volume.shape[0]):
        position = np.asarray(volume.origin) + k * volume.spacing[2] * normal
        path = folder / f"IM{k:05d}.dcm"
        _write_slice(base, stored[k], position, k, path, prefix)
        paths.append(path)
    return paths


def _write_slice(
    base: Dataset, pixels: np.ndarray, position: np.ndarray, k: int, path: Path, prefix: str
) -> None:
    ds = Dataset()
    ds.update(base)
    sop_uid = generate_uid(prefix)
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [_ds(v) for v in position]
    row = np.array([float(v) for v in base.ImageOrientationPatient[:3]])
    col = np.array([float(v) for v in base.ImageOrientationPatient[3:]])
    ds.SliceLocation = _ds(float(position @ np.cross(row, col)))
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2").tobytes()
    ds.file_meta = _file_meta(sop_uid)
    ds.save_as(path, enforce_file_format=True)
