"""The CLI timeline of one patient: changes and its PNG plot."""

from __future__ import annotations


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
