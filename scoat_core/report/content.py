"""Content of the follow-up PDF report, without Qt: header, per-exam table, changes, key images.

The report shows, for one patient, the header (or "Anonymised"), a table of per-exam metrics
with the change from the previous exam, a table of the ground-glass / consolidation split,
mean HU and per-lung LOV and PO, the LOV/PO plot, and for each exam key images in lung window
with the opacity overlaid: by default the axial and coronal slices with the most opacity (as
in the SCOAT-Net paper's Fig. 6); for a series, :func:`scoat_core.report.series.report_series`
puts every exam at the same anatomical levels (:attr:`ReportExam.levels`) and adds a
new / resolved / persistent change map per interval (:class:`IntervalChange`).
``app/export/pdf.py`` lays it out; everything here is plain data so it can be tested without a
screen.

Anonymising blanks the patient name, ID and birth date in the header *and* everywhere they
could leak: exam labels that contain them become "Exam n", and each exam's metadata
(``metrics["exam"]``) loses its patient fields and source path.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np

from scoat_core import display
from scoat_core.analysis.quantify import HIGH_OPACITY_HU
from scoat_core.followup.changes import ExamPoint, timeline_changes
from scoat_core.followup.table import (
    NOT_APPLICABLE,
    is_partial,
    metric,
    partial_reason,
    severity_of,
)
from scoat_core.report.images import IntervalChange, KeyImage, PixelMM, slice_image
from scoat_core.volume import Volume

TITLE = "Lung opacification follow-up"
DISCLAIMER = "Research software — not for diagnostic use"
ANONYMISED = "Anonymised"
#: Exam metadata fields removed from an anonymised report.
_PATIENT_FIELDS = ("patient_id", "patient_name", "birth_date", "patient_sex", "source",
                   "study_uid", "series_uid")


@dataclass
class ReportExam:
    """One time point of the report: metadata, metrics and the two key images (RGB uint8)."""

    label: str
    study_date: date | None
    scanner: str
    kernel: str
    slice_thickness_mm: float | None
    metrics: dict[str, Any]
    """``AnalysisResult.to_json()`` (lov_ml, po_percent, pho_percent, lung_volume_ml, ...)."""
    axial_rgb: np.ndarray | None = None
    coronal_rgb: np.ndarray | None = None
    axial_pixel_mm: PixelMM = (1.0, 1.0)
    """(row height, column width) of ``axial_rgb`` in mm."""
    coronal_pixel_mm: PixelMM = (1.0, 1.0)
    axial_letters: dict[str, str] = field(default_factory=dict)
    """Orientation letters at the image edges (``left``/``right``/``top``/``bottom``)."""
    coronal_letters: dict[str, str] = field(default_factory=dict)
    axial_caption: str = ""
    """Where the slice is, e.g. "axial 45/120"."""
    coronal_caption: str = ""
    levels: list[KeyImage] = field(default_factory=list)
    """Axial images at the report's matched levels, superior first (empty: own key slices)."""
    coronal_level: KeyImage | None = None
    """Coronal image at the matched coronal level (None: the own key slice)."""
    level_note: str = ""
    """Why the exam shows its own key slices instead of matched levels ('' otherwise)."""

    def axial_images(self) -> list[KeyImage]:
        """The matched-level axial images, else the own key slice."""
        if self.levels:
            return list(self.levels)
        if self.axial_rgb is None:
            return []
        return [KeyImage(self.axial_rgb, self.axial_pixel_mm, self.axial_letters,
                         self.axial_caption, "axial")]

    def coronal_image(self) -> KeyImage | None:
        """The matched-level coronal image, else the own key slice (None without one)."""
        if self.coronal_level is not None:
            return self.coronal_level
        if self.coronal_rgb is None:
            return None
        return KeyImage(self.coronal_rgb, self.coronal_pixel_mm, self.coronal_letters,
                        self.coronal_caption, "coronal")

    @property
    def lov_ml(self) -> float:
        return float(self.metrics["lov_ml"])

    @property
    def po_percent(self) -> float:
        return float(self.metrics["po_percent"])


