"""Follow-up: changes between exams and trend labels (arithmetic)."""

from __future__ import annotations

from datetime import date

import pytest

from scoat_core.followup.changes import ExamPoint, change, timeline_changes, trend_label


def test_change_arithmetic_and_relative_fallback():
    a = ExamPoint(date(2020, 2, 1), 100.0, 4.0, "a")
    b = ExamPoint(date(2020, 2, 11), 250.0, 9.5, "b")
    c = change(a, b)
    assert (c.days, c.delta_lov_ml, c.delta_po_pp) == (10, 150.0, 5.5)
    assert c.relative_lov_percent == pytest.approx(150.0)
    assert c.trend == "progression"
    tiny = change(ExamPoint(date(2020, 1, 1), 2.0, 0.05), b)
    assert tiny.relative_lov_percent is None  # near-zero baseline: absolute change only


@pytest.mark.parametrize(("d_lov", "d_po", "label"), [
    (50, 2, "progression"), (-50, -2, "absorption"), (9, 3, "stable"), (40, 0.5, "stable"),
    (-10, -1, "absorption"), (10, 1, "progression"),
])
def test_trend_thresholds(d_lov, d_po, label):
    assert trend_label(d_lov, d_po) == label


def test_partial_scans_are_not_comparable():
    whole = ExamPoint.from_metrics(date(2020, 1, 1), {"lov_ml": 10, "po_percent": 1,
                                                      "lungs_complete": True})
    old = ExamPoint.from_metrics(date(2020, 1, 5), {"lov_ml": 12, "po_percent": 1.2})
    one_slice = ExamPoint.from_metrics(date(2020, 2, 1), {"lov_ml": 90, "po_percent": 40,
                                                          "lungs_complete": False})
    assert not whole.partial and not old.partial and one_slice.partial
    c = change(whole, one_slice)
    assert c.trend == "not comparable" and c.delta_lov_ml == 80  # the numbers are still there
    assert change(one_slice, whole).trend == "not comparable"
    assert change(whole, old).trend == "stable"


def test_timeline_orders_by_date():
    pts = [ExamPoint(date(2020, 3, 1), 50, 2, "late"), ExamPoint(date(2020, 1, 1), 10, 0.5, "x")]
    out = timeline_changes(pts)
    assert out["consecutive"][0]["from_label"] == "x"
    assert out["from_baseline"][0]["days"] == 60
