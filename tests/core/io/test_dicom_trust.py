"""Geometry and values the DICOM reader must refuse or flag (issue 14: never a plausible wrong
number): conflicting duplicates, sparse or gapped stacks, unreadable slices, an unknown pixel
size, values that cannot be Hounsfield units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from scoat_core.io.dicom import read_dicom, read_series
from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.io.errors import GeometryError, ScoatIOError
from scoat_core.io.exams import find_exams, load_series
from scoat_core.io.scan import scan_path
from scoat_core.volume import NOT_VOLUMETRIC, ExamInfo, Volume

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

STUDY = "1.2.826.0.1.3680043.8.498.14"


# ------------------------------------------------------------------------------ helpers
def write_ct(
    folder: Path, n: int = 10, step: float = 1.5, thickness: float | None = None, seed: int = 0
) -> list[Path]:
    """A small CT series (32×32 pixels of random HU) in ``folder``; paths in slice order."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1024, 1000, size=(n, 32, 32)).astype(np.int16)
    exam = ExamInfo(patient_id="P1", study_uid=STUDY, slice_thickness_mm=thickness)
    vol = Volume(arr, spacing=(0.75, 0.75, step), origin=(-6.0, -6.0, -50.0), info=exam)
    return write_dicom_series(vol, folder)


def edit(path: Path, **attrs) -> None:
    ds = pydicom.dcmread(path)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path)


def remove(path: Path, *keywords: str) -> None:
    ds = pydicom.dcmread(path)
    for keyword in keywords:
        delattr(ds, keyword)
    ds.save_as(path)


def copy_slice(src: Path, dst: Path, *, change_pixels: bool, **attrs) -> Path:
    """Another instance at the position of ``src`` (new SOP instance UID), pixels changed or not."""
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    if change_pixels:
        ds.PixelData = (ds.pixel_array // 2 + 7).astype(ds.pixel_array.dtype).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(dst)
    return dst


def shift(path: Path, dz: float) -> None:
    ds = pydicom.dcmread(path)
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    ds.ImagePositionPatient = [x, y, z + dz]
    ds.save_as(path)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 500])


