"""Reading DICOM series into Volumes: real data against SimpleITK, geometry, codecs, bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, RLELossless

from scoat_core.io.dicom import read_dicom, read_series
from scoat_core.io.dicom_write import write_dicom_series
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
    UnsupportedModalityError,
)
from scoat_core.io.scan import scan_path
from scoat_core.progress import Cancelled
from scoat_core.volume import ExamInfo, Volume

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ------------------------------------------------------------------------------ helpers
def write_ct(folder: Path, n: int = 5, direction=None, series_uid: str = "", **info) -> Path:
    """A small synthetic CT series (64×64 pixels, 1.5 mm slices) written into ``folder``."""
    rng = np.random.default_rng(n)
    arr = rng.integers(-1024, 1000, size=(n, 64, 64)).astype(np.int16)
    exam = ExamInfo(patient_id="P1", series_uid=series_uid, study_uid="1.2.826.9.1", **info)
    vol = Volume(arr, spacing=(0.75, 0.75, 1.5), origin=(-6.0, -6.0, -50.0), info=exam)
    if direction is not None:
        vol.direction = np.asarray(direction, dtype=float)
    write_dicom_series(vol, folder)
    return folder


def edit(path: Path, **attrs) -> None:
    ds = pydicom.dcmread(path)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path)


def sitk_read(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same_as_sitk(vol: Volume, img: sitk.Image) -> None:
    np.testing.assert_allclose(vol.spacing, img.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(vol.origin, img.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(vol.direction.ravel(), img.GetDirection(), atol=1e-4)
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(img))


def data_file(name: str) -> str:
    try:
        return get_testdata_file(name)
    except Exception:  # pydicom-data missing (it would try to download)
        pytest.skip(f"pydicom test file {name} unavailable")
    raise AssertionError  # pragma: no cover


# ------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def ricord(ricord_dir) -> Volume:
    return read_dicom(ricord_dir)


def test_ricord_shape_spacing_hu(ricord):
    assert ricord.shape == (255, 512, 512)
    np.testing.assert_allclose(ricord.spacing, (0.703125, 0.703125, 1.25))
    assert ricord.array.dtype == np.int16 and ricord.is_hu and ricord.warnings == []
    assert ricord.array.min() == -3024
    assert ricord.info.kernel == "STANDARD" and ricord.info.kvp == 120.0


def test_ricord_sorted_along_normal(ricord, ricord_dir):
    """InstanceNumber decreases along +z: 1-001.dcm (most superior) must be the last slice."""
    np.testing.assert_allclose(ricord.direction, np.eye(3))
    top = pydicom.dcmread(ricord_dir / "1-001.dcm")
    bottom = pydicom.dcmread(ricord_dir / "1-255.dcm")
    assert float(top.ImagePositionPatient[2]) > float(bottom.ImagePositionPatient[2])
    np.testing.assert_allclose(ricord.origin, [float(v) for v in bottom.ImagePositionPatient])
    np.testing.assert_array_equal(ricord.array[-1], top.pixel_array - 1024)
    np.testing.assert_array_equal(ricord.array[0], bottom.pixel_array - 1024)


def test_ricord_matches_simpleitk(ricord, ricord_dir):
    assert_same_as_sitk(ricord, sitk_read(ricord_dir))


def test_three_slices_spacing_from_positions(three_slice_dir):
    vol = read_dicom(three_slice_dir)
    assert vol.shape == (3, 512, 512)
    assert vol.spacing[2] == pytest.approx(1.0, abs=1e-4)
    assert vol.info.slice_thickness_mm == 1.25
    assert vol.warnings == []
    assert_same_as_sitk(vol, sitk_read(three_slice_dir))


def test_serial_single_slice_exam(serial_dir):
    path = sorted(serial_dir.glob("*/*.dcm"))[0]
    vol = read_dicom(path)
    assert vol.shape == (1, 512, 512) and vol.is_hu
    assert vol.warnings[0].startswith("series has one slice")
    assert vol.spacing[2] == vol.info.slice_thickness_mm
    assert vol.info.source == str(path)


# ------------------------------------------------------------------------------ geometry
def test_synthetic_series_shuffled_names_and_progress(tmp_path):
    write_ct(tmp_path, n=5)
    names = sorted(tmp_path.iterdir())
    for i, p in enumerate(names):  # file names now run against slice order
        p.rename(tmp_path / f"x{len(names) - i}.dcm")
    calls = []
    vol = read_dicom(tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (10, 10)
    assert vol.origin[2] == pytest.approx(-50.0) and vol.spacing[2] == pytest.approx(1.5)


def test_instance_numbers_follow_the_slices_not_the_files(tmp_path):
    """Each slice keeps its file's InstanceNumber (what PACS shows), whatever the file names
    or the numbering direction; a slice without one reads None."""
    write_ct(tmp_path, n=5)
    for k, path in enumerate(sorted(tmp_path.iterdir())):  # numbered from the top
        edit(path, InstanceNumber=123 - k)
    vol = read_dicom(tmp_path)
    assert vol.instance_numbers == (123, 122, 121, 120, 119)
    assert Path(vol.source_files[0]).name == "IM00000.dcm"
    edit(tmp_path / "IM00002.dcm", InstanceNumber="")
    assert read_dicom(tmp_path).instance_numbers == (123, 122, None, 120, 119)
    assert read_dicom(data_file("eCT_Supplemental.dcm")).instance_numbers == ()  # multi-frame


def test_duplicates_gap_and_non_uniform(tmp_path):
    write_ct(tmp_path, n=6)
    shutil.copy(tmp_path / "IM00001.dcm", tmp_path / "dup.dcm")
    edit(tmp_path / "dup.dcm", SOPInstanceUID=pydicom.uid.generate_uid())
    (tmp_path / "IM00003.dcm").unlink()
    vol = read_dicom(tmp_path)
    assert vol.shape[0] == 5 and vol.spacing[2] == pytest.approx(1.5)
    text = " | ".join(vol.warnings)
    assert "1 duplicate slice removed" in text
    assert "gap of 3.00 mm" in text
    assert "non-uniform slice spacing" in text


def test_gantry_tilt_warning(tmp_path):
    write_ct(tmp_path, n=4)
    for k, p in enumerate(sorted(tmp_path.iterdir())):
        shift = k * 1.5 * np.tan(np.deg2rad(15))
        edit(p, ImagePositionPatient=[-6.0, -6.0 + shift, -50.0 + 1.5 * k], GantryDetectorTilt=15)
    vol = read_dicom(tmp_path)
    assert any("gantry tilt of 15.0°" in w for w in vol.warnings)
    np.testing.assert_allclose(vol.direction, np.eye(3))  # keeps the slice normal
    assert vol.spacing[2] == pytest.approx(1.5)


def test_mixed_orientations_is_geometry_error(tmp_path):
    write_ct(tmp_path / "s", n=3, series_uid="1.2.826.9.2")
    sagittal = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    write_ct(tmp_path / "t", n=2, direction=sagittal, series_uid="1.2.826.9.2")
    files = sorted(tmp_path.glob("*/*.dcm"))
    with pytest.raises(GeometryError, match="mixes slice orientations") as err:
        read_series(files)
    assert str(tmp_path) in str(err.value)
    series = scan_path(tmp_path).all_series()[0]
    assert any("orientation" in w for w in series.warnings)
    with pytest.raises(GeometryError, match=r"series \d+"):
        read_series(series)


def test_mixed_sizes_and_bad_pixel_spacing(tmp_path):
    write_ct(tmp_path, n=3)
    edit(tmp_path / "IM00001.dcm", PixelSpacing=[0, 0.75])
    with pytest.raises(GeometryError, match=r"pixel spacing 0 × 0\.75 mm is not positive") as err:
        read_dicom(tmp_path)
    assert "IM00001.dcm" in str(err.value)
    edit(tmp_path / "IM00001.dcm", PixelSpacing=[-0.75, 0.75])
    with pytest.raises(GeometryError, match="not positive"):
        read_dicom(tmp_path / "IM00001.dcm")
    ds = pydicom.dcmread(tmp_path / "IM00001.dcm")
    ds.PixelSpacing = [0.75, 0.75]
    ds.Rows, ds.PixelData = 32, ds.PixelData[: 32 * 64 * 2]
    ds.save_as(tmp_path / "IM00001.dcm")
    with pytest.raises(GeometryError, match="different sizes"):
        read_dicom(tmp_path)


# ------------------------------------------------------------------------------ codecs
def test_jpeg2000_ct_pair_identical():
    ref = read_dicom(data_file("693_UNCR.dcm"))
    j2k = read_dicom(data_file("693_J2KR.dcm"))
    np.testing.assert_array_equal(ref.array, j2k.array)
    assert ref.same_geometry(j2k) and j2k.is_hu


def test_jpeg2000_lossy_ct_pair():
    ref = read_dicom(data_file("693_UNCI.dcm"))
    j2k = read_dicom(data_file("693_J2KI.dcm"))
    np.testing.assert_array_equal(ref.array, j2k.array)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ],
)
def test_transfer_syntaxes_match_uncompressed(name):
    ref = read_series([data_file("MR_small.dcm")], allow_non_ct=True)
    other = read_series([data_file(name)], allow_non_ct=True)
    np.testing.assert_array_equal(ref.array, other.array)
    assert not other.is_hu


def test_jpeg_lossless_ct_plausible():
    vol = read_dicom(data_file("bad_sequence.dcm"))  # CT, JPEG Lossless SV1
    assert vol.shape == (1, 512, 512) and -1100 < vol.array.min() < -900 < 0 < vol.array.max()


def test_enhanced_ct_multiframe():
    path = data_file("eCT_Supplemental.dcm")
    vol = read_dicom(path)
    ds = pydicom.dcmread(path)
    frames = ds.PerFrameFunctionalGroupsSequence
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in frames]
    assert z == [-159.0, -149.0]
    # IOP (-1,0,0, 0,1,0): the normal is -z, so the frame at z=-149 comes first.
    np.testing.assert_allclose(vol.direction, np.diag([-1.0, 1.0, -1.0]))
    np.testing.assert_allclose(vol.origin, (99.5, -301.5, -149.0))
    np.testing.assert_allclose(vol.spacing, (0.388672, 0.388672, 10.0))
    np.testing.assert_array_equal(vol.array[0], ds.pixel_array[1].astype(int) - 1024)
    assert vol.info.contrast is True and vol.info.slice_thickness_mm == 10.0
    assert not vol.is_hu  # RescaleType "US": a perfusion map, not Hounsfield units


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
def test_enhanced_ct_compressed(tmp_path, syntax):
    path = data_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    ds.compress(syntax)
    ds.save_as(tmp_path / "ect.dcm")
    np.testing.assert_array_equal(read_dicom(tmp_path / "ect.dcm").array, read_dicom(path).array)


# ------------------------------------------------------------------------------ bad input
def test_missing_decoder_names_plugin(tmp_path, monkeypatch):
    from pydicom.pixels import get_decoder

    decoder = get_decoder(JPEG2000Lossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg-openjpeg",)})
    path = data_file("693_J2KR.dcm")
    with pytest.raises(DecodeError) as err:
        read_dicom(path)
    assert path in str(err.value)
    assert "JPEG 2000 pixel data needs pylibjpeg-openjpeg" in err.value.problem
    assert "\n" not in str(err.value)


def test_transfer_syntax_without_decoder(tmp_path):
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no pydicom decoder
    ds.PixelData = encapsulate([b"\0" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "mpeg.dcm")
    with pytest.raises(DecodeError, match=r"mpeg\.dcm: transfer syntax MPEG2.*no pixel data"):
        read_dicom(tmp_path / "mpeg.dcm")


def test_truncated_file(tmp_path):
    write_ct(tmp_path / "s", n=4)
    bad = tmp_path / "s" / "IM00002.dcm"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    for call in (lambda: read_dicom(bad), lambda: read_series(sorted(bad.parent.iterdir()))):
        with pytest.raises(TruncatedFileError, match="truncated") as err:
            call()
        assert str(bad) in str(err.value)
    vol = read_dicom(tmp_path)  # the scan skips the bad file and reads the rest
    assert vol.shape[0] == 3
    assert any("IM00002.dcm" in w and "truncated" in w for w in vol.warnings)
    assert any("gap" in w for w in vol.warnings)
    bad.write_bytes(data[:600])  # cut inside the header
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_series([bad])


def test_truncated_compressed_file(tmp_path):
    ds = pydicom.dcmread(data_file("693_J2KR.dcm"))
    ds.save_as(tmp_path / "j2k.dcm")
    data = (tmp_path / "j2k.dcm").read_bytes()
    (tmp_path / "j2k.dcm").write_bytes(data[: len(data) - 3000])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_dicom(tmp_path / "j2k.dcm")
    with pytest.raises(TruncatedFileError):
        read_series([tmp_path / "j2k.dcm"])


def test_text_file_named_dcm(tmp_path):
    bad = tmp_path / "notes.dcm"
    bad.write_text("this is not an image\n" * 20)
    with pytest.raises(NotDicomError, match="not a DICOM file") as err:
        read_dicom(bad)
    assert str(bad) in str(err.value)
    with pytest.raises(NotDicomError):
        read_series([bad])
    with pytest.raises(NoUsableSeriesError, match=r"notes\.dcm"):
        read_dicom(tmp_path)


def test_non_ct_modality(tmp_path):
    write_ct(tmp_path / "ct", n=3)
    write_ct(tmp_path / "mr", n=3, series_uid="1.2.826.9.3")
    for p in (tmp_path / "mr").iterdir():
        edit(p, Modality="MR", SOPClassUID=pydicom.uid.MRImageStorage)
    mr_file = tmp_path / "mr" / "IM00000.dcm"
    with pytest.raises(UnsupportedModalityError, match="modality MR is not CT") as err:
        read_dicom(mr_file)
    assert str(mr_file) in str(err.value)
    with pytest.raises(UnsupportedModalityError):
        read_series([mr_file])
    assert read_series([mr_file], allow_non_ct=True).is_hu is False
    vol = read_dicom(tmp_path)  # the CT series beside it is read
    assert vol.shape[0] == 3 and vol.info.modality == "CT"
    with pytest.raises(NoUsableSeriesError, match="modality MR is not CT"):
        read_dicom(tmp_path / "mr")


def test_single_slice_series_allowed(tmp_path):
    write_ct(tmp_path, n=1)
    vol = read_dicom(tmp_path)
    assert vol.shape[0] == 1 and vol.spacing[2] == 1.5
    assert vol.warnings == [
        "series has one slice; slice spacing taken from SpacingBetweenSlices (1.5 mm)"
    ]


def test_empty_and_missing(tmp_path):
    with pytest.raises(EmptyFolderError):
        read_dicom(tmp_path)
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "data.json").write_text("{}")  # a PNG is a named problem (test_volume_file_trust)
    with pytest.raises(EmptyFolderError, match="no DICOM files"):
        read_dicom(tmp_path)
    with pytest.raises(NotFoundError):
        read_dicom(tmp_path / "nope")
    with pytest.raises(NotFoundError):
        read_series([tmp_path / "nope.dcm"])


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files despite chmod 000"
)
def test_unreadable_file(tmp_path):
    write_ct(tmp_path, n=2)
    bad = tmp_path / "IM00001.dcm"
    bad.chmod(0)
    try:
        with pytest.raises(PermissionDeniedError, match="permission denied"):
            read_dicom(bad)
        assert any(p.path == str(bad) for p in scan_path(tmp_path).problems)
    finally:
        bad.chmod(0o644)


def test_permission_error_simulated(tmp_path, monkeypatch):
    """Runs as root too: open() of one file raises PermissionError."""
    import builtins

    import scoat_core.io.dicom as dicom_module

    write_ct(tmp_path, n=2)
    bad = tmp_path / "IM00001.dcm"

    def fake_open(file, *args, **kwargs):
        if str(file) == str(bad):
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(dicom_module, "open", fake_open, raising=False)
    with pytest.raises(PermissionDeniedError, match="permission denied") as err:
        read_series(sorted(tmp_path.iterdir()))
    assert str(bad) in str(err.value)


def test_cancel(tmp_path):
    write_ct(tmp_path, n=3)
    with pytest.raises(Cancelled):
        read_series(sorted(tmp_path.iterdir()), cancel=lambda: True)


def test_every_error_is_one_line_with_path(tmp_path):
    (tmp_path / "a.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    with pytest.raises(ScoatIOError) as err:
        read_dicom(tmp_path / "a.dcm")
    assert str(err.value).startswith(str(tmp_path / "a.dcm") + ": ")
    assert "\n" not in str(err.value)
