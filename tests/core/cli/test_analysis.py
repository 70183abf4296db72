"""`scoat analyze` and `scoat timeline` end to end on phantoms with a tiny untrained network."""

from __future__ import annotations

import json

import pytest
import torch

from scoat_core.cli.main import main
from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.models.weights import save_weights
from scoat_core.phantom import make_timeline, write_timeline


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(arch="scoat_net", width=2)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(create_model(config), config, path,
                 metadata={"input_scale": "0.5", "pixel_mm": "4.0", "name": "tiny"})
    return path


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    out = tmp_path_factory.mktemp("patient")
    write_timeline(make_timeline(2, seed=1, matrix=80, z_extent_mm=150), out, nifti=False)
    return out


def test_analyze_one_exam(patient, tiny_weights, tmp_path, capsys):
    exam = sorted(patient.iterdir())[0] / "dicom"
    assert main(["analyze", str(exam), "--out", str(tmp_path / "a"), "--weights",
                 str(tiny_weights), "--device", "cpu"]) == 0
    assert "LOV" in capsys.readouterr().out
    names = {p.name for p in (tmp_path / "a").iterdir()}
    assert names == {"lung_mask.nii.gz", "opacity_mask.nii.gz", "metrics.json", "metrics.csv",
                     "analysis_seg.dcm"}


def test_analyze_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "x.dcm").write_text("not dicom")
    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no usable" in err[0]
    assert not (tmp_path / "o").exists()


def test_timeline_writes_table_plot_and_reuses_cache(patient, tiny_weights, tmp_path, capsys):
    out = tmp_path / "t"
    args = ["timeline", str(patient), "--out", str(out), "--weights", str(tiny_weights),
            "--device", "cpu"]
    assert main(args) == 0
    text = capsys.readouterr()
    assert "Patient PHANTOM-0001" in text.out and "analysing" in text.err
    folder = out / "PHANTOM-0001"
    data = json.loads((folder / "timeline.json").read_text())
    assert len(data["exams"]) == 2 and len(data["changes"]["consecutive"]) == 1
    assert (folder / "timeline.png").stat().st_size > 10_000
    assert (folder / "timeline.csv").read_text().startswith("label,study_date")
    assert main(args) == 0  # second run: every exam comes from the cache
    assert "analysing" not in capsys.readouterr().err


def test_timeline_cache_of_another_analysis_version_is_redone(patient, tiny_weights, tmp_path,
                                                              capsys, monkeypatch):
    import scoat_core

    out = tmp_path / "t"
    args = ["timeline", str(patient), "--out", str(out), "--weights", str(tiny_weights),
            "--device", "cpu"]
    assert main(args) == 0
    capsys.readouterr()
    monkeypatch.setattr(scoat_core, "ANALYSIS_VERSION", scoat_core.ANALYSIS_VERSION + 1)
    assert main(args) == 0
    assert capsys.readouterr().err.count("analysing") == 2


@pytest.fixture(scope="module")
def patient_with_a_bad_exam(tmp_path_factory, erase_lungs):
    out = tmp_path_factory.mktemp("bad")
    write_timeline(make_timeline(3, seed=2, matrix=80, z_extent_mm=150), out, nifti=False)
    erase_lungs(sorted(out.iterdir())[1] / "dicom")
    return out


def test_timeline_goes_on_past_an_exam_without_lungs(patient_with_a_bad_exam, tiny_weights,
                                                      tmp_path, capsys):
    out = tmp_path / "t"
    status = main(["timeline", str(patient_with_a_bad_exam), "--out", str(out), "--weights",
                   str(tiny_weights), "--device", "cpu"])
    text = capsys.readouterr()
    assert status == 3
    assert "skipped" in text.err and "no lungs found" in text.err
    assert "1 of 3 exams could not be analysed" in text.err
    (folder,) = [p for p in out.iterdir() if (p / "timeline.json").exists()]
    data = json.loads((folder / "timeline.json").read_text())
    assert len(data["exams"]) == 2 and len(data["changes"]["consecutive"]) == 1
    (missing,) = data["not_analysed"]
    assert "no lungs found" in missing["reason"] and missing["study_date"]
    assert "not analysed" in text.out


