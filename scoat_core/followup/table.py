"""Per-exam metric rows of one patient with the changes between exams (no Qt).

One row per analysed exam, ordered by study date (undated exams first, as in
:func:`scoat_core.followup.changes.timeline_changes`): date, days from the first exam,
volumetry, and the changes from the previous exam and from the baseline (first exam) computed by
:func:`scoat_core.followup.changes.change` (so the relative-change cut-off and the trend
thresholds are the ones documented there). The same columns feed the desktop table, the "copy
as text" clipboard (tab-separated, pastes into Excel and Word) and the CSV export.

Formatting: volumes in mL and percentages with one decimal, mean HU without decimals, changes
signed (``+12.3``), missing values empty (results saved before a number existed, or a CT not in
HU, have no ground-glass/consolidation split, per-lung numbers or mean HU). A partial exam (the
scan cuts the lungs: ``lungs_complete`` False) has no severity score, also when an older result
stored one: its cell reads "n/a" and its zones carry no score.

Results stored under an earlier name of a key are read through :func:`metric`
(``high_opacity_ml``, the same number, is read as ``consolidation_ml``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from scoat_core.followup.changes import ExamPoint, change

#: Trend label → arrow used in tables and plots.
TREND_ARROWS: dict[str, str] = {"progression": "↑", "stable": "→", "absorption": "↓",
                                 "not comparable": "≠"}
#: Trend label → RGB (red worse, green better, grey unchanged; readable on white).
TREND_COLOURS: dict[str, tuple[int, int, int]] = {
    "progression": (192, 40, 40),
    "stable": (110, 110, 110),
    "absorption": (30, 140, 70),
    "not comparable": (150, 110, 20),
}


@dataclass(frozen=True)
class TimelineEntry:
    """One exam of the patient; ``metrics`` is ``AnalysisResult.to_json()`` or None."""

    key: int
    study_date: date | None
    label: str
    scanner: str
    metrics: dict[str, Any] | None

    @classmethod
    def from_metrics(cls, key: int, metrics: dict[str, Any], label: str = "") -> TimelineEntry:
        """An entry whose date and scanner come from the metrics' ``exam`` block."""
        exam = metrics.get("exam") or {}
        when = exam.get("study_date")
        scanner = " ".join(x for x in (exam.get("manufacturer"), exam.get("model")) if x)
        return cls(key, date.fromisoformat(when) if when else None, label, scanner, metrics)


def trend_text(trend: str | None) -> str:
    """``"↑ progression"`` etc.; empty for None."""
    return f"{TREND_ARROWS.get(trend, '')} {trend}".strip() if trend else ""


def _point(entry: TimelineEntry) -> ExamPoint:
    return ExamPoint.from_metrics(entry.study_date, entry.metrics or {}, entry.label)


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


NOT_APPLICABLE = "n/a"
#: Current key → the names it had in results saved earlier (read when the key is absent).
FORMER_KEYS: dict[str, tuple[str, ...]] = {"consolidation_ml": ("high_opacity_ml",)}


def metric(metrics: dict[str, Any], key: str) -> Any:
    """``metrics[key]``; when the key is absent, the value under a former name of it (None when
    neither is there)."""
    for name in (key, *FORMER_KEYS.get(key, ())):
        if name in metrics:
            return metrics[name]
    return None


def is_partial(metrics: dict[str, Any]) -> bool:
    """True when the exam cuts the lungs (``lungs_complete`` False; absent counts whole)."""
    return metrics.get("lungs_complete") is False


def partial_reason(metrics: dict[str, Any]) -> str | None:
    """Why a partial exam's volumes are not the whole lungs' (its warnings that say so: slices
    that do not make a volume, a scan that cuts the lungs), ``; ``-joined; None when whole."""
    from scoat_core.lung.segment import CUT_WARNINGS
    from scoat_core.volume import NOT_VOLUMETRIC

    if not is_partial(metrics):
        return None
    why = [w for w in metrics.get("warnings") or []
           if w.startswith(NOT_VOLUMETRIC) or w in CUT_WARNINGS]
    return "; ".join(dict.fromkeys(why)) or "the volumes cover part of the lungs only"


def weights_verified(metrics: dict[str, Any]) -> bool:
    """False when the exam was analysed with unverified model weights (absent counts
    verified: results from before the check)."""
    return metrics.get("weights_verified") is not False


