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
        assert "claims to be scoat_net-w16 but its SHA-256 differs" in line


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
