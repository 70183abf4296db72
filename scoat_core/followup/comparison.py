"""Side-by-side comparison of one patient's exams, without Qt.

* :class:`TimePoint`: one exam shown in a pane (CT, optional masks and metrics).
* :class:`PointMap`: baseline LPS ↔ exam LPS through a
  :class:`~scoat_core.followup.registration.Registration` (identity when the exam is not
  registered), both directions in closed form (the registration is affine, so the inverse is
  exact).
* :func:`compute_registrations`: each follow-up's lungs registered onto the baseline's.
* :func:`change_labels` / :func:`change_rgba`: new / resolved / persistent opacity on the
  **follow-up's** grid (the follow-up pane shows it), and its colours.
* :func:`pane_label`, :func:`grid_shape`: pane titles and layout.
* :func:`patient_label`, :func:`exam_title`, :func:`timeline_title`, :func:`no_exam_text`,
  :func:`comparison_title`, :func:`comparison_message`: what each view says about the patient
  and exam it shows (every view names both, so that another patient's images are never taken for
  the selected one's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from scoat_core import display
from scoat_core.errors import UserError
from scoat_core.followup.registration import Registration, opacity_change_maps, register
from scoat_core.progress import Cancelled
from scoat_core.volume import Volume

log = logging.getLogger(__name__)

#: Values of :func:`change_labels`.
CHANGE_LABELS: dict[int, str] = {1: "new", 2: "resolved", 3: "persistent"}
MAX_POINTS = 4
#: Below this lung Dice after registration the pane label warns that the alignment is poor.
POOR_DICE = 0.85


@dataclass
class TimePoint:
    """One exam of the comparison. ``lung`` (labels) and ``opacity`` (non-zero = opacity) are
    ``[z, y, x]`` masks on ``volume``'s grid (or None when not analysed); ``metrics`` is
    ``AnalysisResult.to_json()`` (``lov_ml``, ``po_percent``...). ``label`` names the exam when it
    has no study date; ``patient`` (:func:`patient_label`) heads the pane's title."""

    key: int
    label: str
    volume: Volume
    lung: np.ndarray | None = None
    opacity: np.ndarray | None = None
    metrics: dict | None = None
    patient: str = ""


def _array(mask: np.ndarray | Volume | None) -> np.ndarray | None:
    return mask.array if isinstance(mask, Volume) else mask


class PointMap:
    """Baseline LPS → exam LPS (:meth:`to_exam`) and back (:meth:`to_baseline`)."""

    def __init__(self, registration: Registration | None = None) -> None:
        self.registration = registration
        if registration is None:
            self.matrix, self.offset = np.eye(3), np.zeros(3)
        else:
            # ITK affine: y = M (x − c) + c + t
            p = np.asarray(registration.parameters, float)
            c = np.asarray(registration.center, float)
            self.matrix = p[:9].reshape(3, 3)
            self.offset = p[9:12] + c - self.matrix @ c
        self._inverse = np.linalg.inv(self.matrix)

    @property
    def registered(self) -> bool:
        return self.registration is not None

    def to_exam(self, baseline_lps) -> np.ndarray:
        """Exam position (LPS mm) of the anatomy at a baseline position."""
        return self.matrix @ np.asarray(baseline_lps, float).reshape(3) + self.offset

    def to_baseline(self, exam_lps) -> np.ndarray:
        """Baseline position (LPS mm) of the anatomy at an exam position."""
        return self._inverse @ (np.asarray(exam_lps, float).reshape(3) - self.offset)


def inverse_registration(reg: Registration) -> Registration:
    """The registration that maps exam LPS points back to baseline LPS points."""
    p = np.asarray(reg.parameters, float)
    m_inv = np.linalg.inv(p[:9].reshape(3, 3))
    params = [*m_inv.ravel().tolist(), *(-m_inv @ p[9:12]).tolist()]
    return Registration(params, list(reg.center), reg.lung_dice_after)


