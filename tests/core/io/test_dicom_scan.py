"""Folder scanning: grouping, series selection, ExamInfo from headers, skipped and bad files."""

from __future__ import annotations

import os
import time as _time
from datetime import date, time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.io.errors import NotFoundError
from scoat_core.io.scan import (
    exam_info_from_dataset,
    parse_date,
    parse_time,
    scan_path,
)
from scoat_core.io.series_choice import kernel_score
from scoat_core.progress import Cancelled
from scoat_core.volume import ExamInfo, Volume

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

STUDY = "1.2.826.0.1.3680043.8.498.1"
SAGITTAL = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
CORONAL = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]


def write_series(
    folder: Path, n: int, number: int, *, direction=None, thickness=1.5, **info
) -> list[Path]:
    """A tiny CT series (8×8 pixels) of study STUDY, patient P1."""
    exam = ExamInfo(patient_id="P1", study_uid=STUDY, slice_thickness_mm=thickness, **info)
    vol = Volume(np.zeros((n, 8, 8), np.int16), spacing=(0.7, 0.7, thickness), info=exam)
    if direction is not None:
        vol.direction = np.asarray(direction, dtype=float)
    return write_dicom_series(vol, folder, series_number=number)


def edit(paths: list[Path], **attrs) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        for key, value in attrs.items():
            setattr(ds, key, value)
        ds.save_as(path)


def by_number(result) -> dict[int, object]:
    return {s.series_number: s for s in result.all_series()}


# ------------------------------------------------------------------------------ real data
def test_serial_patients_and_dated_exams(serial_dir):
    result = scan_path(serial_dir)
    assert result.problems == [] and result.n_files_seen == 21  # + SOURCE.txt
    assert len(result.patients) == 10
    for patient in result.patients:
        assert len(patient.studies) == 2
        first, second = patient.studies
        assert first.study_date is not None and second.study_date is not None
        assert first.study_date < second.study_date
        for study in patient.studies:
            best = study.best_series()
            assert best is not None and best.n_files == 1 and best.usable
            assert "series has one slice" in best.warnings
            assert best.info.patient_id == patient.patient_id


def test_ricord_one_series_fast(ricord_dir):
    t0 = _time.perf_counter()
    result = scan_path(ricord_dir)
    elapsed = _time.perf_counter() - t0
    (series,) = result.all_series()
    assert series.n_files == 255 and series.usable and series.is_axial
    assert series.pixel_spacing == (0.703125, 0.703125) and series.slice_thickness == 1.25
    assert series.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert series.kernel == "STANDARD" and series.transfer_syntax.endswith(".4.70")
    assert result.patients[0].studies[0].study_date == date(2002, 8, 2)
    assert elapsed < 10, f"scan of 255 files took {elapsed:.1f} s"


