"""Key-image levels matched across exams through the registration, and the interval change maps
of the report (scoat_core.report.levels / series), without Qt."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from scoat_core.followup.comparison import PointMap, TimePoint
from scoat_core.followup.registration import METHOD_2D, METHOD_3D, Registration, register
from scoat_core.phantom import make_phantom
from scoat_core.progress import Cancelled
from scoat_core.report.content import build_report
from scoat_core.report.levels import (
    OWN_KEY,
    interval_registration,
    lung_centres,
    map_slices,
    min_gap_mm,
    pick_levels,
    plan_levels,
)
from scoat_core.report.series import report_series
from scoat_core.volume import Volume

SHIFT_MM = 20.0  # the follow-up's table position moved by 4 slices of 5 mm


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(matrix=64, slice_spacing_mm=5.0, slice_thickness_mm=5.0, seed=3,
                        lesion_ml=150, study_date=date(2020, 2, 1))


def _moved(v: Volume, dz_mm: float, array: np.ndarray | None = None) -> Volume:
    """``v``'s voxels (or ``array``) with the origin moved by ``dz_mm`` along z: the same
    anatomy at the same index, another position in the scanner."""
    ox, oy, oz = v.origin
    out = Volume(v.array if array is None else array, spacing=v.spacing,
                 origin=(ox, oy, oz + dz_mm), direction=v.direction, is_hu=v.is_hu)
    out.info = v.info
    return out


def _point(key: int, ct: Volume, lung: np.ndarray, opacity: np.ndarray, day: date,
           lov: float = 100.0) -> TimePoint:
    ct = _moved(ct, 0.0)
    ct.info = ct.info.replace(study_date=day)
    return TimePoint(key, day.isoformat(), ct, lung, opacity,
                     {"lov_ml": lov, "po_percent": lov / 40, "exam": ct.info.to_json()})


def _translation(dz_mm: float, method: str = METHOD_3D, note: str = "") -> Registration:
    return Registration([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.0, 0.0, dz_mm], [0.0, 0.0, 0.0], 0.97,
                        method, note)


def _pair(phantom):
    """The baseline and a follow-up 8 days later, moved by SHIFT_MM in the scanner."""
    ct, lung, lesion = phantom.ct, phantom.lung.array, phantom.lesion.array
    base = _point(1, ct, lung, lesion, date(2020, 2, 1))
    follow = _point(2, _moved(ct, SHIFT_MM), lung, lesion, date(2020, 2, 9), 130.0)
    return base, follow


def _single(phantom) -> TimePoint:
    """The phantom's slice with the most opacity as a single-slice exam, 8 days later."""
    z = int((phantom.lesion.array > 0).sum(axis=(1, 2)).argmax())
    origin = tuple(phantom.ct.index_to_lps(np.array([0.0, 0.0, float(z)])))
    one = Volume(phantom.ct.array[z:z + 1].copy(), spacing=phantom.ct.spacing, origin=origin,
                 direction=phantom.ct.direction, is_hu=True)
    one.info = phantom.ct.info
    return _point(2, one, phantom.lung.array[z:z + 1], phantom.lesion.array[z:z + 1],
                  date(2020, 2, 9))


# ------------------------------------------------------------------------- choosing
def test_pick_levels_takes_the_peaks_apart_and_fills_with_lung_zones():
    scores = np.zeros(60)
    scores[10], scores[12], scores[40] = 900.0, 800.0, 500.0  # 12 is too close to 10
    has_lung = np.zeros(60, bool)
    has_lung[5:55] = True
    levels = pick_levels(scores, has_lung, spacing_mm=2.0, n_levels=3)
    assert levels == sorted(levels) and len(levels) == 3
    assert 10 in levels or 11 in levels  # the top peak (smoothed over ±5 mm)
    assert any(abs(z - 40) <= 1 for z in levels)
    gap = min_gap_mm(50 * 2.0, 3) / 2.0
    assert np.diff(levels).min() >= gap
    # no opacity anywhere: upper, middle and lower lung zones
    zones = pick_levels(np.zeros(60), has_lung, 2.0, 3)
    assert np.abs(np.array(zones) - [17, 30, 42]).max() <= 1
    # a short lung: as many levels as fit
    short = np.zeros(60, bool)
    short[20:24] = True
    assert len(pick_levels(np.zeros(60), short, 5.0, 3)) == 1


