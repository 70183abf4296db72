"""The report's key-image levels: chosen on the baseline, matched in every exam by registration.

The levels are the axial slices of the baseline where the series has the most opacity: for each
baseline slice the opacity area (mm²) of every exam at that anatomy is summed (a follow-up's
slice through the same anatomy is found with its registration), lightly smoothed along z, and
the best slices are taken at least :func:`min_gap_mm` apart (superior first), among the slices
that show a fair part of the lungs (:func:`wide_lung_slices`: not the apex, not the sliver of
lung beside the liver dome). Without opacity anywhere the levels spread over the lungs (middle,
then upper and lower zones). One coronal level is chosen the same way.

A level goes through the lung centre of its baseline slice; in a follow-up it is the slice
through that point brought over by the Compare tab's :class:`~scoat_core.followup.comparison.
PointMap` (baseline LPS → exam LPS). An exam without a 3-D registration (a single-slice or thin
exam registered in 2-D or by translation, or not registered at all) has no matched levels: it
shows its own key slice, and :attr:`ExamLevels.note` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from scoat_core import display
from scoat_core.followup.comparison import PointMap, TimePoint
from scoat_core.followup.registration import METHOD_3D, METHOD_TRANSLATION, Registration
from scoat_core.volume import Volume

DEFAULT_LEVELS = 3
#: Levels are never closer than this (mm), nor than a ``2 n``-th of the lungs' extent.
MIN_GAP_MM = 20.0
#: Half-width (mm) of the moving average of the per-slice opacity scores.
SMOOTH_MM = 5.0
#: A level's baseline slice holds at least this fraction of the largest slice's lung area.
MIN_LUNG_FRACTION = 0.3
OWN_KEY = "own key slice"
_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}


@dataclass(frozen=True)
class MappedSlice:
    """One level in one exam: the exam's slice and the baseline slice it matches."""

    index: int | None
    """The exam's slice (None: the level lies outside the exam)."""
    baseline_index: int | None
    """The baseline slice of the level; None for the exam's own key slice (not matched)."""
    note: str = ""
    """'' for a matched level; else what it is ("own key slice", "outside this exam")."""

    @property
    def matched(self) -> bool:
        return self.index is not None and self.baseline_index is not None


@dataclass
class ExamLevels:
    """An exam's axial levels (in the order of :attr:`LevelPlan.axial`) and coronal level."""

    axial: list[MappedSlice]
    coronal: MappedSlice
    note: str = ""
    """Why the exam shows its own key slices ('' when its levels are matched)."""


@dataclass
class LevelPlan:
    """The baseline levels and where each exam shows them (by time-point key)."""

    axial: list[int]
    """Baseline axial slices, superior first."""
    coronal: int
    """Baseline coronal slice."""
    exams: dict[int, ExamLevels] = field(default_factory=dict)


def _array(mask) -> np.ndarray | None:
    return None if mask is None else np.asarray(getattr(mask, "array", mask))


def min_gap_mm(extent_mm: float, n_levels: int) -> float:
    """Smallest distance between two levels: :data:`MIN_GAP_MM` or a ``2 n``-th of the lungs'
    extent, whichever is larger."""
    return max(MIN_GAP_MM, extent_mm / (2 * max(n_levels, 1)))


def lung_centres(volume: Volume, lung: np.ndarray,
                 plane: display.Plane) -> tuple[np.ndarray, np.ndarray]:
    """LPS points (n, 3) at the lung centre of every ``plane`` slice (the slice centre where a
    slice has no lung), and which slices have lung."""
    axis = _AXIS[plane]
    mask = np.asarray(lung) > 0
    n = mask.shape[axis]
    counts = mask.sum(axis=tuple(a for a in range(3) if a != axis)).astype(float)
    zyx = np.zeros((n, 3))
    zyx[:, axis] = np.arange(n)
    for other in (a for a in range(3) if a != axis):
        per_slice = mask.sum(axis=3 - axis - other)  # axes (axis, other) in increasing order
        if other < axis:
            per_slice = per_slice.T
        sums = per_slice @ np.arange(mask.shape[other], dtype=float)
        centre = (mask.shape[other] - 1) / 2.0
        zyx[:, other] = np.where(counts > 0, sums / np.maximum(counts, 1), centre)
    return volume.index_to_lps(zyx[:, ::-1]), counts > 0


