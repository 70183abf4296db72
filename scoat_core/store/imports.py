"""Importing an inventory: patients (matched by exam, ID or alias), exams and series; and the
exams of an inventory that are probably already stored in another format."""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoat_core.store.base import _drop_no_date_warnings, _update
from scoat_core.store.patients import PatientsMixin
from scoat_core.store.rows import SameExam, _abs, _iso, _measured, _now

if TYPE_CHECKING:
    from scoat_core.io.exams import ExamEntry, Inventory, PatientEntry, SeriesEntry


log = logging.getLogger(__name__)

#: Two series are the same CT when their shapes are equal, their spacings within this (mm)...
SAME_SPACING_MM = 1e-3
#: ... and their first voxels within this distance (mm).
SAME_ORIGIN_MM = 0.5


class ImportsMixin(PatientsMixin):
    """Adds what :func:`~scoat_core.io.exams.find_exams` found to the database."""

    def same_exam_candidates(self, inventory: Inventory) -> list[SameExam]:
        """The new exams of ``inventory`` that look like an exam already stored: the patient it
        would be imported into, the same date, a usable series of the same geometry (shape,
        spacing within :data:`SAME_SPACING_MM`, origin within :data:`SAME_ORIGIN_MM`; an origin
        not recorded, as for series imported before it was, is not held against a match).

        A pure query (nothing is written): exams whose key is already stored (a re-import) and
        undated or unmeasured ones are never candidates.
        """
        found: list[SameExam] = []
        with self._lock:
            db = self._conn
            for entry in inventory.patients:
                keys = [_exam_key(e) for e in entry.exams]
                stored = _stored_patient(db, entry, keys)
                if stored is None:
                    continue
                for exam, key in zip(entry.exams, keys, strict=True):
                    new = exam.selected
                    if (db.execute("SELECT 1 FROM exams WHERE key = ?", (key,)).fetchone()
                            or exam.study_date is None or new is None or not new.usable
                            or new.shape is None or new.spacing_mm is None):
                        continue
                    rows = db.execute(
                        "SELECT e.id AS exam_pk, s.source, s.shape, s.spacing, s.info FROM exams e"
                        " JOIN series s ON s.exam_pk = e.id WHERE e.patient_pk = ? AND"
                        " e.study_date = ? AND s.usable = 1 AND s.shape IS NOT NULL"
                        " ORDER BY e.id, s.selected DESC, s.id",
                        (stored[0], _iso(exam.study_date))).fetchall()
                    seen: set[int] = set()
                    for r in rows:
                        if r["exam_pk"] not in seen and _same_geometry(new, r):
                            seen.add(r["exam_pk"])
                            found.append(SameExam(exam, stored[0], int(r["exam_pk"]),
                                                  exam.study_date, Path(r["source"]),
                                                  _series_source(new)))
        return found

    def import_inventory(self, inventory: Inventory) -> list[int]:
        """Add what :func:`~scoat_core.io.exams.find_exams` found; returns the patients touched.

        Idempotent: exams are keyed by study UID (DICOM) or source file (volumes), DICOM series by
        series UID within the exam (their source is updated when the old one is gone), volume
        series by source. The inventory's selected series is kept unless the exam already has a
        usable selection (the user's choice wins on re-import).
        """
        touched: list[int] = []
        dropped: list[str] = []
        with self._tx() as db:
            for entry in inventory.patients:
                pk = self._import_patient(db, entry, dropped)
                if pk not in touched:
                    touched.append(pk)
        for rel in dropped:  # after the commit, as every replaced cache file
            self._remove(self.cache_dir / rel)
        return touched

    def _import_patient(self, db: sqlite3.Connection, entry: PatientEntry,
                        dropped: list[str]) -> int:
        keys = [_exam_key(e) for e in entry.exams]
        pk = self._patient_for(db, entry, keys)
        for exam, key in zip(entry.exams, keys, strict=True):
            self._import_exam(db, pk, exam, key, dropped)
        return pk

    def _patient_for(self, db: sqlite3.Connection, entry: PatientEntry, keys: list[str]) -> int:
        """The stored patient (:func:`_stored_patient`), else a new one."""
        stored = _stored_patient(db, entry, keys)
        if stored is not None:
            pk, name = stored
            if name == "" and entry.patient_name:
                db.execute("UPDATE patients SET name = ? WHERE id = ?", (entry.patient_name, pk))
            return pk
        cur = db.execute(
            "INSERT INTO patients (patient_id, name, created) VALUES (?, ?, ?)",
            (entry.patient_id, entry.patient_name, _now()),
        )
        return int(cur.lastrowid)

    def _import_exam(self, db: sqlite3.Connection, patient_pk: int, exam: ExamEntry,
                     key: str, dropped: list[str]) -> None:
        row = db.execute("SELECT id, study_date FROM exams WHERE key = ?", (key,)).fetchone()
        if row is None:
            cur = db.execute(
                "INSERT INTO exams (patient_pk, study_date, description, key, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (patient_pk, _iso(exam.study_date), exam.description, key, _now()),
            )
            exam_pk = int(cur.lastrowid)
        else:
            exam_pk = int(row["id"])
            if row["study_date"] is None and exam.study_date:
                db.execute("UPDATE exams SET study_date = ? WHERE id = ?",
                           (_iso(exam.study_date), exam_pk))
        wanted = None
        for s in exam.series:
            pk = self._import_series(db, exam_pk, s, dropped)
            if s.selected and s.usable:
                wanted = pk
        current = db.execute(
            "SELECT id FROM series WHERE exam_pk = ? AND selected = 1 AND usable = 1", (exam_pk,)
        ).fetchone()
        if current is None and wanted is not None:
            db.execute("UPDATE series SET selected = 0 WHERE exam_pk = ?", (exam_pk,))
            db.execute("UPDATE series SET selected = 1 WHERE id = ?", (wanted,))
        _drop_no_date_warnings(db, exam_pk)

    def _import_series(self, db: sqlite3.Connection, exam_pk: int, s: SeriesEntry,
                       dropped: list[str]) -> int:
        """Insert or update a series; an update drops its CT cache (its path goes to
        ``dropped``), so that the next load reads the source again and compares the content
        hash: the same UIDs may come with other pixels. A re-import records the hash of the CT
        it read (``content_hash``): other pixels make its analyses stale at once (a new series
        gets its hash when first read from its source)."""
        source = _series_source(s)
        uid = s.info.series_uid
        if s.kind == "dicom" and uid:
            row = db.execute("SELECT * FROM series WHERE exam_pk = ? AND series_uid = ?",
                             (exam_pk, uid)).fetchone()
        else:
            row = db.execute(
                "SELECT * FROM series WHERE exam_pk = ? AND series_uid = ?"
                " AND source = ?",
                (exam_pk, uid, source),
            ).fetchone()
        if row is not None and row["source"] != source and Path(row["source"]).exists():
            source = row["source"]  # a copy of a series already known: keep the first place
        values: dict[str, Any] = {
            "source": source, "description": s.info.series_description,
            "manufacturer": s.info.manufacturer, "model": s.info.model, "kernel": s.info.kernel,
            "slice_thickness_mm": s.info.slice_thickness_mm, "usable": int(s.usable),
            "excluded_reason": s.excluded_reason,
            "info": _series_info(s, source),
        }
        if s.shape is not None or row is None:  # measured by reading the series
            values.update(_measured(s.shape, s.spacing_mm, s.hu, s.warnings))
        if row is None:
            values.update(exam_pk=exam_pk, kind=s.kind, series_uid=uid)
            cols = ", ".join(values)
            cur = db.execute(f"INSERT INTO series ({cols}) VALUES ({', '.join('?' * len(values))})",
                             tuple(values.values()))
            return int(cur.lastrowid)
        if not s.usable:
            values["selected"] = 0
        if s.content_hash is not None:  # read by this import: other pixels are stale now
            values["content_hash"] = s.content_hash
            if row["content_hash"] not in (None, s.content_hash):
                log.warning("series %s: %s now holds another CT than the one analysed (same "
                            "UIDs, other voxels or geometry); its analysis is out of date",
                            row["id"], source)
        if row["ct_cache"]:
            values["ct_cache"] = None
            dropped.append(row["ct_cache"])
        _update(db, "series", int(row["id"]), values)
        return int(row["id"])


