"""Per-exam timeline rows: ordering, days, changes, trends, text and CSV (no Qt)."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from scoat_core.followup.changes import MIN_BASE_FOR_RELATIVE_ML, trend_label
from scoat_core.followup.table import (
    COLUMNS,
    NOT_APPLICABLE,
    TimelineEntry,
    as_text,
    headers,
    metric,
    rows,
    severity_of,
    trend_text,
    write_csv,
    zone_text,
)


def metrics(lov: float, po: float, lung: float = 4000.0, pho: float | None = 1.5,
            severity: int = 6) -> dict:
    return {"lung_volume_ml": lung, "lov_ml": lov, "po_percent": po, "pho_percent": pho,
            "severity_score": severity, "left": {"lov_ml": lov / 2}, "right": {"lov_ml": lov / 2}}


def four_exams() -> list[TimelineEntry]:
    # Given out of order, plus one exam not analysed yet.
    return [
        TimelineEntry(3, date(2020, 4, 27), "D12", "Siemens Definition", metrics(410.0, 10.3)),
        TimelineEntry(1, date(2020, 4, 15), "D0", "GE Revolution", metrics(5.0, 0.1, pho=None)),
        TimelineEntry(9, date(2020, 5, 1), "pending", "GE Revolution", None),
        TimelineEntry(2, date(2020, 4, 20), "D5", "GE Revolution", metrics(250.0, 6.2)),
        TimelineEntry(4, date(2020, 5, 20), "D35", "GE Revolution", metrics(120.0, 3.0)),
    ]


def test_rows_ordered_by_date_with_days_and_unanalysed_left_out():
    r = rows(four_exams())
    assert [x["key"] for x in r] == [1, 2, 3, 4]
    assert [x["days"] for x in r] == [0, 5, 12, 35]
    assert r[0]["pho_percent"] is None and r[1]["pho_percent"] == 1.5
    assert r[2]["scanner"] == "Siemens Definition" and r[2]["severity_score"] == 6


def test_changes_from_previous_and_baseline():
    r = rows(four_exams())
    first, second, third, last = r
    assert first["delta_lov_ml"] is None and first["trend"] is None
    assert first["baseline_trend"] is None
    assert second["delta_lov_ml"] == pytest.approx(245.0)
    assert second["delta_po_pp"] == pytest.approx(6.1)
    assert third["delta_lov_ml"] == pytest.approx(160.0)
    assert third["baseline_delta_lov_ml"] == pytest.approx(405.0)
    assert third["relative_lov_percent"] == pytest.approx(64.0)
    assert last["delta_lov_ml"] == pytest.approx(-290.0)
    for row in r[1:]:
        assert row["trend"] == trend_label(row["delta_lov_ml"], row["delta_po_pp"])
        assert row["baseline_trend"] == trend_label(row["baseline_delta_lov_ml"],
                                                    row["baseline_delta_po_pp"])
    assert [x["trend"] for x in r[1:]] == ["progression", "progression", "absorption"]
    assert last["baseline_trend"] == "progression"


def test_relative_change_none_near_zero_baseline():
    r = rows(four_exams())
    assert MIN_BASE_FOR_RELATIVE_ML > 5.0
    assert all(x["baseline_relative_lov_percent"] is None for x in r)
    assert r[1]["relative_lov_percent"] is None  # previous (5 mL) is below the cut-off
    assert r[3]["relative_lov_percent"] == pytest.approx(100 * -290.0 / 410.0)


def test_stable_when_only_one_threshold_crossed():
    entries = [TimelineEntry(1, date(2021, 1, 1), "a", "", metrics(100.0, 5.0)),
               TimelineEntry(2, date(2021, 1, 8), "b", "", metrics(150.0, 5.5))]
    assert rows(entries)[1]["trend"] == "stable"


def test_undated_exam_has_no_days():
    entries = [TimelineEntry(1, None, "x", "", metrics(50.0, 2.0)),
               TimelineEntry(2, date(2021, 1, 8), "b", "", metrics(80.0, 3.0))]
    r = rows(entries)
    assert [x["key"] for x in r] == [1, 2]
    assert r[0]["days"] is None and r[1]["days"] is None
    assert r[1]["delta_lov_ml"] == pytest.approx(30.0)


def test_empty_and_all_unanalysed():
    assert rows([]) == []
    assert rows([TimelineEntry(1, date(2021, 1, 1), "a", "", None)]) == []
    assert as_text([]) == "\t".join(headers()) + "\n"


def test_from_metrics_reads_exam_block():
    m = metrics(10.0, 1.0) | {"exam": {"study_date": "2020-04-20", "manufacturer": "GE",
                                         "model": "Revolution"}}
    e = TimelineEntry.from_metrics(7, m, "first")
    assert (e.key, e.study_date, e.scanner, e.label) == (7, date(2020, 4, 20), "GE Revolution",
                                                         "first")


def test_as_text_header_units_and_formatting():
    lines = as_text(rows(four_exams())).splitlines()
    assert len(lines) == 5
    header = lines[0].split("\t")
    assert header[:2] == ["Date", "Day"]
    assert "LOV (mL)" in header and "PO (%)" in header and "ΔPO vs previous (pp)" in header
    cells = dict(zip(header, lines[3].split("\t"), strict=True))
    assert cells["Date"] == "2020-04-27" and cells["Day"] == "12"
    assert cells["LOV (mL)"] == "410.0" and cells["PO (%)"] == "10.3"
    assert cells["ΔLOV vs previous (mL)"] == "+160.0"
    assert cells["Trend vs previous"] == "↑ progression"
    last = dict(zip(header, lines[4].split("\t"), strict=True))
    assert last["LOV (mL)"] == "120.0"
    assert last["ΔLOV vs previous (mL)"] == "-290.0"
    first = dict(zip(header, lines[1].split("\t"), strict=True))
    assert first["PHO (%)"] == "" and first["ΔLOV vs previous (mL)"] == ""


def test_csv_round_trip(tmp_path):
    r = rows(four_exams())
    path = write_csv(r, tmp_path / "timeline.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Δ headers
    with path.open(encoding="utf-8-sig", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert list(back[0]) == headers()
    assert len(back) == len(r)
    for row, text in zip(r, back, strict=True):
        assert float(text["LOV (mL)"]) == pytest.approx(row["lov_ml"], abs=0.05)
        assert float(text["PO (%)"]) == pytest.approx(row["po_percent"], abs=0.05)
        assert text["Date"] == row["study_date"].isoformat()
        if row["delta_lov_ml"] is not None:
            assert float(text["ΔLOV vs previous (mL)"]) == pytest.approx(row["delta_lov_ml"],
                                                                         abs=0.05)
    assert [c.key for c in COLUMNS][:3] == ["study_date", "days", "label"]


def test_trend_text():
    assert trend_text("absorption") == "↓ absorption"
    assert trend_text("stable") == "→ stable"
    assert trend_text(None) == ""


def full_metrics() -> dict:
    """The split, per-lung and per-zone keys as ``AnalysisResult.to_json()`` writes them."""
    zones = {f"{lung}_{zone}": {"lung": lung, "zone": zone, "lung_ml": 600.0, "lov_ml": lov,
                                "po_percent": lov / 6.0, "severity": sev}
             for lung, zone, lov, sev in (("right", "upper", 30.0, 2), ("right", "middle", 0.0, 0),
                                          ("right", "lower", 150.0, 3),
                                          ("left", "upper", 12.0, 1), ("left", "middle", 60.0, 2),
                                          ("left", "lower", 200.0, 4))}
    return {**metrics(452.0, 11.3), "ggo_ml": 401.25, "consolidation_ml": 50.75,
            "mean_opacity_hu": -612.4,
            "right": {"lung_volume_ml": 1800.0, "lov_ml": 180.0, "po_percent": 10.0},
            "left": {"lung_volume_ml": 2200.0, "lov_ml": 272.0, "po_percent": 12.3636},
            "zones": zones}


def test_split_per_lung_and_mean_hu_columns_with_units():
    r = rows([TimelineEntry(1, date(2020, 4, 15), "D0", "", full_metrics())])
    assert r[0]["ggo_ml"] == 401.25 and r[0]["consolidation_ml"] == 50.75
    assert r[0]["right_lov_ml"] == 180.0 and r[0]["left_po_percent"] == pytest.approx(12.3636)
    lines = as_text(r).splitlines()
    cells = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
    assert cells["Ground glass (mL)"] == "401.2" and cells["Consolidation (mL)"] == "50.8"
    assert cells["Opacity mean (HU)"] == "-612"
    assert cells["Right LOV (mL)"] == "180.0" and cells["Left LOV (mL)"] == "272.0"
    assert cells["Right PO (%)"] == "10.0" and cells["Left PO (%)"] == "12.4"
    keys = [c.key for c in COLUMNS]
    assert keys.index("severity_score") < keys.index("ggo_ml") < keys.index("delta_lov_ml")


def test_zone_text_lists_each_zone_in_order():
    row = rows([TimelineEntry(1, None, "x", "", full_metrics())])[0]
    lines = zone_text(row).splitlines()
    assert lines[0] == "Right upper: 5.0 % (score 2)"
    assert lines[2] == "Right lower: 25.0 % (score 3)"
    assert lines[5] == "Left lower: 33.3 % (score 4)" and len(lines) == 6


def test_results_saved_before_the_split_leave_it_empty():
    old = {"lung_volume_ml": 4000.0, "lov_ml": 100.0, "po_percent": 2.5, "pho_percent": 0.4,
           "severity_score": 3}  # no split, no per-lung blocks, no zones
    non_hu = {**full_metrics(), "ggo_ml": None, "consolidation_ml": None,
              "mean_opacity_hu": None}
    r = rows([TimelineEntry(1, date(2020, 1, 1), "old", "", old),
              TimelineEntry(2, date(2020, 1, 9), "non-HU", "", non_hu)])
    for key in ("ggo_ml", "consolidation_ml", "mean_opacity_hu", "right_lov_ml",
                "left_po_percent"):
        assert r[0][key] is None
    assert r[0]["zones"] == {} and zone_text(r[0]) == ""
    assert r[1]["ggo_ml"] is None and r[1]["right_lov_ml"] == 180.0
    lines = as_text(r).splitlines()
    cells = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
    assert cells["Ground glass (mL)"] == "" and cells["Right PO (%)"] == ""
    assert cells["LOV (mL)"] == "100.0"


def test_consolidation_saved_under_its_former_name_is_read():
    former = {**full_metrics(), "high_opacity_ml": 50.75}
    del former["consolidation_ml"]
    assert metric(former, "consolidation_ml") == 50.75
    assert metric({"consolidation_ml": None, "high_opacity_ml": 50.75}, "consolidation_ml") is None
    r = rows([TimelineEntry(1, date(2020, 4, 15), "D0", "", former)])
    assert r[0]["consolidation_ml"] == 50.75
    lines = as_text(r).splitlines()
    cells = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
    assert cells["Consolidation (mL)"] == "50.8"


@pytest.mark.parametrize("stored_score", [None, 9])  # now null; older results stored one
def test_a_partial_exam_shows_no_severity_score(stored_score):
    partial = {**full_metrics(), "lungs_complete": False, "severity_score": stored_score}
    whole = {**full_metrics(), "lungs_complete": True}
    r = rows([TimelineEntry(1, date(2020, 4, 15), "slice", "", partial),
              TimelineEntry(2, date(2020, 4, 20), "whole", "", whole)])
    assert r[0]["partial"] and not r[1]["partial"]
    assert r[0]["severity_score"] is None and r[1]["severity_score"] == 6
    assert severity_of(partial) is None and severity_of(whole) == 6
    assert all(z["severity"] is None for z in r[0]["zones"].values())
    assert "score" not in zone_text(r[0]) and "Right upper: 5.0 %" in zone_text(r[0])
    lines = as_text(r).splitlines()
    cells = [dict(zip(lines[0].split("\t"), line.split("\t"), strict=True))
             for line in lines[1:]]
    assert cells[0]["Severity (0–30)"] == NOT_APPLICABLE and cells[1]["Severity (0–30)"] == "6"
    assert cells[0]["LOV (mL)"] == "452.0" and cells[0]["PHO (%)"] == "1.5"
    old = rows([TimelineEntry(1, None, "old", "", {"lov_ml": 1.0, "po_percent": 0.1})])
    assert as_text(old).splitlines()[1].split("\t")[[c.key for c in COLUMNS].index(
        "severity_score")] == ""  # a number the result lacks stays empty, not n/a