def compute_registrations(points: Sequence[TimePoint],
                          progress: Callable[[int, int], None] | None = None,
                          cancel: Callable[[], bool] | None = None,
                          known: Mapping[int, Registration] | None = None,
                          problems: dict[int, str] | None = None) -> dict[int, Registration]:
    """Register every follow-up's lungs onto the first (baseline) exam's lungs.

    Exams without a lung mask (and all of them when the baseline has none) are left out; the
    comparison shows them unregistered. ``known[key]`` (e.g. stored) is used as it is instead of
    registering again. An exam that cannot be registered (no lung) is left out too, with the
    reason in ``problems[key]`` when given. ``progress(done, total)`` (registrations) as
    :class:`scoat_core.progress.TerminalProgress`; ``cancel()`` returning True raises
    :class:`~scoat_core.progress.Cancelled` between registrations.
    """
    if not points or _array(points[0].lung) is None:
        return {}
    base = points[0]
    base_lung = base.volume.derive(_array(base.lung))
    known = known or {}
    out: dict[int, Registration] = {p.key: known[p.key] for p in points[1:] if p.key in known}
    todo = [p for p in points[1:]
            if _array(p.lung) is not None and p.key != base.key and p.key not in out]
    for i, point in enumerate(todo):
        if cancel is not None and cancel():
            raise Cancelled("registration cancelled")
        if progress is not None:
            progress(i, len(todo))
        try:
            out[point.key] = register(base_lung, point.volume.derive(_array(point.lung)))
        except UserError as exc:
            log.warning("exam %s not registered: %s", point.key, exc)
            if problems is not None:
                problems[point.key] = str(exc)
    if progress is not None:
        progress(len(todo), len(todo))
    return out


def change_labels(baseline: TimePoint, followup: TimePoint,
                  reg: Registration) -> np.ndarray | None:
    """On the follow-up's grid: 1 = new opacity, 2 = resolved, 3 = persistent, 0 = none (the
    baseline opacity brought onto the follow-up through ``reg``). None without both opacities."""
    base_op, fu_op = _array(baseline.opacity), _array(followup.opacity)
    if base_op is None or fu_op is None:
        return None
    # opacity_change_maps works on its first argument's grid: give it the follow-up, with the
    # inverse transform; its "new" (there, not in the baseline) is then "resolved" and back.
    maps = opacity_change_maps(followup.volume.derive(fu_op > 0),
                               baseline.volume.derive(base_op > 0), inverse_registration(reg))
    swap = np.array([0, 2, 1, 3], np.uint8)
    return swap[maps.array]


