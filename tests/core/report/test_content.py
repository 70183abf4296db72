"""Report content without Qt: anonymisation, the metric table, key images."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime

import numpy as np
import pytest

from scoat_core.phantom import make_phantom
from scoat_core.report.content import (
    ANONYMISED,
    DISCLAIMER,
    ReportExam,
    build_report,
    exam_caption,
    image_label,
    key_images,
    metric_table,
    nice_ticks,
    report_exam,
    signed,
    split_table,
    summary_lines,
)

PID, NAME, BIRTH = "PAT0815", "Doe^Johanna", date(1951, 3, 7)
MODEL = {"name": "scoat-net", "width": 32, "arch": "scoat", "sha256": "0123456789abcdef" * 4}


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(matrix=64, slice_spacing_mm=5.0, slice_thickness_mm=5.0, seed=3,
                        lesion_ml=150)


def _metrics(lov: float, po: float, day: date) -> dict:
    return {"lov_ml": lov, "po_percent": po, "pho_percent": po / 4, "lung_volume_ml": 3950.0,
            "severity_score": 7,
            "exam": {"patient_id": PID, "patient_name": NAME, "birth_date": BIRTH.isoformat(),
                     "study_date": day.isoformat(), "manufacturer": "SIEMENS",
                     "model": "SOMATOM", "kernel": "B70f", "slice_thickness_mm": 1.0,
                     "source": f"/data/{PID}/{day:%Y%m%d}"}}


def _exam(label: str, day: date, lov: float, po: float) -> ReportExam:
    return ReportExam(label, day, "SIEMENS SOMATOM", "B70f", 1.0, _metrics(lov, po, day))


def _three_exams() -> list[ReportExam]:
    # Given out of order: the report sorts them by date.
    return [_exam(f"{PID}_followup", date(2020, 2, 15), 310.0, 8.0),
            _exam(f"{PID}_baseline", date(2020, 2, 1), 120.0, 3.0),
            _exam("late", date(2020, 3, 1), 95.5, 2.4)]


def _all_text(data) -> str:
    header, rows = metric_table(data)
    split_header, split_rows = split_table(data)
    header, rows = header + split_header, rows + split_rows
    parts = [data.patient_line, data.patient_id, data.patient_name, str(data.birth_date),
             data.model_line, *header, *(c for r in rows for c in r), *summary_lines(data),
             json.dumps(data.changes, default=str)]
    for e in data.exams:
        parts += [e.label, e.scanner, exam_caption(e), image_label(e),
                  json.dumps(e.metrics, default=str)]
    return "\n".join(parts)


def test_anonymise_drops_name_id_and_birth_date_everywhere():
    data = build_report(PID, NAME, _three_exams(), MODEL, "0.1.0", anonymise=True,
                        birth_date=BIRTH)
    assert data.anonymised and data.patient_line == ANONYMISED
    assert (data.patient_id, data.patient_name, data.birth_date) == ("", "", None)
    text = _all_text(data).lower()
    for secret in (PID, "Doe", "Johanna", "1951-03-07", "19510307"):
        assert secret.lower() not in text, secret
    labels = [e.label for e in data.exams]
    assert labels == ["Exam 1", "Exam 2", "late"]  # labels with the ID were replaced
    assert data.exams[0].metrics["exam"]["study_date"] == "2020-02-01"  # the rest is kept


def test_named_report_shows_patient_and_keeps_labels():
    data = build_report(PID, NAME, _three_exams(), MODEL, "0.1.0", birth_date=BIRTH)
    assert data.patient_line == f"Doe Johanna (ID {PID})"
    assert data.birth_date == BIRTH and not data.anonymised
    assert data.exams[0].label == f"{PID}_baseline"
    assert data.disclaimer == DISCLAIMER and "not for diagnostic use" in DISCLAIMER
    assert data.model_line == "Model scoat-net · width 32 · sha256 0123456789ab"
    assert isinstance(data.created, datetime)


def test_metric_table_units_days_and_signed_deltas():
    data = build_report(PID, NAME, _three_exams(), MODEL, "0.1.0")
    header, rows = metric_table(data)
    for col in ("Date", "Day", "LOV (mL)", "PO (%)", "PHO (%)", "Lung (mL)", "ΔLOV (mL)",
                "ΔPO (pp)", "Trend"):
        assert col in header
    assert any(h.startswith("Severity") for h in header)
    col = {h: i for i, h in enumerate(header)}
    assert [r[col["Date"]] for r in rows] == ["2020-02-01", "2020-02-15", "2020-03-01"]
    assert [r[col["Day"]] for r in rows] == ["0", "14", "29"]
    assert [r[col["LOV (mL)"]] for r in rows] == ["120.0", "310.0", "95.5"]
    assert [r[col["ΔLOV (mL)"]] for r in rows] == ["—", "+190.0", "-214.5"]
    assert [r[col["ΔPO (pp)"]] for r in rows] == ["—", "+5.0", "-5.6"]
    assert [r[col["Trend"]] for r in rows] == ["baseline", "progression", "absorption"]
    assert all(len(r) == len(header) for r in rows)
    assert "LOV -24.5 mL (-20 %)" in summary_lines(data)[0]


def test_small_helpers():
    assert signed(1.26) == "+1.3" and signed(12.0, 0) == "+12"
    assert signed(-0.04) == "0.0" and signed(None) == "—" and signed(-3.0) == "-3.0"
    ticks = nice_ticks(0, 437, 4)
    assert ticks[0] == 0 and ticks[-1] >= 437 and len(ticks) <= 6
    assert all(b > a for a, b in itertools.pairwise(ticks))
    exam = _exam("x", date(2020, 2, 1), 123.44, 12.34)
    assert image_label(exam) == "LOV 123.4 mL · PO 12.3 %"
    assert exam_caption(exam, 0).startswith("2020-02-01 (day 0) · x · SIEMENS SOMATOM · B70f")


def test_key_images_pick_most_opacity_and_colour_it(phantom):
    ct, lung = phantom.ct, phantom.lung.array
    opacity = np.zeros(ct.shape, np.uint8)
    zs, ys, xs = np.nonzero(lung)
    z0, y0, x0 = int(np.median(zs)) + 3, int(np.median(ys)), int(np.median(xs[xs < 32]))
    opacity[z0, y0 - 3:y0 + 3, x0 - 3:x0 + 3] = 1  # most opacity on slice z0 and row y0
    opacity[z0 - 6, y0 - 8, x0] = 1
    keys = key_images(ct, lung, opacity, crop=False)
    assert (keys.axial_index, keys.coronal_index) == (z0, y0 - 3)
    assert keys.axial_rgb.shape == (*ct.shape[1:], 3) and keys.axial_rgb.dtype == np.uint8
    assert keys.axial_pixel_mm == (ct.spacing[1], ct.spacing[0])
    assert keys.coronal_pixel_mm == (ct.spacing[2], ct.spacing[0])
    px = keys.axial_rgb[y0, x0].astype(int)
    assert px[0] - px[2] > 50  # amber opacity over the grey lung
    outside = keys.axial_rgb[2, 2]
    assert outside[0] == outside[1] == outside[2]  # grey outside every mask
    row = ct.shape[0] - 1 - z0  # coronal rows run from superior to inferior
    cpx = keys.coronal_rgb[row, x0].astype(int)
    assert cpx[0] - cpx[2] > 50


def test_key_images_cropped_to_lungs_and_empty_opacity(phantom):
    ct, lung = phantom.ct, phantom.lung
    keys = key_images(ct, lung, phantom.lesion)
    assert keys.axial_index == int((phantom.lesion.array > 0).sum(axis=(1, 2)).argmax())
    assert keys.axial_rgb.shape[0] < ct.shape[1] or keys.axial_rgb.shape[1] < ct.shape[2]
    assert keys.axial_rgb.shape[1] == keys.coronal_rgb.shape[1]  # same left-right extent
    assert ((keys.axial_rgb[..., 0].astype(int) - keys.axial_rgb[..., 2]) > 50).any()
    empty = key_images(ct, lung, np.zeros(ct.shape, np.uint8))
    assert not ((empty.axial_rgb[..., 0].astype(int) - empty.axial_rgb[..., 2]) > 50).any()
    cyan = (empty.axial_rgb == (0, 190, 255)).all(axis=2)
    assert cyan.any()  # lung contour drawn


def test_report_exam_from_analysis(phantom):
    metrics = {"lov_ml": 150.0, "po_percent": 4.1, "exam": phantom.ct.info.to_json()}
    exam = report_exam(metrics, phantom.ct, phantom.lung, phantom.lesion)
    assert exam.study_date == phantom.ct.info.study_date
    assert exam.scanner == "SCOAT Synthetic CT" and exam.slice_thickness_mm == 5.0
    assert exam.axial_rgb is not None and exam.coronal_rgb is not None
    assert exam.axial_letters == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert exam.coronal_letters["top"] == "S"
    assert exam.axial_caption.startswith("axial ")


def test_split_table_units_values_and_missing():
    split = {"ggo_ml": 250.25, "consolidation_ml": 59.75, "mean_opacity_hu": -587.6,
             "right": {"lung_volume_ml": 2000.0, "lov_ml": 110.0, "po_percent": 5.5},
             "left": {"lung_volume_ml": 1900.0, "lov_ml": 200.0, "po_percent": 10.526}}
    new = _exam("new", date(2020, 2, 15), 310.0, 8.0)
    new.metrics.update(split)
    non_hu = _exam("non-HU", date(2020, 3, 1), 95.5, 2.4)
    non_hu.metrics.update({**split, "ggo_ml": None, "consolidation_ml": None,
                           "mean_opacity_hu": None})
    old = _exam("old", date(2020, 2, 1), 120.0, 3.0)  # saved before the split existed
    data = build_report(PID, NAME, [new, non_hu, old], MODEL, "0.1.0")
    header, rows = split_table(data)
    assert header == ["Exam", "Date", "Ground glass (mL)", "Consolidation (mL)",
                      "Consolidation (% of LOV)", "Opacity mean (HU)", "Right LOV (mL)",
                      "Left LOV (mL)", "Right PO (%)", "Left PO (%)"]
    assert all(len(r) == len(header) for r in rows)
    assert rows[0] == ["old", "2020-02-01", *["—"] * 8]
    assert rows[1] == ["new", "2020-02-15", "250.2", "59.8", "19.3", "-588", "110.0", "200.0",
                       "5.5", "10.5"]
    assert rows[2][2:6] == ["—", "—", "—", "—"] and rows[2][6] == "110.0"


def test_severity_of_a_partial_exam_reads_n_a():
    partial = _exam("slice", date(2020, 2, 15), 310.0, 8.0)
    partial.metrics.update(lungs_complete=False, severity_score=None)
    stored = _exam("older slice", date(2020, 2, 20), 300.0, 7.9)
    stored.metrics.update(lungs_complete=False)  # saved with a score before partials had none
    whole = _exam("whole", date(2020, 2, 1), 120.0, 3.0)
    lacking = _exam("lacking", date(2020, 3, 1), 95.5, 2.4)
    del lacking.metrics["severity_score"]
    data = build_report(PID, NAME, [partial, stored, whole, lacking], MODEL, "0.1.0")
    header, rows = metric_table(data)
    column = header.index("Severity (0–30)")
    assert [r[column] for r in rows] == ["7", "n/a", "n/a", "—"]


def test_split_table_reads_consolidation_under_its_former_name():
    former = _exam("former", date(2020, 2, 15), 310.0, 8.0)
    former.metrics.update({"ggo_ml": 250.25, "high_opacity_ml": 59.75})
    data = build_report(PID, NAME, [former], MODEL, "0.1.0")
    _, rows = split_table(data)
    assert rows[0][2:5] == ["250.2", "59.8", "19.3"]


def test_a_partial_exam_is_marked_in_the_table_and_says_why():
    whole = _exam("whole", date(2020, 2, 1), 120.0, 3.0)
    partial = _exam("sparse", date(2020, 2, 15), 310.0, 8.0)
    reason = "no whole-lung volumetry: slices 260 mm apart"
    partial.metrics.update(lungs_complete=False, warnings=[reason])
    data = build_report(PID, NAME, [whole, partial], MODEL, "0.1.0")
    _, rows = metric_table(data)
    assert rows[0][0] == "whole" and rows[1][0] == "sparse (PARTIAL)"
    notes = [line for line in summary_lines(data) if "PARTIAL" in line]
    assert len(notes) == 1 and "sparse" in notes[0] and reason in notes[0]