# --------------------------------------------------------------- 1. conflicting duplicates
def test_conflicting_duplicates_without_a_distinction_are_refused(tmp_path):
    paths = write_ct(tmp_path, n=10)
    for k in range(2, 7):  # named to sort before the originals: file order must not decide
        copy_slice(paths[k], tmp_path / f"0dup{k}.dcm", change_pixels=True)
    with pytest.raises(GeometryError, match="different images") as err:
        read_dicom(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "0dup" in message and "\n" not in message
    with pytest.raises(GeometryError, match="different images"):
        read_series(scan_path(tmp_path).all_series()[0])


def test_conflicting_duplicates_split_by_acquisition_number(tmp_path):
    paths = write_ct(tmp_path, n=10)
    for p in paths:
        edit(p, AcquisitionNumber=1)
    reference = read_dicom(tmp_path).array.copy()
    for k in range(2, 7):
        copy_slice(paths[k], tmp_path / f"0dup{k}.dcm", change_pixels=True, AcquisitionNumber=2)
    vol = read_dicom(tmp_path)
    np.testing.assert_array_equal(vol.array, reference)
    assert any("AcquisitionNumber" in w and "2 acquisitions" in w for w in vol.warnings)
    # what a DICOM SEG must reference: the files read, one per slice, not the other acquisition
    assert sorted(vol.source_files) == sorted(str(p) for p in paths)


def test_conflicting_duplicates_split_by_image_type(tmp_path):
    paths = write_ct(tmp_path, n=10)
    reference = read_dicom(tmp_path).array.copy()
    for k in range(3, 8):
        copy_slice(
            paths[k],
            tmp_path / f"0dup{k}.dcm",
            change_pixels=True,
            ImageType=["DERIVED", "SECONDARY", "AXIAL"],
        )
    vol = read_dicom(tmp_path)
    np.testing.assert_array_equal(vol.array, reference)
    assert any("ImageType" in w for w in vol.warnings)


def test_two_whole_acquisitions_of_one_size_are_refused(tmp_path):
    paths = write_ct(tmp_path, n=6)
    for p in paths:
        edit(p, AcquisitionNumber=1)
    for k, p in enumerate(paths):
        copy_slice(p, tmp_path / f"B{k}.dcm", change_pixels=True, AcquisitionNumber=2)
    with pytest.raises(GeometryError, match="AcquisitionNumber") as err:
        read_dicom(tmp_path)
    assert "which" in err.value.problem


def test_identical_duplicates_are_dropped_with_a_warning(tmp_path):
    paths = write_ct(tmp_path, n=10)
    reference = read_dicom(tmp_path).array.copy()
    for k in range(2, 7):
        copy_slice(paths[k], tmp_path / f"0dup{k}.dcm", change_pixels=False)
    vol = read_dicom(tmp_path)
    np.testing.assert_array_equal(vol.array, reference)
    assert any("5 duplicate slices removed" in w for w in vol.warnings)
    assert vol.volumetry_problems == []


def test_enhanced_frames_with_different_images_at_one_position_are_refused(tmp_path):
    try:
        ds = pydicom.dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    except Exception:  # pydicom-data missing (it would try to download)
        pytest.skip("pydicom test file eCT_Supplemental.dcm unavailable")
    frames = ds.PerFrameFunctionalGroupsSequence
    first = frames[0].PlanePositionSequence[0].ImagePositionPatient
    frames[1].PlanePositionSequence[0].ImagePositionPatient = first
    ds.save_as(tmp_path / "ect.dcm")
    with pytest.raises(GeometryError, match=r"frames 0 and 1 of ect\.dcm"):
        read_dicom(tmp_path / "ect.dcm")


# ---------------------------------------------------------------------- 2. sparse stacks
def test_two_slices_far_apart_are_not_a_volume(tmp_path):
    write_ct(tmp_path, n=2, step=260.0, thickness=1.0)
    vol = read_dicom(tmp_path)
    (problem, *_) = vol.volumetry_problems
    assert problem.startswith(NOT_VOLUMETRIC) and "260 mm" in problem


def test_a_large_gap_is_not_a_volume(tmp_path):
    paths = write_ct(tmp_path, n=20)
    for p in paths[10:]:
        shift(p, 58.5)  # a 60 mm step between slices 9 and 10
    vol = read_dicom(tmp_path)
    assert any("gap of 60.00 mm" in w for w in vol.warnings)
    assert len(vol.volumetry_problems) == 1 and "58.5 mm" in vol.volumetry_problems[0]


def test_small_gaps_that_add_up_are_not_a_volume(tmp_path):
    paths = write_ct(tmp_path, n=40)
    paths[20].unlink()  # one missing slice: a gap, still a volume
    vol = read_dicom(tmp_path)
    assert any("gap of 3.00 mm" in w for w in vol.warnings) and vol.volumetry_problems == []
    for k in (4, 8, 12, 16, 24, 28, 32):  # 8 missing slices: 12 mm of the range not imaged
        paths[k].unlink()
    assert "12 mm" in read_dicom(tmp_path).volumetry_problems[0]


def test_slices_spaced_far_above_their_thickness_are_not_a_volume(tmp_path):
    write_ct(tmp_path / "thin", n=10, step=5.0, thickness=1.0)
    (problem,) = read_dicom(tmp_path / "thin").volumetry_problems
    assert "5 mm apart" in problem and "1 mm thick" in problem
    write_ct(tmp_path / "thick", n=10, step=5.0, thickness=5.0)
    assert read_dicom(tmp_path / "thick").volumetry_problems == []


def test_slices_more_than_10_mm_apart_are_not_a_volume(tmp_path):
    write_ct(tmp_path, n=10, step=12.0, thickness=12.0)
    (problem,) = read_dicom(tmp_path).volumetry_problems
    assert "12 mm apart" in problem and "10 mm" in problem


def test_an_ordinary_series_is_a_volume(tmp_path):
    write_ct(tmp_path, n=10, step=1.5, thickness=1.5)
    vol = read_dicom(tmp_path)
    assert vol.warnings == [] and vol.volumetry_problems == [] and vol.is_hu


# -------------------------------------------------------------------- 3. unreadable slices
def test_a_truncated_slice_is_named_on_the_analysis_path(tmp_path):
    paths = write_ct(tmp_path, n=8)
    truncate(paths[3])
    entry = find_exams(tmp_path, load=False).series()[0]
    vol = load_series(entry)  # what `scoat analyze` and the app read
    assert vol.shape[0] == 7
    named = [w for w in vol.warnings if paths[3].name in w]
    assert named and "truncated" in named[0] and "missing" in named[0]
    assert any("gap of 3.00 mm" in w for w in vol.warnings)
    inventory = find_exams(tmp_path)  # `scoat info`: the read warning, once
    assert sum(paths[3].name in w for w in inventory.series()[0].warnings) == 1


def test_truncated_slices_leave_a_gap_that_counts(tmp_path):
    paths = write_ct(tmp_path, n=20)
    for p in paths[6:14]:  # 8 slices: 12 mm without slices
        truncate(p)
    series = scan_path(tmp_path).all_series()[0]
    vol = read_series(series)
    assert sum("truncated" in w for w in vol.warnings) == 1
    assert "8 files of the series could not be read" in " ".join(vol.warnings)
    assert vol.volumetry_problems and "12 mm" in vol.volumetry_problems[0]


def test_a_file_cut_inside_its_header_is_named_too(tmp_path):
    paths = write_ct(tmp_path, n=6)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[:300])
    vol = load_series(find_exams(tmp_path, load=False).series()[0])
    assert any(paths[2].name in w for w in vol.warnings)