def change_rgba(labels: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """RGBA uint8 of a 2-D change-label slice: new red, resolved green, persistent amber."""
    lut = np.zeros((4, 4), np.uint8)
    a = round(255 * min(max(float(alpha), 0.0), 1.0))
    for value, name in CHANGE_LABELS.items():
        lut[value] = (*display.COLOURS[name], a)
    return lut[np.clip(np.asarray(labels), 0, 3)]


def exam_name(point: TimePoint) -> str:
    """The exam's study date (ISO), else its label, else ``exam <key>``."""
    day = point.volume.info.study_date
    return day.isoformat() if day else (point.label or f"exam {point.key}")


def scanner_name(info) -> str:
    """Short scanner name: the manufacturer's first word and the model ("GE LightSpeed VCT")."""
    maker = info.manufacturer.split()[0] if info.manufacturer.strip() else ""
    return " ".join(s for s in (maker, info.model.strip()) if s)


def pane_label(point: TimePoint, baseline: TimePoint | None = None,
               point_map: PointMap | None = None, notes: Sequence[str] = ()) -> str:
    """Pane title, one item per line (short lines fit the pane's corner): the patient (when the
    point names one); date and day after the baseline; scanner; LOV and PO; notes such as "not
    registered" (``point_map`` given and identity) or how a thin exam was registered."""
    info = point.volume.info
    first = [exam_name(point)]
    if baseline is None or baseline.key == point.key:
        first.append("baseline")
    elif info.study_date and baseline.volume.info.study_date:
        first.append(f"day {(info.study_date - baseline.volume.info.study_date).days}")
    lines = [point.patient] if point.patient else []
    lines.append(" · ".join(first))
    if scanner_name(info):
        lines.append(scanner_name(info))
    m = point.metrics or {}
    if m.get("lov_ml") is not None and m.get("po_percent") is not None:
        lines.append(f"LOV {m['lov_ml']:.1f} mL · PO {m['po_percent']:.1f} %")
    else:
        lines.append("not analysed")
    extra = list(notes)
    if point_map is not None and baseline is not None and point.key != baseline.key:
        reg = point_map.registration
        if reg is None:
            extra.insert(0, "not registered")
        elif reg.lung_dice_after < POOR_DICE:
            extra.insert(0, f"poor registration (lung Dice {reg.lung_dice_after:.2f})")
        if reg is not None and reg.describe():
            extra.insert(0, reg.describe())
    if extra:
        lines.append(" · ".join(extra))
    return "\n".join(lines)


def patient_label(patient_id: str, name: str = "") -> str:
    """'PAT-7 · Doe^Jane' (the name left out when empty or the same as the ID)."""
    pid, name = patient_id.strip(), name.strip()
    parts = [pid or "patient without ID"] + ([name] if name and name != pid else [])
    return " · ".join(parts)


def _day(when: date | str | None) -> str:
    if isinstance(when, date):
        return when.isoformat()
    return str(when) if when else "date unknown"


def exam_title(patient: str, when: date | str | None) -> str:
    """'PAT-7 · Doe^Jane — 2020-03-14': the patient and the exam a view shows."""
    return f"{patient} — {_day(when)}"


def timeline_title(patient: str, dates: Sequence[date | None]) -> str:
    """'PAT-7 · Doe^Jane — 3 exams, 2020-03-01 to 2020-03-20' (the timeline plot's title)."""
    known = sorted(d for d in dates if d is not None)
    n = len(dates)
    head = f"{patient} — {n} exam{'s' if n != 1 else ''}"
    if not known:
        return head if n == 0 else f"{head}, dates unknown"
    span = known[0].isoformat() if known[0] == known[-1] else \
        f"{known[0].isoformat()} to {known[-1].isoformat()}"
    return f"{head}, {span}"


def no_exam_text(patient: str | None, opening: date | str | None = None) -> str:
    """What an exam view shows without an exam: the patient and what to do."""
    if patient is None:
        return "No patient selected: select a patient and an exam in the patient list."
    if opening is not None:
        return f"{exam_title(patient, opening)}: opening…"
    return f"{patient}: no exam shown. Select an exam of this patient in the patient list."


def comparison_title(points: Sequence[TimePoint]) -> str:
    """'PAT-7 · Doe^Jane — 2020-03-01 (baseline) vs 2020-03-09, 2020-03-20'."""
    if not points:
        return ""
    patient = points[0].patient or "patient unknown"
    days = [exam_name(p) for p in points]
    rest = f" vs {', '.join(days[1:])}" if len(days) > 1 else ""
    return f"{patient} — {days[0]} (baseline){rest}"


def comparison_message(patient: str | None, n_exams: int, n_analysed: int) -> str:
    """Why the Compare tab shows no comparison for this patient ('' when it can compare)."""
    if patient is None:
        return "No patient selected: select a patient in the list to compare their exams."
    if n_exams == 0:
        return f"{patient} has no exam to compare."
    if n_exams == 1:
        return f"{patient} has one exam: a comparison needs two or more."
    if n_analysed >= 2:
        return ""
    return (f"{patient}: {n_analysed} of {n_exams} exams analysed. Analyse at least two to compare"
            " them (Analysis › Analyse all exams of the patient).")


def extent_mm(volume: Volume, plane: display.Plane) -> tuple[float, float]:
    """``(width, height)`` in mm of a displayed slice of ``volume``."""
    nz, ny, nx = volume.shape
    rows, cols = {"axial": (ny, nx), "coronal": (nz, nx), "sagittal": (nz, ny)}[plane]
    row_mm, col_mm = display.pixel_size_mm(volume.spacing, plane)
    return cols * col_mm, rows * row_mm


def grid_shape(n: int) -> tuple[int, int]:
    """``(rows, columns)`` of the panes: 1×n up to 3 panes, 2×2 for 4 (larger images than 1×4
    on a 16:9 screen, for axial and coronal slices alike)."""
    if not 0 <= n <= MAX_POINTS:
        raise ValueError(f"a comparison shows 1 to {MAX_POINTS} exams, got {n}")
    return (2, 2) if n == 4 else (1, max(n, 1))


def slice_through(volume: Volume, plane: display.Plane, lps) -> int:
    """Index of the ``plane`` slice of ``volume`` through LPS point ``lps`` (not clamped)."""
    x, y, z = volume.lps_to_index(np.asarray(lps, float))
    return display.voxel_to_slice(plane, (z, y, x), volume.shape)[0]


def slice_point(volume: Volume, plane: display.Plane, index: int,
                through_lps=None) -> np.ndarray:
    """LPS point on slice ``index``: where ``through_lps`` projects onto it (same row and
    column), or the slice centre."""
    if through_lps is not None:
        x, y, z = volume.lps_to_index(np.asarray(through_lps, float))
        _, row, col = display.voxel_to_slice(plane, (z, y, x), volume.shape)
    else:
        nz, ny, nx = volume.shape
        rows, cols = {"axial": (ny, nx), "coronal": (nz, nx), "sagittal": (nz, ny)}[plane]
        row, col = (rows - 1) / 2.0, (cols - 1) / 2.0
    zyx = display.slice_to_voxel(plane, index, row, col, volume.shape)
    return volume.index_to_lps(np.asarray(zyx[::-1], float))