def map_slices(points_lps: np.ndarray, point_map: PointMap, exam: Volume,
               plane: display.Plane) -> np.ndarray:
    """The exam's ``plane`` slice (not clamped) through each baseline point, via ``point_map``."""
    pts = np.asarray(points_lps, float).reshape(-1, 3)
    moved = pts @ point_map.matrix.T + point_map.offset
    xyz = exam.lps_to_index(moved)
    return np.rint(xyz[:, 2 - _AXIS[plane]]).astype(int)


def opacity_areas(volume: Volume, opacity: np.ndarray, plane: display.Plane) -> np.ndarray:
    """Opacity area (mm²) of every ``plane`` slice."""
    axis = _AXIS[plane]
    rows, cols = display.pixel_size_mm(volume.spacing, plane)
    other = tuple(a for a in range(3) if a != axis)
    return (np.asarray(opacity) > 0).sum(axis=other) * rows * cols


def matchable(point_map: PointMap | None) -> str:
    """'' when levels can be matched through ``point_map`` (a 3-D registration); else why not."""
    reg = None if point_map is None else point_map.registration
    if reg is None:
        return "not registered"
    if reg.method != METHOD_3D:
        return reg.describe()
    return ""


def level_scores(points: Sequence[TimePoint], maps: Sequence[PointMap | None],
                 plane: display.Plane) -> np.ndarray:
    """For each baseline ``plane`` slice: the opacity area (mm²) summed over the exams at that
    anatomy (only exams with a 3-D registration besides the baseline), 0 without lung."""
    base = points[0]
    lung = _array(base.lung)
    centres, has_lung = lung_centres(base.volume, lung, plane)
    total = np.zeros(len(centres))
    for point, pmap in zip(points, maps, strict=True):
        opacity = _array(point.opacity)
        if opacity is None or (point is not base and matchable(pmap)):
            continue
        areas = opacity_areas(point.volume, opacity, plane)
        if point is base:
            total += areas
            continue
        index = map_slices(centres, pmap, point.volume, plane)
        inside = (index >= 0) & (index < len(areas))
        total[inside] += areas[index[inside]]
    return np.where(has_lung, total, 0.0)


def wide_lung_slices(lung: np.ndarray, plane: display.Plane,
                     fraction: float = MIN_LUNG_FRACTION) -> np.ndarray:
    """The ``plane`` slices whose lung area is at least ``fraction`` of the largest one's (not
    the apex or a sliver above the diaphragm: a level shows lung)."""
    axis = _AXIS[plane]
    area = (np.asarray(lung) > 0).sum(axis=tuple(a for a in range(3) if a != axis))
    return (area > 0) & (area >= fraction * area.max())