@dataclass
class ReportData:
    """Everything the PDF shows, already anonymised when asked."""

    title: str
    patient_id: str
    patient_name: str
    birth_date: date | None
    exams: list[ReportExam]
    """Ordered by study date."""
    changes: dict[str, list[dict]]
    """:func:`scoat_core.followup.changes.timeline_changes` of the exams."""
    model: dict[str, Any]
    software_version: str
    created: datetime
    anonymised: bool
    disclaimer: str = DISCLAIMER
    intervals: list[IntervalChange] = field(default_factory=list)
    """One change map per interval between consecutive exams (empty: none computed)."""

    @property
    def patient_line(self) -> str:
        """"Name (ID)", the ID alone, or "Anonymised"."""
        if self.anonymised:
            return ANONYMISED
        name = self.patient_name.replace("^", " ").strip()
        if name and self.patient_id and name != self.patient_id:
            return f"{name} (ID {self.patient_id})"
        return name or (f"ID {self.patient_id}" if self.patient_id else "Unknown patient")

    @property
    def model_line(self) -> str:
        """Model name, width and the first 12 hex digits of its SHA-256; "UNVERIFIED weights"
        when the model, or the analysis of any exam, used weights nothing verified."""
        m = self.model or {}
        parts = [str(m.get("name") or "unknown model")]
        if m.get("width"):
            parts.append(f"width {m['width']}")
        if m.get("sha256"):
            parts.append(f"sha256 {str(m['sha256'])[:12]}")
        if self.weights_unverified:
            parts.append("UNVERIFIED weights")
        return "Model " + " · ".join(parts)

    @property
    def weights_unverified(self) -> bool:
        """True when the model or any exam's analysis says its weights were not verified."""
        return (self.model or {}).get("verified") is False or any(
            e.metrics.get("weights_verified") is False
            or (e.metrics.get("model") or {}).get("verified") is False for e in self.exams)


class KeyImages(NamedTuple):
    """The two key images of an exam, their pixel sizes and slice positions."""

    axial_rgb: np.ndarray
    coronal_rgb: np.ndarray
    axial_pixel_mm: PixelMM
    coronal_pixel_mm: PixelMM
    axial_index: int
    coronal_index: int


def _array(x: Volume | np.ndarray) -> np.ndarray:
    return x.array if isinstance(x, Volume) else np.asarray(x)


def key_images(ct: Volume, lung: Volume | np.ndarray, opacity: Volume | np.ndarray,
               *, crop: bool = True, high_hu: float | None = HIGH_OPACITY_HU) -> KeyImages:
    """Axial and coronal slices with the most opacity, in lung window, the opacity filled in
    amber (its part above ``high_hu`` in magenta) and the lung contour in cyan; cropped to the
    lungs plus a margin when ``crop``."""
    lung_a, opac_a = _array(lung) > 0, _array(opacity) > 0
    z, y = display.key_slices(opac_a, lung_a)
    axial, axial_mm = slice_image(ct, lung_a, opac_a, "axial", z, crop=crop, high_hu=high_hu)
    coronal, coronal_mm = slice_image(ct, lung_a, opac_a, "coronal", y, crop=crop,
                                      high_hu=high_hu)
    return KeyImages(axial, coronal, axial_mm, coronal_mm, z, y)


def report_exam(metrics: dict[str, Any], ct: Volume, lung: Volume | np.ndarray,
                opacity: Volume | np.ndarray, label: str = "", *,
                images: bool = True) -> ReportExam:
    """A :class:`ReportExam` from an analysis (``AnalysisResult.to_json()``) and its volumes;
    without ``images`` no own key images are rendered (the caller sets matched levels)."""
    exam = metrics.get("exam") or ct.info.to_json()
    study = exam.get("study_date")
    study_date = date.fromisoformat(study) if isinstance(study, str) and study else None
    # short, as in the Compare panes: "GE LightSpeed VCT", not "GE MEDICAL SYSTEMS LightSpeed VCT"
    maker = str(exam.get("manufacturer") or "").split()
    scanner = " ".join(x for x in (maker[0] if maker else "", str(exam.get("model") or ""))
                       if x.strip())
    out = ReportExam(
        label=label or (study_date.isoformat() if study_date else "exam"),
        study_date=study_date, scanner=scanner, kernel=str(exam.get("kernel") or ""),
        slice_thickness_mm=exam.get("slice_thickness_mm"), metrics=metrics,
        axial_letters=display.orientation_letters(ct.direction, "axial"),
        coronal_letters=display.orientation_letters(ct.direction, "coronal"),
    )
    if images:
        keys = key_images(ct, lung, opacity)
        out.axial_rgb, out.coronal_rgb = keys.axial_rgb, keys.coronal_rgb
        out.axial_pixel_mm, out.coronal_pixel_mm = keys.axial_pixel_mm, keys.coronal_pixel_mm
        out.axial_caption = f"axial {keys.axial_index + 1}/{ct.shape[0]}"
        out.coronal_caption = f"coronal {keys.coronal_index + 1}/{ct.shape[1]}"
    return out