def summary_flags(reason: str | None, verified: bool) -> list[str]:
    """The flags a one-line summary of an exam must show: ``PARTIAL (<reason>)`` for a partial
    exam (``reason``: :func:`partial_reason`) and ``UNVERIFIED weights``."""
    return ([f"PARTIAL ({reason})"] if reason else []) + ([] if verified else
                                                           ["UNVERIFIED weights"])


def exam_flags(metrics: dict[str, Any]) -> list[str]:
    """:func:`summary_flags` of an exam's metrics (``AnalysisResult.to_json()``)."""
    return summary_flags(partial_reason(metrics), weights_verified(metrics))


def severity_of(metrics: dict[str, Any]) -> int | None:
    """The total severity score (0–30); None when absent or on a partial exam."""
    score = metrics.get("severity_score")
    return None if score is None or is_partial(metrics) else int(score)


#: Zone keys of ``metrics["zones"]`` in reading order, with their display names.
ZONE_NAMES: tuple[tuple[str, str], ...] = tuple(
    (f"{lung}_{zone}", f"{lung.capitalize()} {zone}")
    for lung in ("right", "left") for zone in ("upper", "middle", "lower"))


def _side(metrics: dict[str, Any], side: str, key: str) -> float | None:
    block = metrics.get(side)
    return _opt(block.get(key)) if isinstance(block, dict) else None