def test_levels_are_the_baseline_slices_with_most_opacity_superior_first(phantom):
    base, follow = _pair(phantom)
    plan = plan_levels([base, follow], {2: _translation(SHIFT_MM)}, n_levels=3)
    assert len(plan.axial) == 3
    areas = (phantom.lesion.array > 0).sum(axis=(1, 2))
    assert areas[plan.axial].max() >= 0.9 * areas.max()  # the level with most opacity is in
    z_mm = [base.volume.index_to_lps(np.array([0.0, 0.0, float(z)]))[2] for z in plan.axial]
    assert z_mm == sorted(z_mm, reverse=True)  # head first
    assert plan.exams[1].axial[0].matched and plan.exams[1].note == ""


def test_follow_up_levels_are_mapped_through_the_registration(phantom):
    base, follow = _pair(phantom)
    # the true registration: same anatomy, moved 20 mm → the same slice indices
    plan = plan_levels([base, follow], {2: _translation(SHIFT_MM)})
    assert [m.index for m in plan.exams[2].axial] == plan.axial
    assert [m.baseline_index for m in plan.exams[2].axial] == plan.axial
    assert plan.exams[2].coronal.index == plan.coronal
    # an identity registration (scanner coordinates) would land 4 slices off
    naive = plan_levels([base, follow], {2: _translation(0.0)})
    assert [m.index for m in naive.exams[2].axial if m.index is not None] == \
        [z - 4 for z in naive.axial if z - 4 >= 0]


def test_levels_through_a_computed_registration_within_a_slice(phantom):
    base, follow = _pair(phantom)
    reg = register(base.volume.derive(base.lung), follow.volume.derive(follow.lung))
    assert reg.method == METHOD_3D
    plan = plan_levels([base, follow], {2: reg})
    for level, mapped in zip(plan.axial, plan.exams[2].axial, strict=True):
        assert mapped.baseline_index == level and abs(mapped.index - level) <= 1
    # the same as mapping the baseline slice's lung centre with the Compare tab's PointMap
    centres, _ = lung_centres(base.volume, base.lung, "axial")
    expected = map_slices(centres[plan.axial], PointMap(reg), follow.volume, "axial")
    assert [m.index for m in plan.exams[2].axial] == expected.tolist()


