"""A patient's series for the report: key images at matched levels and the interval change maps.

:func:`report_series` turns the analysed exams (Compare's :class:`~scoat_core.followup.
comparison.TimePoint`, in date order) and their registrations onto the baseline (as the Compare
tab and :meth:`~scoat_core.store.Store.registrations_for` give them, stored once per pair of
analyses) into :class:`~scoat_core.report.content.ReportExam` with
:attr:`~scoat_core.report.content.ReportExam.levels` (the levels of :mod:`.levels`) and one
:class:`~scoat_core.report.images.IntervalChange` per pair of consecutive exams: the Compare
tab's new / resolved / persistent labels (:func:`~scoat_core.followup.comparison.change_labels`)
of the later exam against the earlier one, through the two registrations to the baseline. An
interval with an exam registered only in 2-D or by translation (single-slice and thin exams)
has no change map: its note says why.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from scoat_core import display
from scoat_core.followup.comparison import POOR_DICE, TimePoint, change_labels
from scoat_core.followup.registration import METHOD_3D, Registration
from scoat_core.progress import Cancelled
from scoat_core.report.content import ReportExam, report_exam
from scoat_core.report.images import IntervalChange, KeyImage, slice_image
from scoat_core.report.levels import (
    DEFAULT_LEVELS,
    ExamLevels,
    LevelPlan,
    MappedSlice,
    interval_registration,
    plan_levels,
)

#: A coronal image needs at least this extent (mm) along z to be worth showing.
MIN_CORONAL_MM = 30.0

Progress = Callable[[float, str], None]


def _mask(mask) -> np.ndarray | None:
    return None if mask is None else np.asarray(getattr(mask, "array", mask))


def _caption(point: TimePoint, plane: display.Plane, index: int) -> str:
    volume = point.volume
    if plane == "axial":
        return display.slice_title(index, volume.shape[0], volume.instance_numbers)
    return f"Coronal {index + 1}/{volume.shape[1]}"


def _image(point: TimePoint, plane: display.Plane, level: MappedSlice,
           change: np.ndarray | None = None) -> KeyImage:
    """The key image of ``point`` at ``level`` (change colours instead of the opacity when
    ``change`` is given); an empty image when the level is outside the exam."""
    letters = display.orientation_letters(point.volume.direction, plane)
    if level.index is None:
        return KeyImage(None, letters=letters, plane=plane,
                        baseline_index=level.baseline_index, note=level.note)
    lung = _mask(point.lung)
    lung = np.zeros(point.volume.shape, bool) if lung is None else lung
    rgb, pixel = slice_image(point.volume, lung, _mask(point.opacity), plane, level.index,
                             change=change)
    return KeyImage(rgb, pixel, letters, _caption(point, plane, level.index), plane,
                    level.index, level.baseline_index, level.note)


def _coronal_worth_it(point: TimePoint) -> bool:
    nz, sz = point.volume.shape[0], point.volume.spacing[2]
    return nz * sz >= MIN_CORONAL_MM


def _exam(point: TimePoint, levels: ExamLevels) -> ReportExam:
    exam = report_exam(point.metrics or {}, point.volume, point.lung, point.opacity,
                       point.label, images=False)  # the images are the matched levels
    exam.levels = [_image(point, "axial", level) for level in levels.axial]
    # a strip a few slices high gets no coronal image
    exam.coronal_level = (_image(point, "coronal", levels.coronal)
                          if _coronal_worth_it(point) else None)
    exam.level_note = levels.note
    return exam


def _interval_note(second: TimePoint, regs: Sequence[Registration | None], reg: Registration,
                   baseline: str) -> str:
    """How the interval's exams were brought together (in 3-D): the lung Dice of each
    registration onto the baseline."""
    dice = ", ".join(f"{r.lung_dice_after:.2f}" for r in regs if r is not None)
    method = "3-D rigid + affine"
    if regs[0] is None:
        text = f"{second.label} registered onto {baseline}: {method}, lung Dice {dice}"
    else:
        text = (f"both exams registered onto the baseline {baseline} ({method}, lung Dice "
                f"{dice}); the change is mapped through it")
    if reg.lung_dice_after < POOR_DICE:
        text += " · poor registration: read the change map with care"
    return text


def _interval(first: TimePoint, second: TimePoint, regs: Sequence[Registration | None],
              baseline: str, levels: ExamLevels, why: str) -> IntervalChange:
    """The change from ``first`` to ``second``; ``regs``: baseline → each of them (None for
    the baseline itself)."""
    reg = None if regs[1] is None else interval_registration(regs[0], regs[1])
    change = IntervalChange(first.label, second.label, first.volume.info.study_date,
                            second.volume.info.study_date)
    if reg is not None and reg.method != METHOD_3D:
        change.note = (f"no change map: {reg.describe()} only, not 3-D: the same anatomy "
                       "cannot be followed through the lungs, so no new / resolved / "
                       "persistent volume is measured")
        return change
    labels = None if reg is None else change_labels(first, second, reg)
    if labels is None:
        change.note = "no change map: " + (why or "an exam is not analysed")
        return change
    voxel_ml = second.volume.voxel_volume_ml
    change.new_ml, change.resolved_ml, change.persistent_ml = (
        float(np.count_nonzero(labels == v) * voxel_ml) for v in (1, 2, 3))
    change.images = [_image(second, "axial", level, labels) for level in levels.axial]
    if _coronal_worth_it(second):
        change.coronal = _image(second, "coronal", levels.coronal, labels)
    assert reg is not None
    change.note = _interval_note(second, regs, reg, baseline)
    return change


def report_series(points: Sequence[TimePoint], registrations: Mapping[int, Registration],
                  *, problems: Mapping[int, str] | None = None,
                  n_levels: int = DEFAULT_LEVELS, progress: Progress | None = None,
                  cancel: Callable[[], bool] | None = None,
                  ) -> tuple[list[ReportExam], list[IntervalChange], LevelPlan]:
    """The report's exams at matched levels, the change of each interval and the level plan.

    ``points`` are in date order (the first is the baseline); ``registrations[key]`` maps
    baseline LPS to exam ``key``'s LPS; ``problems[key]`` says why an exam was not registered.
    ``progress(fraction, text)``; ``cancel()`` returning True raises
    :class:`~scoat_core.progress.Cancelled` between exams.
    """
    problems = problems or {}
    plan = plan_levels(points, registrations, n_levels)
    steps = max(1, 2 * len(points) - 1)

    def step(done: int, text: str) -> None:
        if cancel is not None and cancel():
            raise Cancelled("report cancelled")
        if progress is not None:
            progress(done / steps, text)

    exams = []
    for i, point in enumerate(points):
        step(i, f"Key images of exam {i + 1} of {len(points)}")
        exams.append(_exam(point, plan.exams[point.key]))
        if point.key in problems and i > 0:
            exams[-1].level_note = f"not registered: {problems[point.key]}"
    intervals = []
    base = points[0].key if points else None
    for i, (first, second) in enumerate(itertools.pairwise(points), 1):
        step(len(points) + i - 1, f"Change map {i} of {len(points) - 1}")
        regs = [None if p.key == base else registrations.get(p.key) for p in (first, second)]
        missing = [p for p, r in zip((first, second), regs, strict=True)
                   if p.key != base and r is None]
        why = "; ".join(f"{p.label or 'an exam'} not registered"
                        + (f" ({problems[p.key]})" if p.key in problems else "")
                        for p in missing)
        if missing:
            regs = [None, None]
        intervals.append(_interval(first, second, regs, points[0].label,
                                   plan.exams[second.key], why))
    if progress is not None:
        progress(1.0, "Report ready")
    return exams, intervals, plan
