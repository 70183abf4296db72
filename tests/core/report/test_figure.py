"""What an exported figure says (issue 15): header lines, legend, scale bar and file name."""

from __future__ import annotations

from datetime import date

import pytest

from scoat_core.display import COLOURS
from scoat_core.report.figure import (
    NICE_MM,
    exam_header,
    figure_file_name,
    legend_entries,
    patient_line,
    scale_bar,
    series_header,
)

METRICS = {"lov_ml": 123.456, "po_percent": 7.04, "lungs_complete": True}


def test_exam_header_names_patient_exam_series_and_numbers():
    lines = exam_header("PHANTOM-001", "Doe^Jane", date(2020, 2, 1), "Lung 1.0 B70f", METRICS)
    assert lines == ["PHANTOM-001 · Doe^Jane", "Exam 2020-02-01 · Lung 1.0 B70f",
                     "LOV 123.5 mL · PO 7.0 %"]


def test_anonymised_header_names_no_patient():
    lines = exam_header("PHANTOM-001", "Doe^Jane", date(2020, 2, 1), "", METRICS,
                        anonymise=True)
    assert lines[0] == "Anonymised"
    assert not any("PHANTOM" in line or "Doe" in line for line in lines)
    assert lines[1] == "Exam 2020-02-01 · series without description"


def test_header_of_a_partial_or_unanalysed_exam():
    partial = exam_header("P", "", None, "s", {**METRICS, "lungs_complete": False})
    assert partial[1].startswith("Exam date unknown")
    assert "partial exam" in partial[2]
    assert exam_header("P", "", None, "s", None)[2] == "Not analysed"


def test_series_header_spans_the_dates():
    lines = series_header("P-7", "", [date(2020, 3, 9), None, date(2020, 3, 1)], "Timeline")
    assert lines == ["P-7", "Timeline · 3 exams, 2020-03-01 to 2020-03-09"]
    assert series_header("P-7", "X", [], "Comparison", anonymise=True) == [
        "Anonymised", "Comparison · 0 exams"]
    assert patient_line("", "") == "patient without ID"


@pytest.mark.parametrize(("pid", "when", "view", "anonymise", "name"), [
    ("PHANTOM-001", date(2020, 2, 1), "axial", False, "PHANTOM-001_2020-02-01_axial.png"),
    ("PHANTOM-001", date(2020, 2, 1), "axial", True, "anonymised_2020-02-01_axial.png"),
    ("A/B C:*?", None, "Axial-Coronal", False, "A-B-C_nodate_axial-coronal.png"),
    ("../..", date(2021, 1, 5), "../x", False, "patient_2021-01-05_x.png"),
])
def test_file_name_is_patient_date_view_and_safe(pid, when, view, anonymise, name):
    assert figure_file_name(pid, when, view, anonymise) == name


def test_scale_bar_is_the_longest_nice_length_that_fits():
    bar = scale_bar(px_per_mm=2.0, max_px=150.0)  # 50 mm = 100 px fits, 100 mm = 200 px not
    assert (bar.mm, bar.px, bar.label) == (50.0, 100.0, "50 mm")
    assert scale_bar(0.5, 60.0).mm == 100.0
    assert scale_bar(100.0, 10.0).mm == NICE_MM[0]  # nothing fits: the shortest
    assert scale_bar(0.0, 100.0) is None
    assert scale_bar(float("nan"), 100.0) is None


def test_legend_follows_the_overlay_style_in_the_viewer_colours():
    entries = legend_entries("fill", show_high=True, show_lung=True)
    assert [e.rgb for e in entries] == [COLOURS["opacity"], COLOURS["high"], COLOURS["lung"]]
    assert [e.kind for e in entries] == ["fill", "fill", "line"]
    assert "Ground glass" in entries[0].label and "Consolidation" in entries[1].label
    assert "−200 HU" in entries[1].label
    contour = legend_entries("contour", show_high=False, show_lung=False)
    assert [(e.rgb, e.kind) for e in contour] == [(COLOURS["opacity"], "line")]
    assert [e.label for e in legend_entries("none")] == ["Lung contour"]
    assert legend_entries(has_opacity=False, has_lung=False) == []
