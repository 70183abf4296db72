"""Writing a Volume as a DICOM CT series and reading it back (pydicom, SimpleITK, our reader)."""

from __future__ import annotations

from datetime import date, time

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from scoat_core.io.dicom import read_dicom, read_series
from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.volume import ExamInfo, Volume

INFO = ExamInfo(
    patient_id="PAT-7",
    patient_name="Doe^Jane",
    birth_date=date(1950, 1, 2),
    patient_sex="F",
    study_date=date(2020, 3, 1),
    study_time=time(10, 11, 12, 500000),
    study_description="CT CHEST",
    series_description="LUNG 1.0",
    modality="CT",
    manufacturer="ACME",
    model="Scanner X",
    station="CT01",
    kernel="Br60f/3",
    slice_thickness_mm=2.0,
    kvp=120.0,
    contrast=True,
)


def rotation_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


CORONAL = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # rows go feet-ward, slices posterior


def ct_volume(direction: np.ndarray, info: ExamInfo = INFO) -> Volume:
    rng = np.random.default_rng(1)
    arr = rng.integers(-1024, 2000, size=(6, 9, 11)).astype(np.int16)
    arr[0, 0, 0], arr[0, 0, 1] = -3024, 3071
    return Volume(
        arr,
        spacing=(0.7, 0.8, 2.5),
        origin=(-120.5, 33.25, -400.0),
        direction=direction,
        info=info,
    )


@pytest.mark.parametrize("direction", [rotation_z(20), CORONAL], ids=["rot20z", "coronal"])
def test_round_trip_exact(tmp_path, direction):
    vol = ct_volume(direction)
    paths = write_dicom_series(vol, tmp_path)
    assert [p.name for p in paths] == [f"IM{k:05d}.dcm" for k in range(6)]
    back = read_dicom(tmp_path)
    assert back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.spacing, vol.spacing, atol=1e-4)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, vol.direction, atol=1e-4)
    assert back.is_hu and back.warnings == []
    info = back.info
    for name in (
        "patient_id", "patient_name", "birth_date", "patient_sex", "study_date", "study_time",
        "study_description", "series_description", "manufacturer", "model", "station",
        "kernel", "slice_thickness_mm", "kvp", "contrast",
    ):  # fmt: skip
        assert getattr(info, name) == getattr(INFO, name), name
    assert info.modality == "CT" and info.series_number == 1
    assert info.study_uid and info.series_uid  # generated


def test_files_are_valid_ct_image_storage(tmp_path):
    vol = ct_volume(rotation_z(20))
    paths = write_dicom_series(vol, tmp_path, series_description="SCOAT", series_number=7)
    raw = paths[0].read_bytes()
    assert raw[:128] == b"\0" * 128 and raw[128:132] == b"DICM"
    ds = pydicom.dcmread(paths[2])
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage == ds.file_meta.MediaStorageSOPClassUID
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert [float(v) for v in ds.PixelSpacing] == [0.8, 0.7]  # DICOM order: row, column
    assert float(ds.SpacingBetweenSlices) == 2.5 and float(ds.SliceThickness) == 2.0
    assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (-1024, 1)
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (-600, 1500)
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert ds.InstanceNumber == 3 and ds.SeriesNumber == 7 and ds.SeriesDescription == "SCOAT"
    assert list(ds.ConvolutionKernel) == ["Br60f", "3"] and ds.ContrastBolusAgent
    expected = np.asarray(vol.origin) + 2 * 2.5 * vol.direction[:, 2]
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], expected, atol=1e-4)
    np.testing.assert_array_equal(ds.pixel_array + ds.RescaleIntercept, vol.array[2])
    uids = {pydicom.dcmread(p).SOPInstanceUID for p in paths}
    assert len(uids) == len(paths)


def test_simpleitk_reads_written_series(tmp_path):
    vol = ct_volume(rotation_z(20))
    write_dicom_series(vol, tmp_path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    img = reader.Execute()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), vol.array)
    np.testing.assert_allclose(img.GetSpacing(), vol.spacing, atol=1e-4)
    np.testing.assert_allclose(img.GetOrigin(), vol.origin, atol=1e-4)
    np.testing.assert_allclose(img.GetDirection(), vol.direction.ravel(), atol=1e-4)


def test_float_hu_rounded_and_uids_kept(tmp_path):
    vol = ct_volume(np.eye(3), INFO.replace(study_uid="1.2.3.4", series_uid="1.2.3.5"))
    vol.array = vol.array.astype(np.float32) + 0.4
    write_dicom_series(vol, tmp_path, uid_prefix="1.2.826.0.1.3680043.8.498.99.")
    back = read_series(sorted(tmp_path.glob("*.dcm")))
    np.testing.assert_array_equal(back.array, np.rint(vol.array))
    assert (back.info.study_uid, back.info.series_uid) == ("1.2.3.4", "1.2.3.5")
    sop = pydicom.dcmread(tmp_path / "IM00000.dcm").SOPInstanceUID
    assert sop.startswith("1.2.826.0.1.3680043.8.498.99.")


def test_non_hu_volume_and_no_contrast(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    vol = Volume(arr, spacing=(1, 1, 3), info=INFO.replace(contrast=False), is_hu=False)
    write_dicom_series(vol, tmp_path)
    ds = pydicom.dcmread(tmp_path / "IM00000.dcm")
    assert float(ds.RescaleIntercept) == 0 and ds.RescaleType == "US"
    back = read_dicom(tmp_path)
    np.testing.assert_array_equal(back.array, arr)
    assert back.info.contrast is False


def test_large_values_shift_intercept(tmp_path):
    vol = ct_volume(np.eye(3))
    vol.array = vol.array.astype(np.int32)
    vol.array[1, 1, 1] = 40000
    write_dicom_series(vol, tmp_path)
    np.testing.assert_array_equal(read_dicom(tmp_path).array, vol.array)


def test_left_handed_direction_same_physical_image(tmp_path):
    """A flipped normal is written as is; the reader returns the same voxels in LPS space."""
    direction = np.diag([1.0, 1.0, -1.0])
    vol = ct_volume(direction)
    write_dicom_series(vol, tmp_path)
    back = read_dicom(tmp_path)
    np.testing.assert_array_equal(back.array, vol.array[::-1])
    last = vol.index_to_lps(np.array([0, 0, vol.shape[0] - 1]))
    np.testing.assert_allclose(back.origin, last, atol=1e-4)
