"""The CLI timeline of one patient: changes and its PNG plot."""

from __future__ import annotations

import pytest


def test_timeline_plot_marks_partial_scans(tmp_path):
    from scoat_core.followup.timeline import patient_timeline, plot_timeline

    rows = [{"label": "a", "study_date": "2020-01-01", "lov_ml": 50.0, "po_percent": 2.0,
             "lungs_complete": True},
            {"label": "b", "study_date": "2020-01-09", "lov_ml": 9.0, "po_percent": 30.0,
             "lungs_complete": False}]
    timeline = patient_timeline(rows)
    assert timeline["changes"]["consecutive"][0]["trend"] == "not comparable"
    out = tmp_path / "t.png"
    plot_timeline(timeline, out, "P1")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


# ------------------------------------------------------------------ issue 14
def _rows():
    """Timeline rows of a whole exam (verified weights) and of a sparse one (unverified)."""
    from scoat_core.followup.timeline import exam_row

    whole = {"lung_volume_ml": 3000.0, "lov_ml": 50.0, "po_percent": 2.0, "warnings": [],
             "lungs_complete": True, "weights_verified": True,
             "exam": {"study_date": "2020-01-01"}}
    sparse = {**whole, "lov_ml": 9.0, "po_percent": 30.0, "lungs_complete": False,
              "weights_verified": False, "exam": {"study_date": "2020-01-09"},
              "warnings": ["no whole-lung volumetry: slices are 12 mm apart",
                           "unverified model weights"]}
    return [exam_row(whole, "a"), exam_row(sparse, "b")]


def test_a_full_disk_names_the_file_and_keeps_the_previous_timeline(tmp_path, monkeypatch):
    import errno

    from scoat_core.followup import timeline as tl

    folder = tmp_path / "PAT1"
    paths = tl.write_timeline(folder, tl.patient_timeline(_rows()[:1]), "PAT1")
    before = {p.name: p.read_bytes() for p in paths}

    class Full:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def writeheader(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tl.csv, "DictWriter", Full)
    with pytest.raises(OSError) as err:
        tl.write_timeline(folder, tl.patient_timeline(_rows()), "PAT1")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(folder / "timeline.csv")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # no new file, no .tmp


def test_timeline_files_carry_the_partial_and_unverified_flags(tmp_path):
    import csv
    import json

    from scoat_core.followup.timeline import patient_timeline, write_timeline

    write_timeline(tmp_path, patient_timeline(_rows()), "PAT1")
    data = json.loads((tmp_path / "timeline.json").read_text())
    assert [e["weights_verified"] for e in data["exams"]] == [True, False]
    assert data["exams"][1]["partial_reason"].startswith("no whole-lung volumetry")
    with (tmp_path / "timeline.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["weights_verified"], r["partial_reason"]) for r in rows] == [
        ("True", ""), ("False", "no whole-lung volumetry: slices are 12 mm apart")]


def test_exam_row_takes_the_flags_from_the_metrics():
    from scoat_core.followup.table import exam_flags
    from scoat_core.followup.timeline import exam_row

    metrics = {"lung_volume_ml": 2500.0, "lov_ml": 10.0, "po_percent": 0.4,
               "lungs_complete": False, "weights_verified": False,
               "warnings": ["gap of 60 mm", "no whole-lung volumetry: gaps leave 55 mm",
                            "unverified model weights"]}
    row = exam_row(metrics, "x")
    assert row["partial_reason"] == "no whole-lung volumetry: gaps leave 55 mm"
    assert row["weights_verified"] is False
    assert exam_flags(metrics) == ["PARTIAL (no whole-lung volumetry: gaps leave 55 mm)",
                                   "UNVERIFIED weights"]
    whole = exam_row({**metrics, "lungs_complete": True, "weights_verified": True}, "x")
    assert whole["partial_reason"] is None and whole["weights_verified"] is True
    cut = {**metrics, "warnings": ["the lungs extend beyond the scanned range: volumes cover "
                                   "the scanned part only"]}
    assert exam_flags(cut)[0] == ("PARTIAL (the lungs extend beyond the scanned range: volumes "
                                  "cover the scanned part only)")


def test_a_dicom_exam_with_other_pixels_under_its_uids_is_analysed_again(tmp_path):
    import json

    import numpy as np
    import pydicom

    from scoat_core.analysis.output import write_analysis
    from scoat_core.analysis.pipeline import AnalysisResult
    from scoat_core.analysis.quantify import quantify
    from scoat_core.followup.timeline import run_timeline
    from scoat_core.io.dicom_write import write_dicom_series
    from scoat_core.io.exams import find_exams
    from scoat_core.phantom import make_phantom

    ph = make_phantom(matrix=32, z_extent_mm=40, slice_spacing_mm=5, slice_thickness_mm=5)
    src = tmp_path / "in"
    write_dicom_series(ph.ct, src / "dicom")
    analysed = []

    def analyze_exam(entry, folder, volume):
        analysed.append(volume)
        lung, opacity = volume.derive(ph.lung.array), volume.derive(ph.lesion.array)
        result = AnalysisResult(lung=lung, opacity=opacity,
                                metrics=quantify(volume, lung, opacity),
                                model={"name": "truth", "sha256": "0" * 64}, device="cpu",
                                seconds=1.0, stage_seconds={}, warnings=[])
        return json.loads(write_analysis(result, volume, folder)["metrics.json"].read_text())

    def run() -> int:
        before = len(analysed)
        run_timeline(src, tmp_path / "out", analyze_exam, "0" * 64,
                     find_exams(src, load=False))
        return len(analysed) - before

    assert run() == 1 and analysed[0] is not None  # the CT read for its hash is analysed
    assert run() == 0  # the same files: from the cache
    for f in sorted((src / "dicom").glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.PixelData = (ds.pixel_array.astype(np.int16) + 5).tobytes()
        ds.save_as(f)
    assert run() == 1