# ------------------------------------------------------------------------- building
def _identifiers(*values: object) -> list[str]:
    """The strings an anonymised report must not contain (name parts of 3+ characters too)."""
    out: list[str] = []
    for v in values:
        if not v:
            continue
        text = str(v)
        out.append(text)
        out.extend(p for p in re.split(r"[\^\s,]+", text) if len(p) >= 3)
        if isinstance(v, date):
            out.extend((v.strftime("%Y%m%d"), v.strftime("%d.%m.%Y")))
    return out


def _leaks(text: str, identifiers: list[str]) -> bool:
    low = text.lower()
    return any(i.lower() in low for i in identifiers)


def _anonymise_exam(exam: ReportExam, n: int, identifiers: list[str]) -> ReportExam:
    info = {k: v for k, v in (exam.metrics.get("exam") or {}).items()
            if k not in _PATIENT_FIELDS and not (isinstance(v, str) and _leaks(v, identifiers))}
    metrics = {**exam.metrics, "exam": info}
    label = f"Exam {n}" if _leaks(exam.label, identifiers) else exam.label
    scanner = "" if _leaks(exam.scanner, identifiers) else exam.scanner
    return dataclasses.replace(exam, label=label, scanner=scanner, metrics=metrics)


def build_report(patient_id: str, patient_name: str, exams: list[ReportExam],
                 model: dict[str, Any], software_version: str, anonymise: bool = False, *,
                 birth_date: date | None = None, title: str = TITLE,
                 created: datetime | None = None,
                 intervals: list[IntervalChange] | None = None) -> ReportData:
    """The report of one patient's exams (sorted by date) and the change maps of its
    ``intervals``, anonymised when asked: no name, ID or birth date anywhere (the patient is
    shown as "Anonymised")."""
    ordered = sorted(exams, key=lambda e: (e.study_date or date.min, e.label))
    intervals = list(intervals or [])
    if anonymise:
        ids = _identifiers(patient_id, patient_name, birth_date)
        renamed = [_anonymise_exam(e, i, ids) for i, e in enumerate(ordered, 1)]
        names = {old.label: new.label for old, new in zip(ordered, renamed, strict=True)}
        ordered = renamed
        intervals = [dataclasses.replace(
            c, first_label=names.get(c.first_label, ANONYMISED),
            second_label=names.get(c.second_label, ANONYMISED)) for c in intervals]
        patient_id, patient_name, birth_date = "", "", None
    points = [ExamPoint.from_metrics(e.study_date, e.metrics, e.label) for e in ordered]
    return ReportData(
        title=title, patient_id=patient_id, patient_name=patient_name, birth_date=birth_date,
        exams=ordered, changes=timeline_changes(points), model=dict(model or {}),
        software_version=software_version, created=created or datetime.now(),
        anonymised=anonymise, intervals=intervals)