def test_analyze_folder_of_exams_reports_each_failure(patient_with_a_bad_exam, tiny_weights,
                                                       tmp_path, capsys):
    out = tmp_path / "a"
    status = main(["analyze", str(patient_with_a_bad_exam), "--out", str(out), "--weights",
                   str(tiny_weights), "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 3 and err.count("scoat: skipped") == 1
    assert len(list(out.glob("*/metrics.json"))) == 2


# ------------------------------------------------------------------ issue 14: output folder, disk
def scoat_lines(err: str) -> list[str]:
    """The error lines of the ``scoat`` command (warnings and progress aside)."""
    return [line for line in err.splitlines()
            if line.startswith("scoat:") and not line.startswith("scoat: warning")]


@pytest.mark.parametrize("command", ["analyze", "timeline"])
def test_out_that_is_a_file_fails_before_the_analysis(patient, tiny_weights, tmp_path, capsys,
                                                      monkeypatch, command):
    import scoat_core.analysis.pipeline as pipeline

    def forbidden(*args, **kwargs):
        raise AssertionError("analysed before checking --out")

    monkeypatch.setattr(pipeline, "analyze", forbidden)
    monkeypatch.setattr(pipeline, "load_model", forbidden)
    out = tmp_path / "results.txt"
    out.write_text("not a folder")
    exam = sorted(patient.iterdir())[0] / "dicom" if command == "analyze" else patient
    assert main([command, str(exam), "--out", str(out), "--weights", str(tiny_weights),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert str(out) in line and "is a file" in line
    assert out.read_text() == "not a folder"


def test_full_disk_is_one_line_naming_the_file(patient, tiny_weights, tmp_path, capsys,
                                               monkeypatch):
    import errno

    import scoat_core.analysis.output as output

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.csv, "writer", full)  # metrics.csv: disk full
    exam = sorted(patient.iterdir())[0] / "dicom"
    out = tmp_path / "a"
    assert main(["analyze", str(exam), "--out", str(out), "--weights", str(tiny_weights),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert scoat_lines(err) == [f"scoat: {out / 'metrics.csv'}: No space left on device"]
    assert "Traceback" not in err and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_full_disk_inside_pydicom_prints_no_traceback(patient, tiny_weights, tmp_path, capsys,
                                                      monkeypatch):
    """pydicom folds a traceback into the message of an error inside an element."""
    import errno

    import pydicom.filewriter as filewriter

    real = filewriter.write_data_element

    def full(fp, elem, *args, **kwargs):
        if elem.tag == 0x7FE00010:  # PixelData of the SEG
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fp, elem, *args, **kwargs)

    monkeypatch.setattr(filewriter, "write_data_element", full)
    exam = sorted(patient.iterdir())[0] / "dicom"
    out = tmp_path / "a"
    assert main(["analyze", str(exam), "--out", str(out), "--weights", str(tiny_weights),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert scoat_lines(err) == [f"scoat: {out / 'analysis_seg.dcm'}: No space left on device"]
    assert "Traceback" not in err and "With tag" not in err and not out.exists()


def test_rerun_into_the_same_out_replaces_the_whole_set(patient, tiny_weights, tmp_path,
                                                        capsys, monkeypatch):
    exam = sorted(patient.iterdir())[0] / "dicom"
    out = tmp_path / "a"
    args = ["analyze", str(exam), "--out", str(out), "--weights", str(tiny_weights),
            "--device", "cpu"]
    assert main(args) == 0
    assert (out / "analysis_seg.dcm").is_file()
    import scoat_core.io.seg as seg

    def defeated(*a, **k):
        raise seg.SegError("IM00000.dcm: the SEG cannot be made")

    monkeypatch.setattr(seg, "write_dicom_seg", defeated)
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "DICOM SEG not written: IM00000.dcm: the SEG cannot be made" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["lung_mask.nii.gz", "opacity_mask.nii.gz", "metrics.json", "metrics.csv"])
