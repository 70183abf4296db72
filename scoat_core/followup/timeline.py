"""A patient's exams over time: analyse each (cached), tabulate, compare, plot.

Per exam the analysis goes to ``<out>/<patient>/<YYYYMMDD>_<series>/`` (the files of
:mod:`scoat_core.analysis.output`). An exam whose ``metrics.json`` was made by the same model
(SHA-256) and analysis version from the same series and the same CT content
(:meth:`~scoat_core.volume.Volume.content_hash` of the voxels read: a file rewritten under the
same name or UIDs is analysed again) is not analysed again. The timeline of each patient is
written as ``timeline.json``, ``timeline.csv`` and ``timeline.png`` (LOV and PO over time), each
exam with its flags (partial and why, unverified weights); the three files replace the previous
ones together or not at all, and a write error names the file.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scoat_core.atomic import atomic_path, naming
from scoat_core.followup.changes import ExamPoint, timeline_changes
from scoat_core.followup.table import partial_reason, severity_of, weights_verified

#: The files of a patient's timeline, in the order they are written.
TIMELINE_FILES = ("timeline.json", "timeline.csv", "timeline.png")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def exam_dir(out: Path, entry) -> Path:
    info = entry.info
    when = info.study_date.strftime("%Y%m%d") if info.study_date else "nodate"
    series = info.series_uid[-8:] if info.series_uid else Path(entry.source).stem
    return out / _safe(info.patient_id or "patient") / _safe(f"{when}_{series}")


def cached_metrics(folder: Path, model_sha: str, entry,
                   content_hash: str | None = None) -> dict[str, Any] | None:
    """The stored metrics when they match this model, analysis version, series and (given)
    CT content hash, else None."""
    from scoat_core import ANALYSIS_VERSION

    path = folder / "metrics.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    same_model = (data.get("model", {}).get("sha256") == model_sha
                  and data.get("analysis_version") == ANALYSIS_VERSION)
    same_series = data.get("exam", {}).get("series_uid", "") == entry.info.series_uid
    same_source = data.get("exam", {}).get("source", "") in ("", str(entry.info.source))
    same_content = content_hash is None or data.get("ct_content_hash") == content_hash
    return data if same_model and same_series and same_source and same_content else None


def patient_timeline(exams: list[dict[str, Any]],
                     not_analysed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per-exam numbers (ordered by date), the changes between them, and the exams that could
    not be analysed (label, date, source, reason)."""
    exams = sorted(exams, key=lambda e: e["study_date"] or "")
    points = [ExamPoint.from_metrics(_date(e["study_date"]), e, e["label"]) for e in exams]
    return {"exams": exams, "changes": timeline_changes(points),
            "not_analysed": sorted(not_analysed or [], key=lambda e: e["study_date"] or "")}


def _date(text: str | None):
    from datetime import date

    return date.fromisoformat(text) if text else None


def exam_row(metrics: dict[str, Any], label: str) -> dict[str, Any]:
    exam = metrics.get("exam", {})
    return {
        "label": label, "study_date": exam.get("study_date"),
        "scanner": " ".join(x for x in (exam.get("manufacturer"), exam.get("model")) if x),
        "kernel": exam.get("kernel"), "slice_thickness_mm": exam.get("slice_thickness_mm"),
        "lung_volume_ml": metrics["lung_volume_ml"], "lov_ml": metrics["lov_ml"],
        "po_percent": metrics["po_percent"], "pho_percent": metrics.get("pho_percent"),
        "severity_score": severity_of(metrics),
        "lungs_complete": metrics.get("lungs_complete"),
        "partial_reason": partial_reason(metrics),
        "weights_verified": weights_verified(metrics),
    }


def write_timeline(folder: Path, timeline: dict[str, Any], patient_id: str) -> list[Path]:
    """timeline.json, timeline.csv and timeline.png in ``folder``, replacing the previous three
    only once all are written (a write error names its file and leaves them as they were)."""
    paths = [folder / name for name in TIMELINE_FILES]
    json_path, csv_path, png_path = paths
    with naming(folder):
        folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(json_path) as tmp_json, atomic_path(csv_path) as tmp_csv, \
            atomic_path(png_path) as tmp_png:
        with naming(json_path), tmp_json.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(timeline, indent=2, default=str) + "\n")
        with naming(csv_path), tmp_csv.open("w", newline="", encoding="utf-8") as fh:
            columns = list(timeline["exams"][0]) if timeline["exams"] else []
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(timeline["exams"])
        with naming(png_path):
            plot_timeline(timeline, tmp_png, patient_id)
    return paths