# ------------------------------------------------------------------------------ selection
def test_series_classification_and_best(tmp_path):
    write_series(tmp_path / "std", 6, 2, kernel="STANDARD")
    write_series(tmp_path / "lung", 6, 3, kernel="B70f", series_description="Thorax")
    write_series(tmp_path / "sag", 9, 4, direction=SAGITTAL, kernel="LUNG")
    loc = write_series(tmp_path / "loc", 1, 5)
    edit(loc, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    write_series(tmp_path / "topo", 2, 6, direction=CORONAL, series_description="Topogram")
    mr = write_series(tmp_path / "mr", 8, 7)
    edit(mr, Modality="MR", SOPClassUID=pydicom.uid.MRImageStorage)
    sc = write_series(tmp_path / "sc", 1, 8)
    edit(sc, SOPClassUID=pydicom.uid.SecondaryCaptureImageStorage)
    result = scan_path(tmp_path)
    (patient,) = result.patients
    (study,) = patient.studies
    series = by_number(result)
    assert [s.series_number for s in study.series] == [2, 3, 4, 5, 6, 7, 8]
    assert {n for n, s in series.items() if s.usable} == {2, 3, 4}
    assert "localizer" in series[5].excluded_reason
    assert "localizer" in series[6].excluded_reason
    assert series[7].excluded_reason == "modality MR is not CT"
    assert "secondary capture" in series[8].excluded_reason
    assert study.best_series() is series[3]  # axial, 6 slices, lung kernel
    write_series(tmp_path / "more", 10, 9, kernel="STANDARD")
    assert scan_path(tmp_path).patients[0].studies[0].best_series().series_number == 9


def test_thinner_slices_win_ties(tmp_path):
    write_series(tmp_path / "a", 5, 2, thickness=2.5)
    write_series(tmp_path / "b", 5, 3, thickness=1.0)
    assert scan_path(tmp_path).patients[0].studies[0].best_series().series_number == 3


def test_non_image_objects_excluded(tmp_path):
    write_series(tmp_path / "ct", 3, 2)
    for name in ("test-SR.dcm", "liver.dcm", "rtstruct.dcm"):
        try:
            (tmp_path / name).symlink_to(get_testdata_file(name))
        except Exception:
            pytest.skip(f"pydicom test file {name} unavailable")
    reasons = {s.modality: s.excluded_reason for s in scan_path(tmp_path).all_series()}
    assert reasons["CT"] == ""
    assert "structured report" in reasons["SR"]
    assert "segmentation" in reasons["SEG"]
    assert "RT structure set" in reasons["RTSTRUCT"]


def test_enhanced_ct_record(tmp_path):
    (tmp_path / "ect.dcm").symlink_to(get_testdata_file("eCT_Supplemental.dcm"))
    (series,) = scan_path(tmp_path).all_series()
    assert series.usable and series.is_enhanced_multiframe
    assert series.n_files == 1 and series.n_frames == 2 and series.warnings == []
    assert series.orientation == (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert series.pixel_spacing == (0.388672, 0.388672) and series.slice_thickness == 10.0


@pytest.mark.parametrize(
    ("kernel", "description", "score"),
    [
        ("LUNG", "", 2),
        ("B70f", "", 2),
        ("Bl57d/3", "", 2),
        ("I70f/3", "", 2),
        ("FC51", "", 2),
        ("YB", "", 2),
        ("L", "", 2),
        ("STANDARD", "Lung 1.25mm", 2),
        ("BONE", "", 1),
        ("B60f", "", 1),
        ("Br64d", "", 1),
        ("SHARP", "", 1),
        ("STANDARD", "", 0),
        ("B30f", "", 0),
        ("FC17", "", 0),
        ("", "", 0),
    ],
)
def test_kernel_score(kernel, description, score):
    assert kernel_score(kernel, description) == score


# ------------------------------------------------------------------------------ files
def test_folder_with_bad_and_ignored_files(tmp_path):
    good = write_series(tmp_path / "ct", 4, 2)
    truncated = tmp_path / "ct" / "cut.dcm"
    data = good[1].read_bytes()
    truncated.write_bytes(data[: len(data) - 40])
    text = tmp_path / "notes.dcm"
    text.write_text("not an image\n" * 30)
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "preview.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    (tmp_path / "random.bin").write_bytes(b"\xff" * 300)
    (tmp_path / ".hidden.dcm").write_bytes(good[0].read_bytes())
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.dcm").write_bytes(good[0].read_bytes())
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    result = scan_path(tmp_path)
    assert sorted(p.path for p in result.problems) == sorted(
        [str(text), str(truncated), str(tmp_path / "preview.png")])  # PNG: named, skipped
    messages = {p.path: p.message for p in result.problems}
    assert messages[str(truncated)].startswith("truncated")
    assert messages[str(text)].startswith("not a DICOM file")
    (series,) = result.all_series()
    assert series.n_files == 4 and series.files == [str(p) for p in good]
    assert result.n_files_seen == 9  # 5 in ct/, notes, readme, preview, random.bin


def test_extensionless_and_preamble_less_files(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.save_as(tmp_path / "IMG0001")
    ds.SOPInstanceUID, ds.SeriesInstanceUID = "1.2.3.1", "1.2.3.2"
    ds.preamble = None
    del ds.file_meta
    ds.save_as(tmp_path / "raw_dataset", implicit_vr=True, little_endian=True)
    assert (tmp_path / "raw_dataset").read_bytes()[:2] == b"\x08\x00"
    result = scan_path(tmp_path)
    assert result.problems == []
    assert sorted(s.files[0] for s in result.all_series()) == [
        str(tmp_path / "IMG0001"),
        str(tmp_path / "raw_dataset"),
    ]


def test_empty_missing_single_file(tmp_path):
    result = scan_path(tmp_path)
    assert result.patients == [] and result.problems == [] and result.n_files_seen == 0
    with pytest.raises(NotFoundError):
        scan_path(tmp_path / "nope")
    (path,) = write_series(tmp_path / "one", 1, 2)
    result = scan_path(path)
    assert result.n_files_seen == 1 and result.all_series()[0].files == [str(path)]


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files despite chmod 000"
)
def test_unreadable_file_is_a_problem(tmp_path):
    paths = write_series(tmp_path, 2, 2)
    paths[0].chmod(0)
    try:
        result = scan_path(tmp_path)
        assert [p.path for p in result.problems] == [str(paths[0])]
        assert "permission denied" in result.problems[0].message
        assert result.all_series()[0].n_files == 1
    finally:
        paths[0].chmod(0o644)


def test_permission_error_is_a_problem_simulated(tmp_path, monkeypatch):
    """Same as above, runs as root too: open() of one file raises PermissionError."""
    import builtins

    import scoat_core.io.scan as scan_module

    paths = write_series(tmp_path, 2, 2)

    def fake_open(file, *args, **kwargs):
        if str(file) == str(paths[0]):
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(scan_module, "open", fake_open, raising=False)
    result = scan_path(tmp_path)
    assert [(p.path, p.message) for p in result.problems] == [(str(paths[0]), "permission denied")]
    assert result.all_series()[0].files == [str(paths[1])]


def test_progress_and_cancel(tmp_path):
    write_series(tmp_path, 3, 2)
    calls = []
    scan_path(tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(Cancelled):
        scan_path(tmp_path, cancel=lambda: True)


# ------------------------------------------------------------------------------ ExamInfo
def test_exam_info_from_dataset():
    ds = Dataset()
    ds.PatientID, ds.PatientName, ds.PatientBirthDate = "ID9", "Doe^John", "19400229"
    ds.StudyDate, ds.StudyTime = "", "101112.5"
    ds.SeriesDate = "20210305"
    ds.Modality, ds.SeriesNumber, ds.KVP = "CT", "4", "100"
    ds.ConvolutionKernel = ["FC51", "AIDR 3D"]
    ds.ContrastBolusAgent = "IOMEPROL"
    ds.SliceThickness = "0.625"
    info = exam_info_from_dataset(ds, "/x")
    assert info.patient_name == "Doe^John" and isinstance(info.patient_name, str)
    assert info.birth_date == date(1940, 2, 29)
    assert info.study_date == date(2021, 3, 5)  # falls back to SeriesDate
    assert info.study_time == time(10, 11, 12, 500000)
    assert info.kernel == "FC51/AIDR 3D" and info.kvp == 100.0 and info.series_number == 4
    assert info.contrast is True and info.slice_thickness_mm == 0.625 and info.source == "/x"
    ds.ContrastBolusAgent = ""
    assert exam_info_from_dataset(ds).contrast is None  # present but empty: unknown
    ds.ContrastBolusAgent = "NONE"
    assert exam_info_from_dataset(ds).contrast is False
    del ds.ContrastBolusAgent
    assert exam_info_from_dataset(ds).contrast is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20200131", date(2020, 1, 31)), ("2020.01.31", date(2020, 1, 31)), ("20200231", None),
     ("", None), (None, None), ("2020", None)],
)  # fmt: skip
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("101112", time(10, 11, 12)), ("1011", time(10, 11)), ("10", time(10)),
     ("10:11:12.25", time(10, 11, 12, 250000)), ("", None), ("25", None), ("ab", None)],
)  # fmt: skip
def test_parse_time(text, expected):
    assert parse_time(text) == expected
