"""The rows the store returns, its errors, and the helpers between column values and them."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any

from scoat_core.errors import UserError
from scoat_core.volume import ExamInfo


class StoreError(UserError):
    """The database or its cache cannot be used as asked (message for the user)."""


class StoreDamagedError(StoreError):
    """The database file is damaged (truncated, garbage, failed integrity check): it can be
    moved aside (:func:`scoat_core.store.move_aside`) and a new one started."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: the database is damaged ({reason})")


class SourceMissingError(UserError):
    """The files a series was imported from are no longer where they were."""

    def __init__(self, path: str | Path, series_pk: int, detail: str = "was not found") -> None:
        self.path = Path(path)
        self.series_pk = series_pk
        super().__init__(
            f"The source of this series {detail}: {self.path}. It may have been moved or renamed,"
            " or its drive is not connected; use \"Locate…\" to point to its new place."
        )


@dataclass(frozen=True)
class PatientRow:
    id: int
    patient_id: str
    name: str
    n_exams: int


@dataclass(frozen=True)
class SeriesRow:
    id: int
    exam_pk: int
    kind: str
    """``"dicom"`` (source: a folder) or ``"volume"`` (source: a NIfTI/MHA/NRRD file)."""
    source: Path
    series_uid: str
    description: str
    manufacturer: str
    model: str
    kernel: str
    slice_thickness_mm: float | None
    shape: tuple[int, int, int] | None
    spacing_mm: tuple[float, float, float] | None
    hu: bool | None
    warnings: list[str]
    usable: bool
    excluded_reason: str
    selected: bool
    ct_cached: bool = False
    """A CT cache file is recorded (reopening does not need the source)."""


@dataclass(frozen=True)
class ExamRow:
    id: int
    patient_pk: int
    study_date: date | None
    description: str
    selected: SeriesRow | None
    n_series: int


@dataclass(frozen=True)
class SameExam:
    """An exam about to be imported that looks like one already stored (same patient, date
    and geometry) under another key: probably the same CT in another format (a NIfTI written
    from an imported DICOM series)."""

    entry: Any
    """The inventory's :class:`~scoat_core.io.exams.ExamEntry` (drop it to skip it:
    :meth:`~scoat_core.io.exams.Inventory.without_exams`)."""
    patient_pk: int
    exam_pk: int
    """The stored exam it matches."""
    study_date: date
    stored_source: Path
    """The source of the stored exam's matching series."""
    new_source: str


@dataclass(frozen=True)
class AnalysisRow:
    id: int
    series_pk: int
    created: datetime
    software_version: str
    model: dict[str, Any]
    """name, width, sha256 (and arch when known)."""
    device: str
    seconds: float | None
    metrics: dict[str, Any] = field(repr=False)
    """``AnalysisResult.to_json()`` as saved."""
    lung_mask: Path
    opacity_mask: Path
    ct_changed: bool = False
    """The series' CT, read again from its source, is not the one this analysis was made from
    (same UIDs, other voxels or geometry: see ``Store.load_volume``)."""

    def is_stale(self, current_model_sha: str) -> bool:
        """True when made by another model than the one now in use, by another version of the
        analysis method (:data:`scoat_core.ANALYSIS_VERSION`), or from a CT that has changed
        since (:attr:`ct_changed`)."""
        from scoat_core import ANALYSIS_VERSION

        return (self.model.get("sha256") != current_model_sha
                or self.metrics.get("analysis_version") != ANALYSIS_VERSION
                or self.ct_changed)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _abs(path: str | Path) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def _measured(shape: Sequence[int] | None, spacing: Sequence[float] | None, hu: bool | None,
              warnings: list[str]) -> dict[str, Any]:
    """The series columns measured by reading a series (JSON text where they are lists)."""
    return {
        "shape": json.dumps(list(shape)) if shape else None,
        "spacing": json.dumps([float(s) for s in spacing]) if spacing else None,
        "hu": None if hu is None else int(hu),
        "warnings": json.dumps(list(warnings)),
    }


def _series_row(r: sqlite3.Row) -> SeriesRow:
    return SeriesRow(
        id=r["id"], exam_pk=r["exam_pk"], kind=r["kind"], source=Path(r["source"]),
        series_uid=r["series_uid"], description=r["description"],
        manufacturer=r["manufacturer"], model=r["model"], kernel=r["kernel"],
        slice_thickness_mm=r["slice_thickness_mm"],
        shape=tuple(json.loads(r["shape"])) if r["shape"] else None,
        spacing_mm=tuple(json.loads(r["spacing"])) if r["spacing"] else None,
        hu=None if r["hu"] is None else bool(r["hu"]), warnings=json.loads(r["warnings"]),
        usable=bool(r["usable"]), excluded_reason=r["excluded_reason"],
        selected=bool(r["selected"]), ct_cached=bool(r["ct_cache"]),
    )


_DATE_FIELDS, _TIME_FIELDS = ("birth_date", "study_date"), ("study_time",)


def _info_from_json(data: dict[str, Any]) -> ExamInfo:
    """ExamInfo from ``ExamInfo.to_json()`` (unknown keys ignored)."""
    known = set(ExamInfo.__dataclass_fields__)
    values = {k: v for k, v in data.items() if k in known}
    for key in _DATE_FIELDS:
        values[key] = _date(values.get(key))
    for key in _TIME_FIELDS:
        values[key] = dtime.fromisoformat(values[key]) if values.get(key) else None
    return ExamInfo(**values)