def _zones(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``metrics["zones"]`` as zone key → {po_percent, severity} (empty when absent; no
    severity on a partial exam)."""
    zones = metrics.get("zones")
    if not isinstance(zones, dict):
        return {}
    partial = is_partial(metrics)
    return {k: {"po_percent": _opt(z.get("po_percent")),
                "severity": None if partial else z.get("severity")}
            for k, z in zones.items() if isinstance(z, dict)}


def zone_text(row: dict[str, Any]) -> str:
    """One line per zone, e.g. ``"Right upper: 42.7 % (score 3)"``; empty without zones."""
    zones = row.get("zones") or {}
    lines = []
    for key, name in ZONE_NAMES:
        zone = zones.get(key)
        if zone is None:
            continue
        po = zone.get("po_percent")
        score = zone.get("severity")
        lines.append(f"{name}: {'—' if po is None else f'{po:.1f} %'}"
                     + ("" if score is None else f" (score {score})"))
    return "\n".join(lines)


def rows(entries: Iterable[TimelineEntry]) -> list[dict[str, Any]]:
    """One dict per analysed exam (``metrics`` not None), ordered by date.

    Keys: key, study_date, days (from the first exam), label, scanner, partial (the exam cuts
    the lungs), lung_volume_ml, lov_ml, po_percent, pho_percent, severity_score (None on a
    partial exam), ggo_ml, consolidation_ml, mean_opacity_hu,
    right_lov_ml, left_lov_ml, right_po_percent, left_po_percent, zones (zone key →
    po_percent and severity, see :func:`zone_text`); from the previous exam: delta_lov_ml,
    delta_po_pp, relative_lov_percent, trend; from the baseline: the same prefixed
    ``baseline_``. Changes are None on the first row; days is None when a date is missing;
    numbers missing from the metrics are None.
    """
    analysed = sorted((e for e in entries if e.metrics is not None),
                      key=lambda e: (e.study_date or date.min, e.label, e.key))
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(analysed):
        m = entry.metrics or {}
        point = _point(entry)
        base = _point(analysed[0])
        row: dict[str, Any] = {
            "key": entry.key, "study_date": entry.study_date, "label": entry.label,
            "scanner": entry.scanner, "days": change(base, point).days,
            "partial": is_partial(m),
            "lung_volume_ml": _opt(m.get("lung_volume_ml")), "lov_ml": point.lov_ml,
            "po_percent": point.po_percent, "pho_percent": _opt(m.get("pho_percent")),
            "severity_score": severity_of(m),
            "ggo_ml": _opt(m.get("ggo_ml")),
            "consolidation_ml": _opt(metric(m, "consolidation_ml")),
            "mean_opacity_hu": _opt(m.get("mean_opacity_hu")),
            "right_lov_ml": _side(m, "right", "lov_ml"), "left_lov_ml": _side(m, "left", "lov_ml"),
            "right_po_percent": _side(m, "right", "po_percent"),
            "left_po_percent": _side(m, "left", "po_percent"),
            "zones": _zones(m),
        }
        for prefix, earlier in (("", analysed[i - 1]), ("baseline_", analysed[0])):
            c = change(_point(earlier), point) if i > 0 else None
            row[f"{prefix}delta_lov_ml"] = c.delta_lov_ml if c else None
            row[f"{prefix}delta_po_pp"] = c.delta_po_pp if c else None
            row[f"{prefix}relative_lov_percent"] = c.relative_lov_percent if c else None
            row[f"{prefix}trend"] = c.trend if c else None
        out.append(row)
    return out


# ------------------------------------------------------------------------------ formatting
def _fixed(v: Any) -> str:
    return f"{v:.1f}"


def _signed(v: Any) -> str:
    return f"{v:+.1f}"


def _whole(v: Any) -> str:
    return f"{v:.0f}"


def _int(v: Any) -> str:
    return f"{int(v)}"


def _date_text(v: Any) -> str:
    return v.isoformat()


@dataclass(frozen=True)
class Column:
    """One table column: row key, header (with the unit), formatter, numeric (right-aligned),
    and the text of a value missing because the exam is partial (empty: shown as missing)."""

    key: str
    header: str
    fmt: Callable[[Any], str] = str
    numeric: bool = True
    partial_text: str = ""


#: The table columns, in order; headers carry the units.
COLUMNS: tuple[Column, ...] = (
    Column("study_date", "Date", _date_text, numeric=False),
    Column("days", "Day", _int),
    Column("label", "Exam", numeric=False),
    Column("scanner", "Scanner", numeric=False),
    Column("lung_volume_ml", "Lung volume (mL)", _fixed),
    Column("lov_ml", "LOV (mL)", _fixed),
    Column("po_percent", "PO (%)", _fixed),
    Column("pho_percent", "PHO (%)", _fixed),
    Column("severity_score", "Severity (0–30)", _int, partial_text=NOT_APPLICABLE),
    Column("ggo_ml", "Ground glass (mL)", _fixed),
    Column("consolidation_ml", "Consolidation (mL)", _fixed),
    Column("mean_opacity_hu", "Opacity mean (HU)", _whole),
    Column("right_lov_ml", "Right LOV (mL)", _fixed),
    Column("left_lov_ml", "Left LOV (mL)", _fixed),
    Column("right_po_percent", "Right PO (%)", _fixed),
    Column("left_po_percent", "Left PO (%)", _fixed),
    Column("delta_lov_ml", "ΔLOV vs previous (mL)", _signed),
    Column("delta_po_pp", "ΔPO vs previous (pp)", _signed),
    Column("relative_lov_percent", "ΔLOV vs previous (%)", _signed),
    Column("trend", "Trend vs previous", trend_text, numeric=False),
    Column("baseline_delta_lov_ml", "ΔLOV vs baseline (mL)", _signed),
    Column("baseline_delta_po_pp", "ΔPO vs baseline (pp)", _signed),
    Column("baseline_relative_lov_percent", "ΔLOV vs baseline (%)", _signed),
    Column("baseline_trend", "Trend vs baseline", trend_text, numeric=False),
)


def cell_text(row: dict[str, Any], column: Column) -> str:
    """The formatted value of one cell; empty when missing ("n/a" for a number a partial exam
    has none of, such as its severity score)."""
    value = row.get(column.key)
    if value is None or value == "":
        return column.partial_text if row.get("partial") else ""
    return column.fmt(value)


def headers() -> list[str]:
    """The column headers, with units."""
    return [c.header for c in COLUMNS]


def table(rows_: list[dict[str, Any]]) -> list[list[str]]:
    """Header then one formatted line per row."""
    return [headers(), *([cell_text(r, c) for c in COLUMNS] for r in rows_)]


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def as_text(rows_: list[dict[str, Any]]) -> str:
    """Tab-separated text with a header (units in it), one line per exam."""
    return "".join("\t".join(_clean(t) for t in line) + "\n" for line in table(rows_))


def write_csv(rows_: list[dict[str, Any]], path: Path | str) -> Path:
    """The formatted table as CSV (UTF-8 with BOM so that Excel reads Δ and units)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh).writerows(table(rows_))
    return path