def _stored_patient(db: sqlite3.Connection, entry: PatientEntry,
                    keys: list[str]) -> tuple[int, str | None] | None:
    """``(pk, name)`` of the stored patient this entry goes to: an exam already stored decides
    (merges stick; name None), else the patient ID or an alias; None for a new patient."""
    for key in keys:
        row = db.execute("SELECT patient_pk FROM exams WHERE key = ?", (key,)).fetchone()
        if row:
            return int(row[0]), None
    row = db.execute(
        "SELECT id, name FROM patients WHERE patient_id = ? ORDER BY id LIMIT 1",
        (entry.patient_id,),
    ).fetchone()
    if row is None:
        row = db.execute(
            "SELECT p.id, p.name FROM patient_aliases a JOIN patients p ON p.id = a.patient_pk"
            " WHERE a.alias = ?",
            (entry.patient_id,),
        ).fetchone()
    return None if row is None else (int(row["id"]), str(row["name"] or ""))


def _same_geometry(new: SeriesEntry, row: sqlite3.Row) -> bool:
    """Whether a measured series of the inventory has the geometry of a stored series row."""
    if list(new.shape or ()) != json.loads(row["shape"]):
        return False
    spacing = json.loads(row["spacing"]) if row["spacing"] else None
    if spacing is None or new.spacing_mm is None or any(
            abs(a - b) > SAME_SPACING_MM for a, b in zip(new.spacing_mm, spacing, strict=True)):
        return False
    origin = json.loads(row["info"]).get("origin")
    if origin is None or new.origin_mm is None:
        return True
    return math.dist(new.origin_mm, origin) <= SAME_ORIGIN_MM


def _series_info(s: SeriesEntry, source: str) -> str:
    """The series' ``info`` JSON: its ExamInfo, and its origin when measured."""
    info: dict[str, Any] = s.info.replace(source=source).to_json()
    if s.origin_mm is not None:
        info["origin"] = [float(v) for v in s.origin_mm]
    return json.dumps(info)


def _series_source(s: SeriesEntry) -> str:
    # A DICOM series spread over folders has its common folder in info.source.
    return _abs(s.source if s.kind == "volume" else (s.info.source or s.source))


def _exam_key(exam: ExamEntry) -> str:
    """Study UID for DICOM; the source otherwise (one volume file is one exam)."""
    uids = sorted({s.info.study_uid for s in exam.series if s.kind == "dicom" and s.info.study_uid})
    if uids:
        return f"study:{uids[0]}"
    first = exam.series[0]
    return f"{'file' if first.kind == 'volume' else 'dicom'}:{_series_source(first)}"
