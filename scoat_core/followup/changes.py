"""Changes between the exams of one patient and their trend labels.

Changes between consecutive exams (and each exam against the baseline):

* days between exams; ΔLOV (mL); ΔPO (percentage points);
* relative LOV change (%), **undefined** (None) when the earlier LOV is below
  ``MIN_BASE_FOR_RELATIVE_ML`` (10 mL): a relative change of a near-zero baseline means nothing,
  so the absolute change is what is reported then;
* trend label: ``progression`` when LOV grew by at least ``TREND_MIN_ML`` (10 mL) **and** PO by
  at least ``TREND_MIN_PP`` (1 percentage point); ``absorption`` for the same decrease;
  ``stable`` otherwise (both thresholds together keep segmentation noise from flipping labels);
  ``not comparable`` when either exam covers only part of the lungs (one slice, or a scan range
  that cuts them): its volumes depend on where the scan stopped.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from datetime import date

MIN_BASE_FOR_RELATIVE_ML = 10.0
TREND_MIN_ML = 10.0
TREND_MIN_PP = 1.0
#: Trend of a change where either exam covers only part of the lungs.
NOT_COMPARABLE = "not comparable"


@dataclass
class ExamPoint:
    """The numbers of one exam that the timeline needs."""

    study_date: date | None
    lov_ml: float
    po_percent: float
    label: str = ""
    partial: bool = False
    """The scan covers only part of the lungs."""

    @classmethod
    def from_metrics(cls, study_date: date | None, metrics: dict, label: str = "") -> ExamPoint:
        """From ``AnalysisResult.to_json()`` (results without ``lungs_complete`` count whole)."""
        return cls(study_date, float(metrics["lov_ml"]), float(metrics["po_percent"]), label,
                   partial=metrics.get("lungs_complete") is False)


@dataclass
class Change:
    from_label: str
    to_label: str
    days: int | None
    delta_lov_ml: float
    delta_po_pp: float
    relative_lov_percent: float | None
    trend: str


def trend_label(delta_lov_ml: float, delta_po_pp: float) -> str:
    """progression / stable / absorption by the documented thresholds."""
    if delta_lov_ml >= TREND_MIN_ML and delta_po_pp >= TREND_MIN_PP:
        return "progression"
    if delta_lov_ml <= -TREND_MIN_ML and delta_po_pp <= -TREND_MIN_PP:
        return "absorption"
    return "stable"


def change(a: ExamPoint, b: ExamPoint) -> Change:
    """The change from exam ``a`` to the later exam ``b``."""
    d_lov, d_po = b.lov_ml - a.lov_ml, b.po_percent - a.po_percent
    days = (b.study_date - a.study_date).days if a.study_date and b.study_date else None
    relative = 100.0 * d_lov / a.lov_ml if a.lov_ml >= MIN_BASE_FOR_RELATIVE_ML else None
    trend = NOT_COMPARABLE if a.partial or b.partial else trend_label(d_lov, d_po)
    return Change(a.label, b.label, days, d_lov, d_po, relative, trend)


def timeline_changes(points: list[ExamPoint]) -> dict[str, list[dict]]:
    """Consecutive changes and changes against the first exam, exams ordered by date."""
    ordered = sorted(points, key=lambda p: (p.study_date or date.min, p.label))
    consecutive = [asdict(change(a, b)) for a, b in itertools.pairwise(ordered)]
    from_baseline = [asdict(change(ordered[0], b)) for b in ordered[1:]]
    return {"consecutive": consecutive, "from_baseline": from_baseline}
