"""What an exported figure (a PNG of a view) says, without Qt: the header lines, the legend of
the overlay colours as the viewer draws them, the scale bar and the default file name.

``app/export/figure.py`` draws them; everything here is plain data so it can be tested without a
screen. Anonymised figures name no patient: the header reads "Anonymised" and the file name
starts with ``anonymised`` instead of the patient ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from scoat_core.analysis.quantify import HIGH_OPACITY_HU
from scoat_core.display import COLOURS
from scoat_core.followup.comparison import patient_label
from scoat_core.report.content import ANONYMISED

#: Scale-bar lengths offered (mm): the longest that fits is drawn.
NICE_MM = (1, 2, 5, 10, 20, 50, 100, 200)
#: The bar takes at most this fraction of its pane's width.
MAX_BAR_FRACTION = 0.3
#: HU of a typical voxel of each overlay class (the legend's fills are blended over its grey).
TYPICAL_HU = {"ground glass": -550.0, "consolidation": 0.0, "opacity": -400.0}

@dataclass(frozen=True)
class LegendEntry:
    """One line of the legend: the text, the overlay's colour (RGB) and how it is drawn."""

    label: str
    rgb: tuple[int, int, int]
    kind: Literal["fill", "line"]
    typical_hu: float | None = None
    """A typical voxel of the class (HU): a fill's swatch is blended over its grey, as on the
    CT."""


@dataclass(frozen=True)
class ScaleBar:
    """A bar of ``mm`` millimetres, ``px`` pixels long at the figure's scale."""

    mm: float
    px: float

    @property
    def label(self) -> str:
        return f"{self.mm:g} mm"


def _hu(value: float) -> str:
    return f"{value:g}".replace("-", "−")


def legend_entries(mode: str = "fill", show_high: bool = True, show_lung: bool = True, *,
                   has_opacity: bool = True, has_lung: bool = True) -> list[LegendEntry]:
    """The overlays the viewer draws with this style (``mode`` fill, contour or none), each in
    its colour of :data:`scoat_core.display.COLOURS`; none without masks."""
    kind: Literal["fill", "line"] = "line" if mode == "contour" else "fill"
    out = []
    if has_opacity and mode != "none":
        if show_high:
            out += [LegendEntry(f"Ground glass (≤ {_hu(HIGH_OPACITY_HU)} HU)", COLOURS["opacity"],
                                kind, TYPICAL_HU["ground glass"]),
                    LegendEntry(f"Consolidation (> {_hu(HIGH_OPACITY_HU)} HU)", COLOURS["high"],
                                kind, TYPICAL_HU["consolidation"])]
        else:
            out.append(LegendEntry("Opacity (ground glass + consolidation)", COLOURS["opacity"],
                                   kind, TYPICAL_HU["opacity"]))
    if has_lung and show_lung:
        out.append(LegendEntry("Lung contour", COLOURS["lung"], "line"))
    return out


def scale_bar(px_per_mm: float, max_px: float) -> ScaleBar | None:
    """The longest :data:`NICE_MM` bar that fits in ``max_px`` (the shortest when none does);
    None when the scale is unknown (not positive or not finite)."""
    if not (px_per_mm > 0 and px_per_mm < float("inf")):
        return None
    fitting = [mm for mm in NICE_MM if mm * px_per_mm <= max_px]
    mm = fitting[-1] if fitting else NICE_MM[0]
    return ScaleBar(float(mm), mm * px_per_mm)


def patient_line(patient_id: str, name: str = "", anonymise: bool = False) -> str:
    """'PAT-7 · Doe^Jane', or "Anonymised"."""
    return ANONYMISED if anonymise else patient_label(patient_id or "", name or "")


def _day(when: date | None) -> str:
    return when.isoformat() if when else "date unknown"


def exam_header(patient_id: str, name: str, study_date: date | None, series: str,
                metrics: Mapping[str, Any] | None, anonymise: bool = False) -> list[str]:
    """The header of a figure of one exam: patient, exam date and series, LOV and PO."""
    lines = [patient_line(patient_id, name, anonymise),
             f"Exam {_day(study_date)} · {series.strip() or 'series without description'}"]
    if metrics and metrics.get("lov_ml") is not None:
        text = f"LOV {float(metrics['lov_ml']):.1f} mL · PO {float(metrics['po_percent']):.1f} %"
        if metrics.get("lungs_complete") is False:
            text += " (partial exam: not comparable)"
        lines.append(text)
    else:
        lines.append("Not analysed")
    return lines


def series_header(patient_id: str, name: str, dates: Sequence[date | None], view: str,
                  anonymise: bool = False) -> list[str]:
    """The header of a figure of several exams (Compare, Timeline): patient, view and dates."""
    known = sorted(d for d in dates if d is not None)
    n = len(dates)
    span = "" if not known else f", {known[0].isoformat()}" + (
        f" to {known[-1].isoformat()}" if known[-1] != known[0] else "")
    return [patient_line(patient_id, name, anonymise),
            f"{view} · {n} exam{'s' if n != 1 else ''}{span}"]


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", part).strip("-")


def figure_file_name(patient_id: str, study_date: date | None, view: str,
                     anonymise: bool = False) -> str:
    """``patient_date_view.png`` (``PHANTOM-001_2020-02-01_axial.png``), every part reduced to
    letters, digits and dashes; ``anonymised_…`` instead of the patient ID when anonymised."""
    who = "anonymised" if anonymise else (_safe(patient_id) or "patient")
    when = study_date.isoformat() if study_date else "nodate"
    return f"{who}_{when}_{_safe(view.lower()) or 'view'}.png"