# ------------------------------------------------------------------------- text
def signed(value: float | None, digits: int = 1) -> str:
    """"+1.5", "-2.0", "0.0" ("—" when unknown)."""
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def _num(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def days_from_baseline(data: ReportData) -> list[int | None]:
    """Days of each exam since the first dated exam (None without a date)."""
    first = next((e.study_date for e in data.exams if e.study_date), None)
    return [(e.study_date - first).days if e.study_date and first else None for e in data.exams]


TABLE_HEADER = ["Exam", "Date", "Day", "LOV (mL)", "PO (%)", "PHO (%)", "Lung (mL)",
                "Severity (0–30)", "ΔLOV (mL)", "ΔPO (pp)", "Trend"]


def _severity_text(metrics: dict[str, Any]) -> str:
    """The severity score; "n/a" on a partial exam (none is given), "—" when a result lacks it."""
    score = severity_of(metrics)
    if score is not None:
        return str(score)
    return NOT_APPLICABLE if is_partial(metrics) else "—"


def metric_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Header (with units) and one text row per exam; deltas are from the previous exam."""
    consecutive = data.changes.get("consecutive", [])
    rows = []
    for i, (exam, day) in enumerate(zip(data.exams, days_from_baseline(data), strict=True)):
        m = exam.metrics
        ch = consecutive[i - 1] if i > 0 and i - 1 < len(consecutive) else None
        rows.append([
            f"{exam.label} (PARTIAL)" if is_partial(m) else exam.label,
            exam.study_date.isoformat() if exam.study_date else "—",
            "—" if day is None else str(day),
            _num(m.get("lov_ml")), _num(m.get("po_percent")), _num(m.get("pho_percent")),
            _num(m.get("lung_volume_ml"), 0),
            _severity_text(m),
            signed(ch["delta_lov_ml"]) if ch else "—",
            signed(ch["delta_po_pp"]) if ch else "—",
            ch["trend"] if ch else "baseline",
        ])
    return list(TABLE_HEADER), rows


SPLIT_HEADER = ["Exam", "Date", "Ground glass (mL)", "Consolidation (mL)",
                "Consolidation (% of LOV)", "Opacity mean (HU)", "Right LOV (mL)",
                "Left LOV (mL)", "Right PO (%)", "Left PO (%)"]


def _side(metrics: dict[str, Any], side: str, key: str) -> Any:
    block = metrics.get(side)
    return block.get(key) if isinstance(block, dict) else None


def split_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Header (with units) and one row per exam: ground glass / consolidation (HU > −200),
    mean HU of the opacity and the per-lung LOV and PO; "—" for numbers a result lacks."""
    rows = []
    for exam in data.exams:
        m = exam.metrics
        ggo, cons, lov = m.get("ggo_ml"), metric(m, "consolidation_ml"), m.get("lov_ml")
        share = (100.0 * float(cons) / float(lov)
                 if cons is not None and lov is not None and float(lov) > 0 else None)
        rows.append([
            exam.label, exam.study_date.isoformat() if exam.study_date else "—",
            _num(ggo), _num(cons), _num(share), _num(m.get("mean_opacity_hu"), 0),
            _num(_side(m, "right", "lov_ml")), _num(_side(m, "left", "lov_ml")),
            _num(_side(m, "right", "po_percent")), _num(_side(m, "left", "po_percent")),
        ])
    return list(SPLIT_HEADER), rows


def partial_lines(data: ReportData) -> list[str]:
    """One line per partial exam (marked PARTIAL in the table): why its volumes are not the
    whole lungs'."""
    return [f"{exam.label} is PARTIAL, its volumes are not the whole lungs': "
            f"{partial_reason(exam.metrics)}." for exam in data.exams if is_partial(exam.metrics)]


def summary_lines(data: ReportData) -> list[str]:
    """One-sentence overall change (last exam against the baseline), the trend rule, and why
    any partial exam is partial."""
    if len(data.exams) < 2:
        return ["Single exam: no change to report.", *partial_lines(data)]
    last = data.changes["from_baseline"][-1]
    days = f" over {last['days']} days" if last["days"] is not None else ""
    rel = last["relative_lov_percent"]
    rel_text = f" ({signed(rel, 0)} %)" if rel is not None else ""
    return [
        f"Last exam against baseline{days}: LOV {signed(last['delta_lov_ml'])} mL{rel_text}, "
        f"PO {signed(last['delta_po_pp'])} pp — {last['trend']}.",
        "Trend: progression / absorption when LOV changes by ≥ 10 mL and PO by ≥ 1 pp in the "
        "same direction, stable otherwise; not comparable when an exam covers only part of the "
        "lungs. PO: opacity as % of lung volume; PHO: part above −200 HU.",
        *partial_lines(data),
    ]


def image_label(exam: ReportExam) -> str:
    """The text written in the key image's corner: "LOV 123.4 mL · PO 12.3 %"."""
    return f"LOV {exam.lov_ml:.1f} mL · PO {exam.po_percent:.1f} %"


def exam_caption(exam: ReportExam, day: int | None = None) -> str:
    """"2020-02-01 (day 0) · SIEMENS SOMATOM · B70f · 1.0 mm" (parts that are known)."""
    when = exam.study_date.isoformat() if exam.study_date else exam.label
    if day is not None:
        when += f" (day {day})"
    parts = [when, exam.scanner, exam.kernel]
    if exam.slice_thickness_mm:
        parts.append(f"{float(exam.slice_thickness_mm):g} mm")
    if exam.study_date and exam.label and exam.label != exam.study_date.isoformat():
        parts.insert(1, exam.label)
    return " · ".join(p for p in parts if p)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (1, 2, 2.5 or 5 times 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks
