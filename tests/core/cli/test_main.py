"""The `scoat` command: info on files and folders, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from scoat_core.cli.main import main
from scoat_core.io.images import write_image
from scoat_core.volume import Volume


def ct_like(seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1000, 400, size=(5, 16, 16)).astype(np.int16)
    return Volume(arr, spacing=(0.75, 0.75, 2.0))


def test_info_json_on_volume_files(tmp_path, capsys):
    write_image(ct_like(0), tmp_path / "PAT1_20200105.nii.gz")
    write_image(ct_like(1), tmp_path / "PAT1_20200112.nii.gz")
    write_image(ct_like(2), tmp_path / "PAT1_20200112_lung_mask.nii.gz")  # a mask, not an exam
    assert main(["info", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    series = out["series"]
    assert [s["study_date"] for s in series] == ["2020-01-05", "2020-01-12"]
    assert {s["patient_id"] for s in series} == {"PAT1"}
    assert series[0]["shape"] == [5, 16, 16]
    assert series[0]["spacing_mm"] == [0.75, 0.75, 2.0]
    assert series[0]["hu"] is True
    for key in ("modality", "manufacturer", "model", "series_description", "warnings"):
        assert key in series[0]


def test_info_table_lists_patient_and_exam(tmp_path, capsys):
    write_image(ct_like(), tmp_path / "PAT2_20210301.mha")
    assert main(["info", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Patient PAT2" in text
    assert "Exam 2021-03-01" in text
    assert "5×16×16" in text


def test_info_exits_1_with_one_line_when_nothing_usable(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    assert main(["info", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("scoat: ") and "no usable CT image series" in err[-1]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: p, "the folder is empty"),
    ],
)
def test_info_bad_paths(tmp_path, capsys, make, message):
    target = make(tmp_path)
    assert main(["info", str(target)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_date_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["info", str(tmp_path), "--date", "2020-13-45"])
    assert exc.value.code == 2


def test_console_script_version():
    out = subprocess.run(
        [sys.executable, "-m", "scoat_core", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("scoat ")


def test_phantom_timeline_written_and_listed(tmp_path, capsys):
    out = tmp_path / "patient"
    assert main(["phantom", str(out), "--timeline", "2", "--matrix", "96"]) == 0
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    (patient,) = listing["patients"]
    assert len(patient["exams"]) == 2  # DICOM series; the NIfTI copies beside them are not exams
    dates = [e["study_date"] for e in patient["exams"]]
    assert dates == sorted(dates) and dates[0] != dates[1]
    for series in listing["series"]:
        assert series["hu"] is True and series["shape"][1:] == [96, 96]
    truths = sorted(out.glob("*/truth.json"))
    assert len(truths) == 2 and json.loads(truths[0].read_text())["lesion_ml_total"] > 0
