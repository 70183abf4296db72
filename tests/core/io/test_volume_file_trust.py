"""Volume files that would give a plausible wrong number: cut files, missing or damaged data files,
values that cannot be HU, NaN; and the reasons carried to `NoUsableSeriesError`."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from scoat_core.io.errors import (
    DecodeError,
    NotFoundError,
    NoUsableSeriesError,
    TruncatedFileError,
)
from scoat_core.io.exams import find_exams
from scoat_core.io.images import looks_like_hu, read_image, write_image
from scoat_core.volume import Volume


def ct() -> Volume:
    rng = np.random.default_rng(0)
    arr = rng.integers(-1024, 1500, size=(6, 20, 20)).astype(np.int16)
    return Volume(arr, spacing=(0.7, 0.8, 2.5))


ATTACHED = [(".nii", False), (".nii.gz", True), (".mha", False), (".mha", True),
            (".nrrd", False), (".nrrd", True)]
DETACHED = [(".mhd", False), (".mhd", True), (".nhdr", False), (".nhdr", True)]


def _data_file(header):
    """The one voxel data file ITK wrote beside a detached header."""
    (data,) = [p for p in header.parent.iterdir() if p != header]
    return data


@pytest.mark.parametrize(("suffix", "compress"), ATTACHED)
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_cut_volume_file_is_refused(tmp_path, suffix, compress, dtype):
    vol = ct()
    path = write_image(vol.derive(vol.array.astype(dtype)), tmp_path / f"cut{suffix}",
                       compress=compress)
    expected = vol.array.size * np.dtype(dtype).itemsize
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.4)])
    with pytest.raises(TruncatedFileError, match=rf"cut{suffix.replace('.', r'.')}: truncated: "
                       rf"header promises {expected} bytes of voxels, file holds \d+$"):
        read_image(path)


@pytest.mark.parametrize(("suffix", "compress"), DETACHED)
def test_cut_or_missing_data_file_is_refused(tmp_path, suffix, compress):
    path = write_image(ct(), tmp_path / f"ct{suffix}", compress=compress)
    data = _data_file(path)
    content = data.read_bytes()
    data.write_bytes(content[: len(content) // 2])
    with pytest.raises(TruncatedFileError, match=rf"ct{suffix}: truncated: header promises "
                       rf"4800 bytes of voxels, data file {data.name} holds \d+"):
        read_image(path)
    data.unlink()
    with pytest.raises(NotFoundError, match=rf"ct{suffix}: its voxel data file .* is missing"):
        read_image(path)


@pytest.mark.parametrize(("suffix", "compress"), ATTACHED + DETACHED)
def test_whole_files_still_read_exactly(tmp_path, suffix, compress):
    vol = ct()
    back = read_image(write_image(vol, tmp_path / f"ok{suffix}", compress=compress))
    assert np.array_equal(back.array, vol.array)


def test_damaged_gzip_is_refused(tmp_path):
    path = write_image(ct(), tmp_path / "bad.nii.gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises((DecodeError, TruncatedFileError), match=r"bad\.nii\.gz: "):
        read_image(path)
    path.write_bytes(b"not gzip at all" * 40)
    with pytest.raises(DecodeError, match=r"bad\.nii\.gz: not valid gzip data"):
        read_image(path)


def test_nii_gz_is_read_not_the_nii_beside_it(tmp_path):
    """ITK, asked for x.nii.gz, silently reads x.nii when one lies in the same folder."""
    vol = ct()
    write_image(vol, tmp_path / "x.nii.gz")
    write_image(vol.derive(np.full(vol.shape, 7, np.int16)), tmp_path / "x.nii", compress=False)
    assert np.array_equal(read_image(tmp_path / "x.nii.gz").array, vol.array)
    assert int(read_image(tmp_path / "x.nii").array.max()) == 7


def test_values_that_cannot_be_hu(tmp_path):
    vol = ct()
    arr = vol.array.astype(np.float32)
    arr[2, 5:9, 5:9] = 1e30
    back = read_image(write_image(vol.derive(arr), tmp_path / "huge.nii.gz"))
    assert not back.is_hu
    assert any("outside any Hounsfield range" in w for w in back.warnings)
    assert not looks_like_hu(np.full((4, 4, 4), -3e5, np.float32))[0]
    nan = arr.copy()
    nan[0, 0, 0] = np.nan
    verdict, reason = looks_like_hu(nan)
    assert not verdict and reason == "1 voxels are NaN or infinite"
    assert looks_like_hu(vol.array)[0]  # plain CT stays HU


def test_no_usable_error_carries_the_reasons(tmp_path):
    vol = ct()
    arr = vol.array.astype(np.float32)
    arr[1, 1, 1] = np.nan
    write_image(vol.derive(arr), tmp_path / "bad.nii", compress=False)
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    inventory = find_exams(tmp_path, load=False)
    assert not inventory.usable_series()
    err = NoUsableSeriesError.from_inventory(tmp_path, inventory)
    text = str(err)
    assert text.startswith(f"{tmp_path}: no usable CT image series or volume found: ")
    assert "bad.nii: 1 voxels are NaN or infinite" in text
    assert "photo.png: not DICOM or a volume file (PNG image)" in text
    assert "\n" not in text and len(err.reasons) == 2


def test_no_usable_error_lists_at_most_five_reasons(tmp_path):
    err = NoUsableSeriesError(tmp_path, reasons=[f"f{i}.nii: bad" for i in range(8)])
    assert str(err).endswith("f4.nii: bad; and 3 more") and len(err.reasons) == 8


def test_gzip_cut_inside_the_header_is_named(tmp_path):
    path = write_image(ct(), tmp_path / "h.nii.gz")
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:200]))
    with pytest.raises(TruncatedFileError, match=r"h\.nii\.gz: file ends inside the NIfTI header"):
        read_image(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr"])
def test_nan_voxels_are_refused_in_every_format(tmp_path, suffix):
    from scoat_core.io.errors import InvalidValuesError

    vol = ct()
    arr = vol.array.astype(np.float32)
    arr[1, 2, 3], arr[2, 3, 4] = np.nan, -np.inf
    path = write_image(vol.derive(arr), tmp_path / f"nan{suffix}")
    with pytest.raises(InvalidValuesError, match=r"nan\.\w+(\.gz)?: 2 voxels are NaN or infinite"):
        read_image(path)


# ---------------------------------------------------------- sparse stacks: the DICOM rule too
@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
@pytest.mark.parametrize(("slices", "step"), [(2, 260.0), (6, 12.0)])
def test_slices_too_far_apart_are_read_but_not_volumetric(tmp_path, suffix, slices, step):
    """A 2-slice stack 260 mm apart, or one 12 mm apart, cannot give whole-lung volumes."""
    arr = ct().array[:slices]
    path = write_image(Volume(arr, spacing=(0.7, 0.8, step)), tmp_path / f"PAT1_20200101{suffix}")
    vol = read_image(path)
    (problem,) = vol.volumetry_problems
    assert problem == (f"no whole-lung volumetry: slices are {step:g} mm apart, more than the "
                       "10 mm volumetry allows")
    assert vol.shape[0] == slices and problem in vol.warnings
    entry = find_exams(path, load=False).series()[0]
    assert entry.usable and problem in entry.warnings  # listed, and flagged in `scoat info`


@pytest.mark.parametrize("step", [2.5, 10.0])
def test_slices_up_to_10_mm_apart_are_volumetric(tmp_path, step):
    path = write_image(Volume(ct().array, spacing=(0.7, 0.8, step)), tmp_path / "v.nii.gz")
    assert read_image(path).volumetry_problems == []