# ---------------------------------------------------------------------- 4. pixel spacing
def test_missing_pixel_spacing_is_refused(tmp_path):
    paths = write_ct(tmp_path, n=5)
    for p in paths:
        remove(p, "PixelSpacing")
    with pytest.raises(GeometryError, match="no PixelSpacing") as err:
        read_dicom(tmp_path)
    assert paths[0].name in str(err.value)
    with pytest.raises(GeometryError, match="no PixelSpacing"):
        read_series([paths[0]])


def test_pixel_spacing_missing_in_one_file_is_refused(tmp_path):
    paths = write_ct(tmp_path, n=5)
    remove(paths[3], "PixelSpacing")
    with pytest.raises(GeometryError, match="no PixelSpacing") as err:
        read_series(paths)
    assert paths[3].name in str(err.value)


def test_imager_pixel_spacing_is_used_and_flagged(tmp_path):
    paths = write_ct(tmp_path, n=5)
    for p in paths:
        remove(p, "PixelSpacing")
        edit(p, ImagerPixelSpacing=[0.75, 0.75])
    vol = read_dicom(tmp_path)
    assert vol.spacing[:2] == (0.75, 0.75)
    (problem,) = vol.volumetry_problems
    assert "ImagerPixelSpacing" in problem


# ---------------------------------------------------------------------- 5. not HU values
def test_absurd_rescale_is_not_hu(tmp_path):
    paths = write_ct(tmp_path, n=5)
    for p in paths:
        edit(p, RescaleSlope="1e27")
    vol = read_dicom(tmp_path)
    assert not vol.is_hu
    assert any(w.startswith("not in Hounsfield units") for w in vol.warnings)


def test_one_absurd_slice_is_not_hu(tmp_path):
    paths = write_ct(tmp_path, n=10)
    edit(paths[7], RescaleSlope="1e27")
    vol = read_dicom(tmp_path)
    assert not vol.is_hu
    assert any(paths[7].name in w or "slice 7" in w for w in vol.warnings)


def test_scaled_values_are_not_hu(tmp_path):
    paths = write_ct(tmp_path, n=5)
    for p in paths:
        edit(p, RescaleSlope="10")
    assert not read_dicom(tmp_path).is_hu


def test_real_hu_ranges_with_padding_and_metal_stay_hu(tmp_path):
    arr = np.full((4, 32, 32), -3024, np.int16)  # padding outside the field of view
    arr[:, 4:28, 4:28] = -1000
    arr[:, 10:20, 10:20] = 40
    arr[:, 12, 12] = 3071  # metal
    vol = Volume(arr, spacing=(0.75, 0.75, 1.5), info=ExamInfo(patient_id="P1"))
    write_dicom_series(vol, tmp_path)
    back = read_dicom(tmp_path)
    assert back.is_hu and back.warnings == []


# ------------------------------------------------------------------------------ real data
def test_real_series_keep_their_shape_and_are_volumes(ricord_dir, three_slice_dir):
    ricord = read_dicom(ricord_dir)
    assert ricord.shape == (255, 512, 512) and ricord.warnings == [] and ricord.is_hu
    three = read_dicom(three_slice_dir)
    assert three.shape == (3, 512, 512) and three.volumetry_problems == [] and three.is_hu


def test_float_pixel_data_is_named_as_unsupported_not_truncated(tmp_path, capsys):
    from scoat_core.cli.main import main

    paths = write_ct(tmp_path, n=3)
    for p in paths:
        ds = pydicom.dcmread(p)
        pixels = ds.pixel_array.astype(np.float32)
        del ds.PixelData
        ds.FloatPixelData = pixels.tobytes()
        ds.BitsAllocated = 32
        ds.save_as(p)
    with pytest.raises(ScoatIOError, match="FloatPixelData") as err:
        read_dicom(tmp_path)
    assert "truncated" not in str(err.value)
    assert main(["info", str(tmp_path)]) == 1
    err_text = capsys.readouterr().err
    assert "FloatPixelData" in err_text and "truncated" not in err_text
