"""followup.comparison (no Qt): point mapping, registrations, change labels, pane labels."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from scoat_core import display
from scoat_core.followup.comparison import (
    PointMap,
    TimePoint,
    change_labels,
    change_rgba,
    compute_registrations,
    extent_mm,
    grid_shape,
    inverse_registration,
    pane_label,
    slice_point,
    slice_through,
)
from scoat_core.followup.registration import Registration
from scoat_core.phantom import make_timeline
from scoat_core.progress import Cancelled

# 64² × 52 slices of 5 mm: registration takes about a second per pair
SMALL = {"matrix": 64, "slice_spacing_mm": 5.0, "slice_thickness_mm": 5.0}


def time_points(exams) -> list[TimePoint]:
    return [TimePoint(i, f"Exam {i + 1}", e.ct, e.lung.array, e.lesion.array,
                      {"lov_ml": e.truth.lesion_ml_total, "po_percent": e.truth.percent_involved})
            for i, e in enumerate(exams)]


def true_shift(exams, i: int) -> np.ndarray:
    """Baseline LPS → exam i LPS of the same anatomy: the patient shift difference."""
    return np.subtract(exams[i].spec.shift_mm, exams[0].spec.shift_mm)


@pytest.fixture(scope="module")
def timeline():
    exams = make_timeline(3, seed=0, **SMALL)  # true LOV about 100 → 320 → 160 mL
    points = time_points(exams)
    calls = []
    regs = compute_registrations(points, progress=lambda *a: calls.append(a))
    return exams, points, regs, calls


def test_compute_registrations_follows_the_known_patient_shifts(timeline):
    exams, _points, regs, calls = timeline
    assert sorted(regs) == [1, 2]
    for key in (1, 2):
        d = true_shift(exams, key)
        assert np.linalg.norm(d) > 3  # the patient moved
        for p in ([40.0, 10.0, 20.0], [-60.0, -20.0, -40.0]):
            assert np.linalg.norm(regs[key].map_point(p) - (np.array(p) + d)) < 2.0
    assert calls == [(0, 2), (1, 2), (2, 2)]  # progress(done, total)


def test_compute_registrations_skips_exams_without_lungs_and_cancels(timeline):
    _exams, points, _, _ = timeline
    no_lung = [points[0], dataclasses.replace(points[1], lung=None)]
    assert compute_registrations(no_lung) == {}
    assert compute_registrations([dataclasses.replace(points[0], lung=None), points[1]]) == {}
    with pytest.raises(Cancelled):
        compute_registrations(points, cancel=lambda: True)


def test_point_map_matches_the_registration_both_ways(timeline):
    _, _, regs, _ = timeline
    m = PointMap(regs[1])
    p = np.array([12.0, -30.0, 55.0])
    assert np.allclose(m.to_exam(p), regs[1].map_point(p), atol=1e-6)
    assert np.allclose(m.to_baseline(m.to_exam(p)), p, atol=1e-6)
    assert np.allclose(inverse_registration(regs[1]).map_point(regs[1].map_point(p)), p,
                       atol=1e-6)
    identity = PointMap(None)
    assert not identity.registered and m.registered
    assert np.allclose(identity.to_exam(p), p) and np.allclose(identity.to_baseline(p), p)


def test_point_map_inverts_a_rotation():
    c = np.cos(np.deg2rad(10)), np.sin(np.deg2rad(10))
    matrix = [c[0], -c[1], 0.0, c[1], c[0], 0.0, 0.0, 0.0, 1.1]
    reg = Registration([*matrix, 5.0, -3.0, 2.0], [10.0, 20.0, 30.0], 0.97)
    m, p = PointMap(reg), np.array([-40.0, 15.0, 80.0])
    assert np.allclose(m.to_exam(p), reg.map_point(p), atol=1e-6)
    assert np.allclose(m.to_baseline(reg.map_point(p)), p, atol=1e-6)


def test_change_labels_on_the_followup_grid_match_the_phantom_truth(timeline):
    exams, points, regs, _ = timeline
    labels = change_labels(points[0], points[1], regs[1])
    fu_op, base_op = exams[1].lesion.array > 0, exams[0].lesion.array > 0
    assert labels.shape == exams[1].ct.shape
    # the follow-up's own opacity is exactly new + persistent
    assert np.array_equal((labels == 1) | (labels == 3), fu_op)
    counts = {k: int(np.count_nonzero(labels == k)) for k in (1, 2, 3)}
    assert counts[1] > 2 * counts[2] and counts[3] > 0  # about 100 → 320 mL: mostly new
    # new voxels: no baseline lesion at the same anatomy (known shift); persistent: lesion there
    d = true_shift(exams, 1)

    def baseline_lesion_at(mask):
        lps = exams[1].ct.index_to_lps(np.argwhere(mask)[:, ::-1].astype(float))
        idx = np.rint(exams[0].ct.lps_to_index(lps - d)).astype(int)[:, ::-1]
        idx = np.clip(idx, 0, np.array(base_op.shape) - 1)
        return base_op[tuple(idx.T)]

    assert baseline_lesion_at(labels == 1).mean() < 0.1
    assert baseline_lesion_at(labels == 3).mean() > 0.9
    assert change_labels(points[0], dataclasses.replace(points[1], opacity=None), regs[1]) is None


def test_change_rgba_colours():
    rgba = change_rgba(np.array([[0, 1], [2, 3]]), alpha=0.5)
    assert rgba.shape == (2, 2, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 128
    assert tuple(rgba[0, 1, :3]) == display.COLOURS["new"]
    assert tuple(rgba[1, 0, :3]) == display.COLOURS["resolved"]
    assert tuple(rgba[1, 1, :3]) == display.COLOURS["persistent"]


def test_pane_labels(timeline):
    exams, points, regs, _ = timeline
    base = pane_label(points[0], points[0])
    assert base.splitlines()[0] == "2020-02-01 · baseline"
    assert "SIEMENS SOMATOM Definition AS" in base
    assert f"LOV {exams[0].truth.lesion_ml_total:.1f} mL" in base and " · PO " in base
    follow = pane_label(points[1], points[0], PointMap(regs[1]))
    assert follow.startswith("2020-02-06 · day 5\nGE LightSpeed VCT\nLOV ")
    assert "registered" not in follow
    assert pane_label(points[1], points[0], PointMap(None)).endswith("not registered")
    poor = dataclasses.replace(regs[1], lung_dice_after=0.6)
    assert "poor registration (lung Dice 0.60)" in pane_label(points[1], points[0], PointMap(poor))
    undated = dataclasses.replace(points[2], metrics=None, volume=exams[2].ct.derive(
        exams[2].ct.array))
    undated.volume.info = undated.volume.info.replace(study_date=None)
    text = pane_label(undated, points[0], notes=["no change map"])
    assert text.startswith("Exam 3\n") and "not analysed" in text and "no change map" in text


def test_grid_shape():
    assert [grid_shape(n) for n in (1, 2, 3, 4)] == [(1, 1), (1, 2), (1, 3), (2, 2)]
    with pytest.raises(ValueError, match="1 to 4"):
        grid_shape(5)


def test_slice_geometry_helpers(timeline):
    exams, *_ = timeline
    vol = exams[1].ct
    p = np.array([20.0, -10.0, 33.0])
    for plane in ("axial", "coronal", "sagittal"):
        index = slice_through(vol, plane, p)
        q = slice_point(vol, plane, index, p)  # p moved onto the slice, same row and column
        assert slice_through(vol, plane, q) == index
        axis = {"axial": 2, "coronal": 1, "sagittal": 0}[plane]
        assert abs(q[axis] - p[axis]) <= vol.spacing[axis] / 2 + 1e-6
        assert np.allclose(np.delete(q, axis), np.delete(p, axis))
    w, h = extent_mm(vol, "coronal")
    assert w == pytest.approx(64 * vol.spacing[0]) and h == pytest.approx(52 * 5.0)


def test_views_name_the_patient_and_the_exam(timeline):
    from scoat_core.followup.comparison import (
        comparison_message,
        comparison_title,
        exam_title,
        no_exam_text,
        patient_label,
        timeline_title,
    )

    exams, points, regs, _ = timeline
    who = patient_label("PAT-7", "Doe^Jane")
    assert who == "PAT-7 · Doe^Jane" and patient_label("PAT-7", "PAT-7") == "PAT-7"
    assert patient_label("", "") == "patient without ID"
    named = [dataclasses.replace(p, patient=who) for p in points]
    label = pane_label(named[1], named[0], PointMap(regs[1]))
    assert label.startswith("PAT-7 · Doe^Jane\n2020-02-06 · day 5\n")
    assert comparison_title(named) == \
        "PAT-7 · Doe^Jane — 2020-02-01 (baseline) vs 2020-02-06, " \
        f"{exams[2].ct.info.study_date.isoformat()}"
    assert exam_title(who, date(2020, 3, 14)) == "PAT-7 · Doe^Jane — 2020-03-14"
    assert exam_title(who, None) == "PAT-7 · Doe^Jane — date unknown"
    assert timeline_title(who, [date(2020, 3, 1), None, date(2020, 3, 20)]) == \
        "PAT-7 · Doe^Jane — 3 exams, 2020-03-01 to 2020-03-20"
    assert timeline_title(who, []) == "PAT-7 · Doe^Jane — 0 exams"
    assert no_exam_text(who).startswith("PAT-7 · Doe^Jane: no exam shown.")
    assert no_exam_text(who, date(2020, 3, 1)) == "PAT-7 · Doe^Jane — 2020-03-01: opening…"
    assert no_exam_text(None).startswith("No patient selected")
    # the Compare tab's message matches the state (it said "Analyse two or more exams" with
    # both analysed)
    assert comparison_message(who, 3, 2) == ""
    assert comparison_message(who, 3, 1).startswith("PAT-7 · Doe^Jane: 1 of 3 exams analysed.")
    assert comparison_message(who, 1, 1) == \
        "PAT-7 · Doe^Jane has one exam: a comparison needs two or more."
    assert comparison_message(None, 0, 0).startswith("No patient selected")


def test_a_thin_registration_and_a_failed_one_are_named_in_the_pane(timeline, monkeypatch):
    import scoat_core.followup.comparison as comparison
    from scoat_core.followup.registration import METHOD_2D, RegistrationError

    _exams, points, regs, _ = timeline
    thin = dataclasses.replace(regs[1], method=METHOD_2D, note="single slice")
    assert "2-D rigid + affine registration (single slice)" in pane_label(
        points[1], points[0], PointMap(thin))

    def no_lung(base, lung):
        raise RegistrationError("cannot register: no lung in the follow-up exam")

    monkeypatch.setattr(comparison, "register", no_lung)
    problems: dict[int, str] = {}
    known = compute_registrations(points, known={2: regs[2]}, problems=problems)
    assert known == {2: regs[2]}  # the known one reused, the other left out with its reason
    assert problems == {1: "cannot register: no lung in the follow-up exam"}
