"""The CLI never turns a bad input into a number: cut volume files, unverified weights, and the
reason of an unusable file carried to `analyze`, `timeline`, `info` and `evaluate`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from scoat_core.cli.main import main
from scoat_core.io.images import write_image
from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.models.weights import (
    MANIFEST_NAME,
    checksum_path,
    find_entry,
    read_manifest,
    save_weights,
    shipped_models_dir,
)
from scoat_core.phantom import make_phantom


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny network saved with its .sha256 (verified) and a copy without (unverified)."""
    torch.manual_seed(0)
    config = ModelConfig(arch="scoat_net", width=2)
    folder = tmp_path_factory.mktemp("w")
    save_weights(create_model(config), config, folder / "tiny.safetensors",
                 metadata={"input_scale": "0.5", "pixel_mm": "4.0", "name": "tiny"})
    bare = tmp_path_factory.mktemp("bare") / "tiny.safetensors"
    shutil.copy2(folder / "tiny.safetensors", bare)
    assert not checksum_path(bare).exists()
    return folder / "tiny.safetensors", bare


@pytest.fixture(scope="module")
def ct(tmp_path_factory):
    return make_phantom(matrix=48, z_extent_mm=120).ct


def _err_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines()
            if ln.startswith("scoat:")]


def test_analyze_refuses_a_cut_nifti(ct, weights, tmp_path, capsys):
    path = write_image(ct, tmp_path / "PAT1_20200201.nii", compress=False)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.4)])
    assert main(["analyze", str(path), "--out", str(tmp_path / "o"), "--weights",
                 str(weights[0]), "--device", "cpu"]) == 1
    (line,) = _err_lines(capsys)
    assert "PAT1_20200201.nii" in line and "truncated: header promises" in line
    assert not (tmp_path / "o").exists()


def test_analyze_and_timeline_name_the_reason(ct, weights, tmp_path, capsys):
    arr = ct.array.astype(np.float32)
    arr[3, 4, 5] = np.nan
    write_image(ct.derive(arr), tmp_path / "bad.nii.gz")
    for command in ("analyze", "timeline", "info"):
        args = [command, str(tmp_path)]
        if command != "info":
            args += ["--out", str(tmp_path / "o"), "--weights", str(weights[0])]
        assert main(args) == 1
        line = _err_lines(capsys)[-1]
        assert ("no usable CT image series or volume found: bad.nii.gz: 1 voxels are NaN or "
                "infinite") in line, command