def plot_timeline(timeline: dict[str, Any], path: Path, patient_id: str) -> None:
    """Two panels over the exam dates: LOV (mL) on top, PO (%) below, values labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exams = [e for e in timeline["exams"] if e["study_date"]]
    dates = [_date(e["study_date"]) for e in exams]
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5.2), dpi=150, sharex=True)
    panels = (("lov_ml", "LOV (mL)", "#c0392b", "{:.0f} mL"),
              ("po_percent", "Lung involved, PO (%)", "#2471a3", "{:.1f} %"))
    partial = [e.get("lungs_complete") is False for e in exams]
    for ax, (key, label, color, fmt) in zip(axes, panels, strict=True):
        values = [e[key] for e in exams]
        ax.plot(dates, values, "o-", color=color, lw=2, ms=6)
        cut = [(d, v) for d, v, p in zip(dates, values, partial, strict=True) if p]
        if cut:  # partial scans: hollow markers, labelled
            ax.plot(*zip(*cut, strict=True), "o", color=color, mfc="white", mew=2, ms=7)
        ax.set_ylabel(label, color=color)
        ax.set_ylim(0, max([*values, 1e-6]) * 1.25)
        ax.grid(alpha=0.3)
        for d, v, p in zip(dates, values, partial, strict=True):
            ax.annotate(fmt.format(v) + (" (partial scan)" if p else ""), (d, v),
                        textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    if dates:
        day0 = dates[0]
        axes[1].set_xticks(dates)
        axes[1].set_xticklabels([f"{d:%Y-%m-%d}\nday {(d - day0).days}" for d in dates],
                                fontsize=8)
    unverified = any(e.get("weights_verified") is False for e in exams)
    axes[0].set_title(f"{patient_id}: lung opacification over time "
                      "(research use, not for diagnosis)"
                      + ("\nUNVERIFIED model weights" if unverified else ""), fontsize=10)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def unreadable_exams(patient, inventory) -> list[dict[str, Any]]:
    """``not_analysed`` items for a patient's exams that were found but cannot be read: an exam
    without a usable series (its series' reasons), and a volume file of the patient (by its
    name) that failed to read (the reader's reason)."""
    from scoat_core.io.images import date_from_name, is_volume_file, patient_id_from_name

    items = []
    for exam in patient.exams:
        if exam.selected is None and exam.series:
            reasons = "; ".join(dict.fromkeys(s.excluded_reason for s in exam.series
                                              if s.excluded_reason)) or "no usable series"
            items.append({"label": exam.description, "source": str(exam.series[0].source),
                          "study_date": exam.study_date.isoformat() if exam.study_date else None,
                          "reason": reasons})
    for problem in inventory.problems:
        if (problem.kind == "error" and is_volume_file(problem.path)
                and patient_id_from_name(problem.path) == patient.patient_id):
            when = date_from_name(problem.path)
            items.append({"label": Path(problem.path).name, "source": problem.path,
                          "study_date": when.isoformat() if when else None,
                          "reason": problem.message})
    return items


def _cached_or_analysed(entry, folder: Path, model_sha: str,
                        analyze_exam: Callable) -> dict[str, Any]:
    """The exam's cached metrics when they are of this CT's content, else
    ``analyze_exam(entry, folder, volume)`` (``volume``: the CT when it was read to hash it)."""
    from scoat_core.io.exams import load_series

    volume, content = None, entry.content_hash
    if content is None:  # a DICOM series listed without reading it
        volume = load_series(entry)
        content = volume.content_hash()
    return (cached_metrics(folder, model_sha, entry, content)
            or analyze_exam(entry, folder, volume))


def run_timeline(path: Path, out: Path, analyze_exam: Callable, model_sha: str,
                 inventory, on_error: Callable | None = None) -> dict[str, dict[str, Any]]:
    """Analyse (or reuse) every selected exam under ``path``; write each patient's timeline.

    ``analyze_exam(entry, folder, volume)`` analyses one exam into ``folder`` and returns its
    metrics.json; ``volume`` is its CT when already read (else None: the callee reads it).

    With ``on_error(entry, exc) -> reason``, an exam whose analysis raises a ``UserError`` (no
    lungs in the slice, an unreadable series) is listed under ``not_analysed`` and the others go
    on; without it the error propagates. Exams that could not be read at all are listed there
    too, with the reader's reason (:func:`unreadable_exams`).
    """
    from scoat_core.errors import UserError

    results = {}
    for patient in inventory.patients:
        rows, not_analysed = [], unreadable_exams(patient, inventory)
        for exam in patient.exams:
            entry = exam.selected
            if entry is None:
                continue
            folder = exam_dir(out, entry)
            try:
                metrics = _cached_or_analysed(entry, folder, model_sha, analyze_exam)
            except UserError as exc:
                if on_error is None:
                    raise
                date = entry.info.study_date
                not_analysed.append({"label": folder.name, "source": str(entry.source),
                                     "study_date": date.isoformat() if date else None,
                                     "reason": on_error(entry, exc)})
                continue
            rows.append(exam_row(metrics, folder.name))
        if rows:
            timeline = patient_timeline(rows, not_analysed)
            write_timeline(out / _safe(patient.patient_id or "patient"), timeline,
                           patient.patient_id)
            results[patient.patient_id] = timeline
    return results
