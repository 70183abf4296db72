"""NIfTI / MHA / NRRD reading and writing, exam dates from names, HU detection, bad files."""

from __future__ import annotations

import gzip
import struct
from datetime import date

import numpy as np
import pytest

from scoat_core.io.errors import (
    GeometryError,
    InvalidValuesError,
    NotFoundError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from scoat_core.io.images import (
    date_from_name,
    looks_like_hu,
    patient_id_from_name,
    read_image,
    write_image,
    write_mask,
)
from scoat_core.volume import Volume


def oblique_direction() -> np.ndarray:
    a, b = np.deg2rad(20), np.deg2rad(7)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def ct_volume() -> Volume:
    rng = np.random.default_rng(0)
    arr = rng.integers(-1024, 1500, size=(7, 9, 11)).astype(np.int16)
    return Volume(arr, spacing=(0.7, 0.8, 2.5), origin=(-120.5, 33.25, -400.0),
                  direction=oblique_direction())


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha", ".nrrd"])
def test_round_trip_keeps_geometry_and_values(tmp_path, suffix):
    vol = ct_volume()
    path = write_image(vol, tmp_path / f"P1_20200304{suffix}")
    back = read_image(path)
    assert np.array_equal(back.array, vol.array)
    assert np.allclose(back.spacing, vol.spacing, atol=1e-5)
    assert np.allclose(back.origin, vol.origin, atol=1e-4)
    assert np.allclose(back.direction, vol.direction, atol=1e-5)
    assert back.is_hu
    assert back.info.study_date == date(2020, 3, 4)
    assert back.info.patient_id == "P1"
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"


def test_mask_written_as_uint8_with_source_geometry(tmp_path):
    vol = ct_volume()
    mask = vol.derive((vol.array > 0).astype(np.int64))
    back = read_image(write_mask(mask, tmp_path / "lesion_mask.nii.gz"))
    assert back.array.dtype == np.uint8
    assert back.same_geometry(vol, tol=1e-4)
    assert np.array_equal(back.array, mask.array)


def test_date_and_patient_from_names(tmp_path):
    assert date_from_name("exam_20211231.nii.gz") == date(2021, 12, 31)
    assert date_from_name("20200201_DEMO/ct.nii.gz") == date(2020, 2, 1)
    assert date_from_name("scan_20201340.nii") is None  # month 13 is not a date
    assert date_from_name("ct.nii") is None
    assert patient_id_from_name("20200201_DEMO001/ct.nii.gz") == "DEMO001"
    assert patient_id_from_name("PAT7-20200301.mha") == "PAT7"


def test_caller_date_wins_and_missing_date_is_flagged(tmp_path):
    path = write_image(ct_volume(), tmp_path / "ct.nii.gz")
    assert any("no exam date" in w for w in read_image(path).warnings)
    assert read_image(path, study_date=date(2020, 1, 2)).info.study_date == date(2020, 1, 2)


def test_windowed_8bit_data_is_marked_not_hu(tmp_path):
    vol = ct_volume()
    windowed = vol.derive(np.clip((vol.array + 1250) / 1500 * 255, 0, 255).astype(np.uint8))
    back = read_image(write_image(windowed, tmp_path / "windowed_20200101.nii.gz"))
    assert not back.is_hu
    assert any("not in Hounsfield units" in w for w in back.warnings)
    as_float = windowed.derive(windowed.array.astype(np.float32))
    assert not looks_like_hu(as_float.array)[0]


def test_nan_voxels_are_refused(tmp_path):
    vol = ct_volume()
    arr = vol.array.astype(np.float32)
    arr[1, 2, 3] = np.nan
    arr[2, 2, 2] = np.inf
    path = write_image(vol.derive(arr), tmp_path / "bad.nii.gz")
    with pytest.raises(InvalidValuesError, match=r"bad\.nii\.gz: 2 voxels are NaN or infinite"):
        read_image(path)


def _set_nifti_pixdim(path, index: int, value: float) -> None:
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[76 + 4 * index : 80 + 4 * index] = struct.pack("<f", value)
    path.write_bytes(gzip.compress(bytes(data)))


@pytest.mark.parametrize("value", [0.0, -0.7])
def test_zero_or_negative_nifti_spacing_is_refused(tmp_path, value):
    path = write_image(ct_volume(), tmp_path / "spacing.nii.gz")
    _set_nifti_pixdim(path, 1, value)
    with pytest.raises(GeometryError, match=r"spacing\.nii\.gz: voxel spacing .* zero, negative"):
        read_image(path)


def test_zero_mha_spacing_is_refused(tmp_path):
    path = write_image(ct_volume(), tmp_path / "zero.mha", compress=False)
    text = path.read_bytes()
    start = text.index(b"ElementSpacing = ")
    end = text.index(b"\n", start)
    path.write_bytes(text[:start] + b"ElementSpacing = 0 0.8 2.5" + text[end:])
    with pytest.raises(GeometryError, match=r"zero\.mha: invalid voxel spacing"):
        read_image(path)


def test_truncated_and_wrong_files(tmp_path):
    path = write_image(ct_volume(), tmp_path / "cut.nii", compress=False)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(TruncatedFileError, match=r"cut\.nii: file ends inside the NIfTI header"):
        read_image(path)
    with pytest.raises(NotFoundError, match="no such file"):
        read_image(tmp_path / "missing.nii.gz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnsupportedFormatError, match=r"notes\.txt: not a volume file"):
        read_image(tmp_path / "notes.txt")