def pick_levels(scores: np.ndarray, has_lung: np.ndarray, spacing_mm: float,
                n_levels: int = DEFAULT_LEVELS) -> list[int]:
    """Up to ``n_levels`` slices with the highest (smoothed) score, at least
    :func:`min_gap_mm` apart; when the opacity is in fewer places, completed by the middle of
    the longest stretches of lung left (upper, middle and lower zones without opacity at all).
    Ascending slice order."""
    scores, has_lung = np.asarray(scores, float), np.asarray(has_lung, bool)
    lung_slices = np.flatnonzero(has_lung)
    if not len(lung_slices):
        return [len(scores) // 2]
    extent = (lung_slices[-1] - lung_slices[0] + 1) * spacing_mm
    gap = max(1, math.ceil(min_gap_mm(extent, n_levels) / spacing_mm - 1e-9))
    half = round(SMOOTH_MM / spacing_mm)
    smooth = scores
    if half > 0:
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        smooth = np.convolve(scores, kernel, mode="same")
    chosen: list[int] = []

    def free(i: int) -> bool:
        return all(abs(i - c) >= gap for c in chosen)

    # the highest smoothed score first; between equal ones, the highest raw score
    for i in np.lexsort((-scores, -np.where(has_lung, smooth, -1.0))):
        if len(chosen) >= n_levels or smooth[i] <= 0 or not has_lung[i]:
            break
        if free(int(i)):
            chosen.append(int(i))
    lo, hi = int(lung_slices[0]), int(lung_slices[-1])
    while len(chosen) < n_levels:  # the middle of the longest stretch of lung left
        room = [int(i) for i in lung_slices if free(int(i))]
        if not room:
            break
        chosen.append(max(room, key=lambda i: min(abs(i - a) for a in [*chosen, lo, hi])))
    return sorted(chosen)


def _superior_first(volume: Volume, slices: list[int]) -> list[int]:
    """Axial slices ordered from head to feet (LPS z descending)."""
    def z(i: int) -> float:
        return float(volume.index_to_lps(np.array([0.0, 0.0, float(i)]))[2])
    return sorted(slices, key=z, reverse=True)


def _own(point: TimePoint) -> tuple[int, int]:
    opacity, lung = _array(point.opacity), _array(point.lung)
    if opacity is None:
        opacity = np.zeros(point.volume.shape, np.uint8)
    return display.key_slices(opacity, lung)


def plan_levels(points: Sequence[TimePoint], registrations: Mapping[int, Registration],
                n_levels: int = DEFAULT_LEVELS) -> LevelPlan:
    """The report's levels (see the module docstring): ``points`` in date order, the first the
    baseline; ``registrations[key]`` maps baseline LPS to that exam's LPS (as the Compare tab
    and :meth:`~scoat_core.store.Store.registrations_for` give them)."""
    if not points:
        raise ValueError("no exam to choose levels in")
    base = points[0]
    maps: list[PointMap | None] = [None] + [
        PointMap(registrations[p.key]) if p.key in registrations else None for p in points[1:]]
    lung = _array(base.lung)
    if lung is None or not lung.any():
        z, y = _own(base)
        plan = LevelPlan([z], y)
        for point in points:
            own_z, own_y = _own(point)
            if point is base:
                plan.exams[point.key] = ExamLevels([MappedSlice(z, z)], MappedSlice(y, y))
            else:
                plan.exams[point.key] = ExamLevels([MappedSlice(own_z, None, OWN_KEY)],
                                                   MappedSlice(own_y, None, OWN_KEY),
                                                   "no lung in the baseline")
        return plan
    levels: dict[str, list[int]] = {}
    centres: dict[str, np.ndarray] = {}
    _, sy, sz = base.volume.spacing
    for plane, n, step in (("axial", n_levels, sz), ("coronal", 1, sy)):
        centres[plane], _ = lung_centres(base.volume, lung, plane)
        levels[plane] = pick_levels(level_scores(points, maps, plane),
                                    wide_lung_slices(lung, plane), step, n)
    axial = _superior_first(base.volume, levels["axial"])
    coronal = levels["coronal"][0]
    plan = LevelPlan(axial, coronal)
    for point, pmap in zip(points, maps, strict=True):
        if point is base:
            plan.exams[point.key] = ExamLevels([MappedSlice(z, z) for z in axial],
                                               MappedSlice(coronal, coronal))
            continue
        why = matchable(pmap)
        if why:
            own_z, own_y = _own(point)
            plan.exams[point.key] = ExamLevels([MappedSlice(own_z, None, OWN_KEY)],
                                               MappedSlice(own_y, None, OWN_KEY), why)
            continue
        mapped: dict[str, list[MappedSlice]] = {}
        for plane, chosen in (("axial", axial), ("coronal", [coronal])):
            index = map_slices(centres[plane][chosen], pmap, point.volume, plane)
            n = display.n_slices(point.volume.shape, plane)
            mapped[plane] = [MappedSlice(int(i), b) if 0 <= i < n
                             else MappedSlice(None, b, "outside this exam")
                             for i, b in zip(index, chosen, strict=True)]
        plan.exams[point.key] = ExamLevels(mapped["axial"], mapped["coronal"][0])
    return plan


def interval_registration(first: Registration | None, second: Registration) -> Registration:
    """Exam A LPS → exam B LPS, from the registrations baseline → A (``first``; None when A is
    the baseline) and baseline → B: one affine, through the baseline (no new registration)."""
    if first is None:
        return second
    a, b = PointMap(first), PointMap(second)
    matrix = b.matrix @ np.linalg.inv(a.matrix)
    offset = b.offset - matrix @ a.offset
    worse = first if first.method != METHOD_3D else second
    if first.method == METHOD_TRANSLATION or second.method == METHOD_TRANSLATION:
        worse = first if first.method == METHOD_TRANSLATION else second
    return Registration([*matrix.ravel().tolist(), *offset.tolist()], [0.0, 0.0, 0.0],
                        min(first.lung_dice_after, second.lung_dice_after), worse.method,
                        worse.note)
