"""A stored analysis written out as ``scoat analyze`` writes it: the masks (NIfTI and, for a
DICOM series whose files are still there, DICOM SEG), metrics.json and metrics.csv.

The writer is :func:`scoat_core.analysis.output.write_analysis`, the one the command line uses;
this module only rebuilds its input (the :class:`AnalysisResult`) from the database: the saved
masks and metrics, with the analysis version they were made with.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoat_core.analysis.output import SEG_FILE, check_output_dir, write_analysis
from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import ExamMetrics, SideResult, ZoneResult
from scoat_core.errors import UserError
from scoat_core.store.rows import AnalysisRow, SeriesRow
from scoat_core.volume import Volume


class MaskExportError(UserError):
    """The masks could not be written (the message names the file and the problem)."""


@dataclass(frozen=True)
class MaskExport:
    """The files written by name, and what the user should know (why there is no SEG)."""

    files: dict[str, Path]
    notes: list[str] = field(default_factory=list)


@dataclass
class StoredResult(AnalysisResult):
    """An :class:`AnalysisResult` read back from the store: its JSON keeps the analysis version
    it was made with (not the current one)."""

    analysis_version: Any = None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.analysis_version is not None:
            out["analysis_version"] = self.analysis_version
        return out


def _fields(cls: type, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The dataclass fields of ``cls`` found in ``payload`` (None for a missing one)."""
    return {f.name: payload.get(f.name) for f in dataclasses.fields(cls)
            if f.name in payload or f.default is dataclasses.MISSING}


def metrics_from_json(payload: Mapping[str, Any]) -> ExamMetrics:
    """:class:`ExamMetrics` from its ``to_json()`` (the metrics the store keeps)."""
    values = _fields(ExamMetrics, payload)
    for side in ("right", "left"):
        values[side] = SideResult(**_fields(SideResult, payload.get(side) or {}))
    zones = payload.get("zones") or {}
    values["zones"] = [ZoneResult(**_fields(ZoneResult, z)) for z in zones.values()]
    values["refused"] = list(payload.get("refused") or [])
    return ExamMetrics(**values)


def stored_result(row: AnalysisRow, lung: Volume, opacity: Volume) -> StoredResult:
    """The analysis ``row`` (its masks loaded) as the writer of ``scoat analyze`` takes it."""
    m = row.metrics
    return StoredResult(
        lung=lung, opacity=opacity, metrics=metrics_from_json(m),
        model=dict(m.get("model") or row.model), device=str(m.get("device") or row.device),
        seconds=float(m.get("seconds") or row.seconds or 0.0),
        stage_seconds=dict(m.get("stage_seconds") or {}),
        warnings=[w for w in m.get("warnings") or [] if not str(w).startswith("DICOM SEG")],
        lungs_complete=m.get("lungs_complete") is not False,
        analysis_version=m.get("analysis_version"))


def dicom_source_files(series: SeriesRow) -> tuple[list[str], str]:
    """The DICOM files of ``series`` (for the SEG), or none and why."""
    if series.kind != "dicom":
        return [], "no DICOM SEG: the exam was imported from a volume file, not DICOM"
    if not Path(series.source).is_dir():
        return [], f"no DICOM SEG: the source folder {series.source} is no longer there"
    from scoat_core.io.exams import find_exams

    found = find_exams(series.source, load=False)
    entry = next((s for s in found.series()
                  if s.kind == "dicom" and s.info.series_uid == series.series_uid), None)
    files = [str(f) for f in getattr(entry.record, "files", ())] if entry else []
    if not files:
        return [], f"no DICOM SEG: the series is no longer in {series.source}"
    return files, ""


def export_analysis(store: Any, series: SeriesRow, row: AnalysisRow, out_dir: str | Path,
                    volume: Volume | None = None) -> MaskExport:
    """Write the stored analysis ``row`` of ``series`` into ``out_dir`` with the writer of
    ``scoat analyze``; ``volume`` is the series' CT (loaded from ``store`` when None).

    Raises :class:`MaskExportError` (or another :class:`UserError`) naming the file and why.
    """
    out = check_output_dir(out_dir)
    volume = store.load_volume(series) if volume is None else volume
    lung, opacity = store.load_masks(row)
    # a CT read from its DICOM files knows them (as scoat analyze uses them); one read from
    # the cache does not, so the source folder is scanned for the series
    known = list(volume.source_files or []) if series.kind == "dicom" else []
    files, note = (known, "") if known else dicom_source_files(series)
    try:
        written = write_analysis(stored_result(row, lung, opacity), volume, out,
                                 source_files=files or None)
    except OSError as exc:
        where = exc.filename or out
        raise MaskExportError(f"Could not write {where}: {exc.strerror or exc}") from exc
    notes = [note] if note else []
    if files and SEG_FILE not in written:
        payload = json.loads(written["metrics.json"].read_text(encoding="utf-8"))
        notes += [w for w in payload.get("warnings", []) if str(w).startswith("DICOM SEG")]
    return MaskExport(written, notes)