def test_a_level_outside_a_short_follow_up_says_so(phantom):
    base, _ = _pair(phantom)
    nz = phantom.ct.shape[0]
    keep = slice(nz // 2, nz)  # the upper half only
    short_ct = Volume(phantom.ct.array[keep], spacing=phantom.ct.spacing,
                      origin=tuple(phantom.ct.index_to_lps(np.array([0.0, 0.0, nz // 2]))),
                      direction=phantom.ct.direction, is_hu=True)
    short_ct.info = phantom.ct.info
    short = _point(2, short_ct, phantom.lung.array[keep], phantom.lesion.array[keep],
                   date(2020, 2, 9))
    plan = plan_levels([base, short], {2: _translation(0.0)})
    for level, mapped in zip(plan.axial, plan.exams[2].axial, strict=True):
        if level < nz // 2:
            assert mapped.index is None and mapped.note == "outside this exam"
        else:
            assert mapped.index == level - nz // 2


def test_single_slice_follow_up_falls_back_to_its_own_key_slice(phantom):
    base, _ = _pair(phantom)
    single = _single(phantom)
    one = single.volume
    reg = register(base.volume.derive(base.lung), one.derive(single.lung))
    assert reg.method == METHOD_2D and "single slice" in reg.note
    plan = plan_levels([base, single], {2: reg})
    levels = plan.exams[2]
    assert [(m.index, m.baseline_index, m.note) for m in levels.axial] == [(0, None, OWN_KEY)]
    assert "single slice" in levels.note
    assert plan.exams[1].note == ""  # the baseline keeps its levels
    # not registered at all: the same fallback, saying so
    assert plan_levels([base, single], {}).exams[2].note == "not registered"


def test_interval_registration_goes_through_the_baseline():
    a = Registration([1.02, 0.01, 0, -0.01, 0.98, 0, 0, 0, 1.0, 3.0, -2.0, 10.0],
                     [5.0, 6.0, 7.0], 0.95)
    b = Registration([0.99, 0, 0.02, 0, 1.01, 0, -0.02, 0, 1.0, -1.0, 4.0, -6.0],
                     [1.0, -2.0, 30.0], 0.9, METHOD_2D, "3 slices, 15 mm")
    ab = interval_registration(a, b)
    x_a = np.array([12.0, -40.0, 55.0])
    expected = PointMap(b).to_exam(PointMap(a).to_baseline(x_a))
    assert np.allclose(PointMap(ab).to_exam(x_a), expected)
    assert (ab.method, ab.note, ab.lung_dice_after) == (METHOD_2D, "3 slices, 15 mm", 0.9)
    assert interval_registration(None, b) is b


# ------------------------------------------------------------------------- the series
def _series(phantom):
    """Baseline, a follow-up with more opacity (moved in the scanner), a later one with less."""
    ct, lung, lesion = phantom.ct, phantom.lung.array, phantom.lesion.array
    grown = np.zeros_like(lesion)
    grown[:, :, :] = lesion
    grown[:, :, 1:] |= lesion[:, :, :-1]  # one voxel more to the left
    shrunk = lesion.copy()
    shrunk[: lesion.shape[0] // 2] = 0
    return [_point(1, ct, lung, lesion, date(2020, 2, 1)),
            _point(2, _moved(ct, SHIFT_MM), lung, grown, date(2020, 2, 9), 160.0),
            _point(3, _moved(ct, -SHIFT_MM), lung, shrunk, date(2020, 2, 20), 60.0)]


def test_report_series_levels_and_one_change_map_per_interval(phantom):
    points = _series(phantom)
    regs = {2: _translation(SHIFT_MM), 3: _translation(-SHIFT_MM)}
    progress: list[float] = []
    exams, intervals, plan = report_series(points, regs, progress=lambda f, _t: progress.append(f))
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert [len(e.levels) for e in exams] == [3, 3, 3]
    for exam in exams:
        assert [i.index for i in exam.levels] == plan.axial  # same anatomy, same index here
        assert all(i.rgb is not None and i.caption.startswith("Slice ") for i in exam.levels)
        assert exam.coronal_level is not None and exam.level_note == ""
    assert len(intervals) == 2
    voxel_ml = phantom.ct.voxel_volume_ml
    lesion, grown, shrunk = (p.opacity > 0 for p in points)
    first, second = intervals
    assert first.first_label == "2020-02-01" and second.second_label == "2020-02-20"
    assert first.days == 8 and second.days == 11
    # the interval maps are exact: the registrations are the true ones
    assert first.new_ml == pytest.approx((grown & ~lesion).sum() * voxel_ml)
    assert first.persistent_ml == pytest.approx(lesion.sum() * voxel_ml)
    assert second.resolved_ml == pytest.approx((grown & ~shrunk).sum() * voxel_ml)
    assert second.new_ml == pytest.approx(0.0)
    assert first.note == "2020-02-09 registered onto 2020-02-01: 3-D rigid + affine, lung Dice 0.97"
    assert second.note.startswith("both exams registered onto the baseline 2020-02-01")
    green = [(i.rgb[..., 1].astype(int) - i.rgb[..., 0] > 60).sum() for i in second.images]
    assert sum(green) > 0  # resolved opacity drawn in green


def test_report_series_without_a_registration_says_why(phantom):
    points = _series(phantom)[:2]
    exams, intervals, _ = report_series(points, {}, problems={2: "cannot register: no lung"})
    assert exams[1].level_note == "not registered: cannot register: no lung"
    assert [i.note for i in exams[1].levels] == [OWN_KEY]
    (change,) = intervals
    assert not change.available and change.images == []
    assert "not registered (cannot register: no lung)" in change.note


def test_report_series_with_a_single_slice_exam(phantom):
    """The single-slice exam shows its own key slice (no coronal), its interval no change map,
    and both say why."""
    base, _ = _pair(phantom)
    single = _single(phantom)
    one = single.volume
    reg = register(base.volume.derive(base.lung), one.derive(single.lung))
    exams, (change,), _ = report_series([base, single], {2: reg})
    assert [i.note for i in exams[1].levels] == [OWN_KEY] and exams[1].levels[0].index == 0
    assert "single slice" in exams[1].level_note
    assert exams[1].coronal_image() is None and exams[0].coronal_image() is not None
    assert not change.available
    assert change.note.startswith("no change map: 2-D rigid + affine registration (single")


def test_report_series_can_be_cancelled(phantom):
    points = _series(phantom)
    with pytest.raises(Cancelled):
        report_series(points, {}, cancel=lambda: True)


def test_anonymised_report_renames_the_intervals(phantom):
    points = _series(phantom)[:2]
    exams, intervals, _ = report_series(points, {2: _translation(SHIFT_MM)})
    exams = [dataclasses.replace(e, label=f"Doe^Jane {e.label}") for e in exams]
    intervals = [dataclasses.replace(c, first_label=f"Doe^Jane {c.first_label}",
                                     second_label=f"Doe^Jane {c.second_label}")
                 for c in intervals]
    data = build_report("P1", "Doe^Jane", exams, {}, "0.1", anonymise=True, intervals=intervals)
    (change,) = data.intervals
    assert (change.first_label, change.second_label) == ("Exam 1", "Exam 2")
    assert change.new_ml is not None
