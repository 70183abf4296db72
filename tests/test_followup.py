"""Follow-up: changes and trend labels (arithmetic), and lung-driven registration on phantoms."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from scoat_core.followup import (
    ExamPoint,
    Registration,
    change,
    opacity_change_maps,
    register,
    timeline_changes,
    trend_label,
)
from scoat_core.phantom import make_timeline


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


@pytest.fixture(scope="module")
def two_exams():
    a, b = make_timeline(2, seed=0, matrix=96)
    return a, b, register(a.lung, b.lung)


def test_registration_aligns_lungs_and_maps_points(two_exams, tmp_path):
    a, b, reg = two_exams
    assert reg.lung_dice_after > 0.93
    centre_a = a.ct.index_to_lps(np.argwhere(a.lung.array > 0).mean(0)[::-1])
    centre_b = b.ct.index_to_lps(np.argwhere(b.lung.array > 0).mean(0)[::-1])
    shift = np.linalg.norm(centre_b - centre_a)
    error = np.linalg.norm(reg.map_point(centre_a) - centre_b)
    assert shift > 3 and error < 2.0  # the patient moved; the mapping follows the anatomy
    reg.save(tmp_path / "reg.json")
    assert np.allclose(Registration.load(tmp_path / "reg.json").map_point(centre_a),
                       reg.map_point(centre_a))


def test_opacity_change_maps_follow_the_course(two_exams):
    a, b, reg = two_exams  # early → progressive: mostly new and persistent opacity
    maps = opacity_change_maps(a.ct.derive(a.lesion.array > 0), b.ct.derive(b.lesion.array > 0),
                               reg)
    counts = {k: int(np.count_nonzero(maps.array == k)) for k in (1, 2, 3)}
    assert counts[1] > counts[2] and counts[3] > 0
    assert maps.same_geometry(a.ct)


def test_timeline_plot_marks_partial_scans(tmp_path):
    from scoat_core.timeline import patient_timeline, plot_timeline

    rows = [{"label": "a", "study_date": "2020-01-01", "lov_ml": 50.0, "po_percent": 2.0,
             "lungs_complete": True},
            {"label": "b", "study_date": "2020-01-09", "lov_ml": 9.0, "po_percent": 30.0,
             "lungs_complete": False}]
    timeline = patient_timeline(rows)
    assert timeline["changes"]["consecutive"][0]["trend"] == "not comparable"
    out = tmp_path / "t.png"
    plot_timeline(timeline, out, "P1")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