def test_info_names_unsupported_images(ct, tmp_path, capsys):
    write_image(ct, tmp_path / "PAT1_20200201.nii.gz")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    assert main(["info", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "photo.jpg: not DICOM or a volume file (JPEG image)" in err


def test_unverified_weights_need_the_flag_and_are_recorded(ct, weights, tmp_path, capsys):
    path = write_image(ct, tmp_path / "PAT1_20200201.nii.gz")
    args = ["analyze", str(path), "--out", str(tmp_path / "o"), "--weights", str(weights[1]),
            "--device", "cpu"]
    assert main(args) == 1
    (line,) = _err_lines(capsys)
    assert "tiny.safetensors: unverified model weights" in line
    assert "--trust-unverified-weights" in line
    assert main([*args, "--trust-unverified-weights"]) == 0
    assert "warning: unverified model weights" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["weights_verified"] is False and metrics["model"]["verified"] is False
    assert "unverified model weights" in metrics["warnings"]
    assert main(["analyze", str(path), "--out", str(tmp_path / "v"), "--weights",
                 str(weights[0]), "--device", "cpu"]) == 0
    metrics = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert metrics["weights_verified"] is True
    assert "unverified model weights" not in metrics["warnings"]


def test_a_changed_copy_of_the_shipped_model_is_refused(ct, tmp_path, capsys):
    entry = find_entry(read_manifest(shipped_models_dir() / MANIFEST_NAME))
    copy = tmp_path / entry["file"]
    data = bytearray((shipped_models_dir() / entry["file"]).read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    path = write_image(ct, tmp_path / "PAT1_20200201.nii.gz")
    for extra in ([], ["--trust-unverified-weights"]):
        assert main(["analyze", str(path), "--out", str(tmp_path / "o"), "--weights",
                     str(copy), *extra]) == 1
        (line,) = _err_lines(capsys)
        assert f"claims to be {entry['name']} but its SHA-256 differs" in line


def test_timeline_lists_an_unreadable_exam_with_its_reason(ct, weights, tmp_path, capsys):
    from datetime import date

    from scoat_core.volume import ExamInfo

    exams = tmp_path / "in"
    for day in ("20200201", "20200301", "20200401"):
        info = ExamInfo(patient_id="PAT1", study_date=date.fromisoformat(day))
        ct.info = info
        write_image(ct, exams / f"PAT1_{day}.nii", compress=False)
    cut = exams / "PAT1_20200301.nii"
    cut.write_bytes(cut.read_bytes()[:5000])
    out = tmp_path / "t"
    assert main(["timeline", str(exams), "--out", str(out), "--weights", str(weights[0]),
                 "--device", "cpu"]) == 3
    text = capsys.readouterr()
    assert "skipped" in text.err and "PAT1_20200301.nii: truncated" in text.err
    data = json.loads((out / "PAT1" / "timeline.json").read_text())
    assert len(data["exams"]) == 2
    (missing,) = data["not_analysed"]
    assert missing["study_date"] == "2020-03-01"
    assert missing["reason"].startswith("truncated: header promises")


def test_evaluate_takes_the_flag(weights, tmp_path, capsys):
    from skimage import io

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i in range(2):
        io.imsave(images / f"{i}.png", np.full((32, 32), 60 + i, np.uint8), check_contrast=False)
        io.imsave(masks / f"{i}.png", np.zeros((32, 32), np.uint8), check_contrast=False)
    args = ["evaluate", "--images", str(images), "--masks", str(masks), "--weights",
            str(weights[1]), "--device", "cpu", "--json", str(tmp_path / "m.json")]
    assert main(args) == 1
    assert "unverified model weights" in capsys.readouterr().err
    assert main([*args, "--trust-unverified-weights"]) == 0
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["weights_verified"] is False and result["model"]["verified"] is False


# ------------------------------------------------- summary flags: partial exams, unverified weights
@pytest.fixture(scope="module")
def whole():
    """A phantom CT that holds the whole lungs, 5 mm slices."""
    return make_phantom(matrix=48, z_extent_mm=260, slice_spacing_mm=5, slice_thickness_mm=5).ct


def sparse_of(ct):
    """Every third slice of ``ct``: 15 mm apart, too far for volumetry."""
    from scoat_core.volume import Volume

    return Volume(ct.array[::3].copy(), spacing=(*ct.spacing[:2], 15.0), origin=ct.origin)


SPARSE_FLAG = ("PARTIAL (no whole-lung volumetry: slices are 15 mm apart, more than the 10 mm "
               "volumetry allows)")


def test_analyze_summary_line_flags_a_sparse_volume_file(whole, weights, tmp_path, capsys):
    path = write_image(sparse_of(whole), tmp_path / "PAT1_20200201.nii.gz")
    assert main(["analyze", str(path), "--out", str(tmp_path / "o"), "--weights",
                 str(weights[0]), "--device", "cpu"]) == 0
    text = capsys.readouterr()
    (line,) = text.out.splitlines()
    assert line.endswith(f"-> {tmp_path / 'o'}  {SPARSE_FLAG}"), line
    (warning,) = [ln for ln in text.err.splitlines() if ln.startswith("scoat:")]
    assert warning.startswith(f"scoat: warning: {path}: partial exam")
    assert "slices are 15 mm apart" in warning and "Traceback" not in text.err
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["lungs_complete"] is False
    assert any("not comparable" in w for w in metrics["warnings"])


def test_analyze_summary_line_flags_only_what_is_wrong(whole, weights, tmp_path, capsys):
    path = write_image(whole, tmp_path / "PAT1_20200201.nii.gz")
    args = ["analyze", str(path), "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "v"), "--weights", str(weights[0])]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith(f"-> {tmp_path / 'v'}"), line  # no flag
    assert main([*args, "--out", str(tmp_path / "u"), "--weights", str(weights[1]),
                 "--trust-unverified-weights"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith(f"-> {tmp_path / 'u'}  UNVERIFIED weights"), line


def timeline_input(folder, volumes: dict):
    """``PAT1_<day>.nii.gz`` for each ``day: volume``."""
    for day, volume in volumes.items():
        write_image(volume, folder / f"PAT1_{day}.nii.gz")
    return folder


def exam_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("  2020-")]


def test_timeline_lines_json_and_csv_flag_partial_exams_and_unverified_weights(
        whole, weights, tmp_path, capsys):
    import csv

    exams = timeline_input(tmp_path / "in", {"20200201": whole, "20200301": sparse_of(whole)})
    out = tmp_path / "t"
    assert main(["timeline", str(exams), "--out", str(out), "--weights", str(weights[1]),
                 "--trust-unverified-weights", "--device", "cpu"]) == 0
    text = capsys.readouterr()
    first, second = exam_lines(text.out)
    assert first.endswith(")  UNVERIFIED weights") and "PARTIAL" not in first, first
    assert second.endswith(f")  {SPARSE_FLAG}  UNVERIFIED weights"), second
    assert "not comparable" in text.out
    data = json.loads((out / "PAT1" / "timeline.json").read_text())
    assert [e["weights_verified"] for e in data["exams"]] == [False, False]
    assert [e["partial_reason"] for e in data["exams"]] == [None, SPARSE_FLAG[9:-1]]
    with (out / "PAT1" / "timeline.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["weights_verified"], r["partial_reason"]) for r in rows] == [
        ("False", ""), ("False", SPARSE_FLAG[9:-1])]


def test_timeline_analyses_an_exam_rewritten_under_its_name_again(whole, weights, tmp_path,
                                                                  capsys):
    exams = timeline_input(tmp_path / "in", {"20200201": whole, "20200301": whole})
    args = ["timeline", str(exams), "--out", str(tmp_path / "t"), "--weights", str(weights[0]),
            "--device", "cpu"]
    assert main(args) == 0
    assert capsys.readouterr().err.count("analysing") == 2
    changed = whole.array.copy()
    changed[len(changed) // 2, 18:30, 8:16] = 30  # a consolidation: other pixels, same name
    write_image(whole.derive(changed, is_hu=True), exams / "PAT1_20200301.nii.gz")
    assert main(args) == 0
    (again,) = [ln for ln in capsys.readouterr().err.splitlines() if "analysing" in ln]
    assert again.endswith("PAT1 2020-03-01")
    assert main(args) == 0
    assert "analysing" not in capsys.readouterr().err


def test_timeline_on_a_full_disk_names_the_file_and_writes_nothing(whole, weights, tmp_path,
                                                                  capsys, monkeypatch):
    import errno

    import scoat_core.followup.timeline as tl

    class Full:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def writeheader(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    exams = timeline_input(tmp_path / "in", {"20200201": whole})
    monkeypatch.setattr(tl.csv, "DictWriter", Full)
    out = tmp_path / "t"
    assert main(["timeline", str(exams), "--out", str(out), "--weights", str(weights[0]),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("scoat:")]
    assert line == f"scoat: {out / 'PAT1' / 'timeline.csv'}: No space left on device"
    assert "Traceback" not in err
    assert not [p.name for p in (out / "PAT1").iterdir() if "timeline" in p.name]


def test_evaluate_json_on_a_full_disk_names_the_file(weights, tmp_path, capsys, monkeypatch):
    import errno
    import io as text_io

    from skimage import io

    import scoat_core.atomic as atomic

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    io.imsave(images / "0.png", np.full((32, 32), 60, np.uint8), check_contrast=False)
    io.imsave(masks / "0.png", np.zeros((32, 32), np.uint8), check_contrast=False)

    class FullFile(text_io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_open(path, *args, **kwargs):
        open(path, "wb").close()  # the temporary file exists, as on a real disk
        return FullFile()

    monkeypatch.setattr(atomic, "open", full_open, raising=False)
    target = tmp_path / "m.json"
    assert main(["evaluate", "--images", str(images), "--masks", str(masks), "--weights",
                 str(weights[0]), "--device", "cpu", "--json", str(target)]) == 1
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("scoat:")]
    assert line == f"scoat: {target}: No space left on device" and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "masks"]


# ------------------------------------------------- inputs the CLI refuses or flags (one line each)
def dicom_of(ct, folder):
    from scoat_core.io.dicom_write import write_dicom_series

    return write_dicom_series(ct, folder)


def edit_each(paths, edit) -> None:
    import pydicom

    for p in paths:
        ds = pydicom.dcmread(p)
        edit(ds)
        ds.save_as(p)


def conflicting_duplicates(ct, folder):
    """Copies of slices 2-6 with other pixels at the same positions, nothing telling them
    apart."""
    import pydicom
    from pydicom.uid import generate_uid

    paths = dicom_of(ct, folder)
    for k in range(2, 7):
        ds = pydicom.dcmread(paths[k])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PixelData = (ds.pixel_array // 2 + 7).astype(ds.pixel_array.dtype).tobytes()
        ds.save_as(folder / f"0dup{k}.dcm")
    return ["0dup2.dcm", "IM00002.dcm", "tells the acquisitions apart: the series mixes images"]


def no_pixel_spacing(ct, folder):
    edit_each(dicom_of(ct, folder), lambda ds: delattr(ds, "PixelSpacing"))
    return ["IM00000.dcm", "no PixelSpacing (nor a PixelMeasuresSequence or "
                           "ImagerPixelSpacing): the pixel size is unknown"]


@pytest.mark.parametrize("make", [conflicting_duplicates, no_pixel_spacing])
@pytest.mark.parametrize("command", ["info", "analyze"])
def test_a_series_that_cannot_be_trusted_is_refused_in_one_line(ct, weights, tmp_path, capsys,
                                                                make, command):
    folder = tmp_path / "series"
    expected = make(ct, folder)
    args = [command, str(folder)]
    if command == "analyze":
        args += ["--out", str(tmp_path / "o"), "--weights", str(weights[0]), "--device", "cpu"]
    assert main(args) == 1
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("scoat:")]
    assert all(text in line for text in expected), line
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_values_that_are_not_hu_are_refused_in_one_line(ct, weights, tmp_path, capsys):
    arr = ct.array.astype(np.float32)
    arr[2, 5:9, 5:9] = 1e30
    path = write_image(ct.derive(arr, is_hu=True), tmp_path / "PAT1_20200201.nii.gz")
    assert main(["analyze", str(path), "--out", str(tmp_path / "o"), "--weights",
                 str(weights[0]), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("scoat:")]
    assert line == (f"scoat: {path}: not in Hounsfield units; lung and opacity analysis "
                    "needs HU")
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def gapped(ct, folder):
    """55 mm of the lungs without slices."""
    paths = dicom_of(ct, folder)
    n = len(paths)
    for p in paths[n // 2 - 6 : n // 2 + 5]:
        p.unlink()
    return "no whole-lung volumetry: gaps leave 55 mm of the scanned range without slices"


def imager_pixel_spacing(ct, folder):
    """PixelSpacing moved to ImagerPixelSpacing (measured at the detector)."""
    def move(ds) -> None:
        ds.ImagerPixelSpacing = ds.PixelSpacing
        del ds.PixelSpacing

    edit_each(dicom_of(ct, folder), move)
    return "no whole-lung volumetry: no PixelSpacing; pixel size taken from ImagerPixelSpacing"


@pytest.mark.parametrize("make", [gapped, imager_pixel_spacing])
def test_geometry_that_does_not_make_a_volume_is_analysed_but_flagged_partial(
        whole, weights, tmp_path, capsys, make):
    folder = tmp_path / "series"
    reason = make(whole, folder)
    out = tmp_path / "o"
    assert main(["analyze", str(folder), "--out", str(out), "--weights", str(weights[0]),
                 "--device", "cpu"]) == 0
    text = capsys.readouterr()
    (summary,) = text.out.splitlines()
    assert f"-> {out}  PARTIAL ({reason}" in summary, summary
    (line,) = [ln for ln in text.err.splitlines() if ln.startswith("scoat:")]
    assert line.startswith(f"scoat: warning: {folder}: partial exam") and reason in line
    assert "Traceback" not in text.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["lungs_complete"] is False and metrics["severity_score"] is None


def test_a_truncated_slice_is_named_on_stderr_and_in_the_metrics(whole, weights, tmp_path,
                                                                 capsys):
    folder = tmp_path / "series"
    paths = dicom_of(whole, folder)
    cut = paths[len(paths) // 2]
    cut.write_bytes(cut.read_bytes()[:-500])
    out = tmp_path / "o"
    assert main(["analyze", str(folder), "--out", str(out), "--weights", str(weights[0]),
                 "--device", "cpu"]) == 0
    text = capsys.readouterr()
    (line,) = [ln for ln in text.err.splitlines() if ln.startswith("scoat:")]
    assert line.startswith("scoat: skipped ") and f"{cut.name}: truncated: pixel data" in line
    assert "Traceback" not in text.err and "PARTIAL" not in text.out  # one 5 mm hole: whole
    metrics = json.loads((out / "metrics.json").read_text())
    assert any(cut.name in w for w in metrics["warnings"])
    assert any(w.startswith("gap of 10.00 mm") for w in metrics["warnings"])
