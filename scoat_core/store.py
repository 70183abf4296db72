"""The desktop app's local database: patients, exams, series, analyses, and its cache folder.

One SQLite file (WAL journal, foreign keys on, schema version in ``PRAGMA user_version``) and a
cache folder (default: ``cache/`` beside the database):

* ``ct/series-<pk>.nii``: the CT of a series as uncompressed NIfTI, for fast reopening;
* ``analyses/series-<pk>-<token>/{lung,opacity}_mask.nii.gz``: one folder per saved analysis;
* ``tmp/``: files being written.

Cache paths are stored relative to the cache folder; source paths are absolute. Every write is
one transaction. Files are complete and renamed into place before the transaction that refers to
them commits, and replaced files are removed only after it commits, so a crash at any point
leaves the database consistent: at worst an unreferenced file, which :meth:`Store.vacuum_cache`
removes. A result made by another model (SHA-256) or analysis version is *stale*
(:meth:`AnalysisRow.is_stale`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scoat_core.errors import UserError
from scoat_core.volume import ExamInfo, Volume

if TYPE_CHECKING:
    from scoat_core.inference import AnalysisResult
    from scoat_core.io.exams import ExamEntry, Inventory, PatientEntry, SeriesEntry

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
LUNG_MASK, OPACITY_MASK = "lung_mask.nii.gz", "opacity_mask.nii.gz"
_NO_DATE_WARNING = "no exam date"

_SCHEMA_V1 = (
    """CREATE TABLE patients (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_id TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL)""",
    "CREATE INDEX patients_by_id ON patients(patient_id)",
    """CREATE TABLE patient_aliases (
        alias TEXT PRIMARY KEY,
        patient_pk INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE)""",
    """CREATE TABLE exams (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_pk INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
        study_date TEXT,
        description TEXT NOT NULL DEFAULT '',
        key TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL)""",
    "CREATE INDEX exams_by_patient ON exams(patient_pk)",
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        exam_pk INTEGER NOT NULL REFERENCES exams(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('dicom', 'volume')),
        source TEXT NOT NULL,
        series_uid TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        manufacturer TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        kernel TEXT NOT NULL DEFAULT '',
        slice_thickness_mm REAL,
        shape TEXT,
        spacing TEXT,
        hu INTEGER,
        warnings TEXT NOT NULL DEFAULT '[]',
        usable INTEGER NOT NULL DEFAULT 1,
        excluded_reason TEXT NOT NULL DEFAULT '',
        selected INTEGER NOT NULL DEFAULT 0,
        info TEXT NOT NULL DEFAULT '{}',
        ct_cache TEXT,
        UNIQUE (exam_pk, series_uid, source))""",
    "CREATE UNIQUE INDEX one_selected_series ON series(exam_pk) WHERE selected = 1",
    """CREATE TABLE analyses (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        series_pk INTEGER NOT NULL UNIQUE REFERENCES series(id) ON DELETE CASCADE,
        created TEXT NOT NULL,
        software_version TEXT NOT NULL,
        model_name TEXT NOT NULL DEFAULT '',
        model_width INTEGER,
        model_sha256 TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT '',
        seconds REAL,
        metrics_json TEXT NOT NULL,
        lung_mask TEXT NOT NULL,
        opacity_mask TEXT NOT NULL)""",
)

#: ``_MIGRATIONS[n]`` upgrades a database from schema version ``n`` to ``n + 1`` (inside the
#: opening transaction). Version 0 is an empty file.
def _create_v1(db: sqlite3.Connection) -> None:
    for sql in _SCHEMA_V1:
        db.execute(sql)


def _add_failures_v2(db: sqlite3.Connection) -> None:
    """Why the last analysis of a series failed (cleared by a saved analysis)."""
    db.execute("""CREATE TABLE analysis_failures (
        series_pk INTEGER PRIMARY KEY REFERENCES series(id) ON DELETE CASCADE,
        created TEXT NOT NULL,
        model_sha256 TEXT NOT NULL DEFAULT '',
        analysis_version INTEGER NOT NULL,
        message TEXT NOT NULL)""")


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _create_v1,
                                                                1: _add_failures_v2}


# ------------------------------------------------------------------------------------ errors
class StoreError(UserError):
    """The database or its cache cannot be used as asked (message for the user)."""


class SourceMissingError(UserError):
    """The files a series was imported from are no longer where they were."""

    def __init__(self, path: str | Path, series_pk: int, detail: str = "was not found") -> None:
        self.path = Path(path)
        self.series_pk = series_pk
        super().__init__(
            f"The source of this series {detail}: {self.path}. It may have been moved or renamed,"
            " or its drive is not connected; use \"Locate…\" to point to its new place."
        )


# -------------------------------------------------------------------------------- row types
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

    def is_stale(self, current_model_sha: str) -> bool:
        """True when made by another model than the one now in use, or by another version of
        the analysis method (:data:`scoat_core.ANALYSIS_VERSION`)."""
        from scoat_core import ANALYSIS_VERSION

        return (self.model.get("sha256") != current_model_sha
                or self.metrics.get("analysis_version") != ANALYSIS_VERSION)


# ------------------------------------------------------------------------------------ store
class Store:
    """The app's database; open with :meth:`Store.open`, use as a context manager or close()."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path, cache_dir: Path) -> None:
        self._conn = conn
        self.db_path = db_path
        self.cache_dir = cache_dir
        self._lock = threading.RLock()
        self._depth = 0

    @classmethod
    def open(cls, db_path: str | Path, cache_dir: str | Path | None = None) -> Store:
        """Open (creating or upgrading) the database at ``db_path``."""
        db_path = Path(db_path).expanduser().absolute()
        cache = Path(cache_dir).expanduser().absolute() if cache_dir else db_path.parent / "cache"
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(db_path), timeout=15.0, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        store = cls(conn, db_path, cache)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            store._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "locked" in str(exc):
                raise StoreError(f"{db_path} is busy (another SCOAT Follow-up is writing to it);"
                                 " try again") from exc
            raise StoreError(f"{db_path}: not a SCOAT database, or it is damaged ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        for sub in ("ct", "analyses", "tmp"):
            (cache / sub).mkdir(parents=True, exist_ok=True)
        return store

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested uses join the outer one); rolled back on any error."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
                self._commit()
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _migrate(self) -> None:
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.db_path} was written by a newer SCOAT Follow-up (schema {version});"
                    " update the application"
                )
            if version == 0 and db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                raise StoreError(f"{self.db_path}: not a SCOAT database (it holds other tables)")
            while version < SCHEMA_VERSION:
                _MIGRATIONS[version](db)
                version += 1
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ---------------------------------------------------------------------- import
    def import_inventory(self, inventory: Inventory) -> list[int]:
        """Add what :func:`~scoat_core.io.exams.find_exams` found; returns the patients touched.

        Idempotent: exams are keyed by study UID (DICOM) or source file (volumes), DICOM series by
        series UID within the exam (their source is updated when the old one is gone), volume
        series by source. The inventory's selected series is kept unless the exam already has a
        usable selection (the user's choice wins on re-import).
        """
        touched: list[int] = []
        with self._tx() as db:
            for entry in inventory.patients:
                pk = self._import_patient(db, entry)
                if pk not in touched:
                    touched.append(pk)
        return touched

    def _import_patient(self, db: sqlite3.Connection, entry: PatientEntry) -> int:
        keys = [_exam_key(e) for e in entry.exams]
        pk = self._patient_for(db, entry, keys)
        for exam, key in zip(entry.exams, keys, strict=True):
            self._import_exam(db, pk, exam, key)
        return pk

    def _patient_for(self, db: sqlite3.Connection, entry: PatientEntry, keys: list[str]) -> int:
        """An exam already stored decides (merges stick); else the patient ID or an alias."""
        for key in keys:
            row = db.execute("SELECT patient_pk FROM exams WHERE key = ?", (key,)).fetchone()
            if row:
                return int(row[0])
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
        if row is not None:
            if not row["name"] and entry.patient_name:
                db.execute("UPDATE patients SET name = ? WHERE id = ?",
                           (entry.patient_name, row[0]))
            return int(row[0])
        cur = db.execute(
            "INSERT INTO patients (patient_id, name, created) VALUES (?, ?, ?)",
            (entry.patient_id, entry.patient_name, _now()),
        )
        return int(cur.lastrowid)

    def _import_exam(self, db: sqlite3.Connection, patient_pk: int, exam: ExamEntry,
                     key: str) -> None:
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
            pk = self._import_series(db, exam_pk, s)
            if s.selected and s.usable:
                wanted = pk
        current = db.execute(
            "SELECT id FROM series WHERE exam_pk = ? AND selected = 1 AND usable = 1", (exam_pk,)
        ).fetchone()
        if current is None and wanted is not None:
            db.execute("UPDATE series SET selected = 0 WHERE exam_pk = ?", (exam_pk,))
            db.execute("UPDATE series SET selected = 1 WHERE id = ?", (wanted,))
        _drop_no_date_warnings(db, exam_pk)

    def _import_series(self, db: sqlite3.Connection, exam_pk: int, s: SeriesEntry) -> int:
        source = _series_source(s)
        uid = s.info.series_uid
        if s.kind == "dicom" and uid:
            row = db.execute("SELECT id, source FROM series WHERE exam_pk = ? AND series_uid = ?",
                             (exam_pk, uid)).fetchone()
        else:
            row = db.execute(
                "SELECT id, source FROM series WHERE exam_pk = ? AND series_uid = ? AND source = ?",
                (exam_pk, uid, source),
            ).fetchone()
        if row is not None and row["source"] != source and Path(row["source"]).exists():
            source = row["source"]  # a copy of a series already known: keep the first place
        values: dict[str, Any] = {
            "source": source, "description": s.info.series_description,
            "manufacturer": s.info.manufacturer, "model": s.info.model, "kernel": s.info.kernel,
            "slice_thickness_mm": s.info.slice_thickness_mm, "usable": int(s.usable),
            "excluded_reason": s.excluded_reason,
            "info": json.dumps(s.info.replace(source=source).to_json()),
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
        _update(db, "series", int(row["id"]), values)
        return int(row["id"])

    # --------------------------------------------------------------------- queries
    def patients(self) -> list[PatientRow]:
        rows = self._rows(
            "SELECT p.id, p.patient_id, p.name, COUNT(e.id) AS n FROM patients p"
            " LEFT JOIN exams e ON e.patient_pk = p.id GROUP BY p.id ORDER BY p.patient_id, p.id"
        )
        return [PatientRow(r["id"], r["patient_id"], r["name"], r["n"]) for r in rows]

    def patient(self, patient_pk: int) -> PatientRow:
        rows = self._rows(
            "SELECT p.id, p.patient_id, p.name, (SELECT COUNT(*) FROM exams e"
            " WHERE e.patient_pk = p.id) AS n FROM patients p WHERE p.id = ?", (patient_pk,)
        )
        if not rows:
            raise KeyError(f"no patient {patient_pk}")
        r = rows[0]
        return PatientRow(r["id"], r["patient_id"], r["name"], r["n"])

    def exams(self, patient_pk: int) -> list[ExamRow]:
        """The patient's exams by date (undated last)."""
        return self._exam_rows("e.patient_pk = ?", (patient_pk,))

    def exam(self, exam_pk: int) -> ExamRow:
        rows = self._exam_rows("e.id = ?", (exam_pk,))
        if not rows:
            raise KeyError(f"no exam {exam_pk}")
        return rows[0]

    def _exam_rows(self, where: str, args: tuple) -> list[ExamRow]:
        with self._lock:
            exams = self._conn.execute(
                "SELECT e.*, (SELECT COUNT(*) FROM series s WHERE s.exam_pk = e.id) AS n"
                f" FROM exams e WHERE {where} ORDER BY e.study_date IS NULL, e.study_date, e.id",
                args,
            ).fetchall()
            chosen = self._conn.execute(
                "SELECT s.* FROM series s JOIN exams e ON e.id = s.exam_pk"
                f" WHERE s.selected = 1 AND {where}",
                args,
            ).fetchall()
        by_exam = {r["exam_pk"]: _series_row(r) for r in chosen}
        return [
            ExamRow(r["id"], r["patient_pk"], _date(r["study_date"]), r["description"],
                    by_exam.get(r["id"]), r["n"])
            for r in exams
        ]

    def series(self, exam_pk: int) -> list[SeriesRow]:
        rows = self._rows("SELECT * FROM series WHERE exam_pk = ? ORDER BY id", (exam_pk,))
        return [_series_row(r) for r in rows]

    def series_row(self, series_pk: int) -> SeriesRow:
        rows = self._rows("SELECT * FROM series WHERE id = ?", (series_pk,))
        if not rows:
            raise KeyError(f"no series {series_pk}")
        return _series_row(rows[0])

    # ---------------------------------------------------------------------- edits
    def select_series(self, exam_pk: int, series_pk: int) -> None:
        """Analyse ``series_pk`` for this exam from now on."""
        with self._tx() as db:
            row = db.execute("SELECT exam_pk, usable, excluded_reason FROM series WHERE id = ?",
                             (series_pk,)).fetchone()
            if row is None or row["exam_pk"] != exam_pk:
                raise KeyError(f"series {series_pk} is not in exam {exam_pk}")
            if not row["usable"]:
                raise StoreError(f"this series cannot be analysed: {row['excluded_reason']}")
            db.execute("UPDATE series SET selected = 0 WHERE exam_pk = ?", (exam_pk,))
            db.execute("UPDATE series SET selected = 1 WHERE id = ?", (series_pk,))

    def set_exam_date(self, exam_pk: int, study_date: date | None) -> None:
        """Store the date the user gave (volume files carry none)."""
        with self._tx() as db:
            cur = db.execute("UPDATE exams SET study_date = ? WHERE id = ?",
                             (_iso(study_date), exam_pk))
            if cur.rowcount == 0:
                raise KeyError(f"no exam {exam_pk}")
            _drop_no_date_warnings(db, exam_pk)

    def merge_patients(self, keep_pk: int, other_pk: int) -> None:
        """Move every exam of ``other_pk`` to ``keep_pk`` and delete ``other_pk``.

        The other patient's ID becomes an alias, so importing its files again lands here.
        """
        if keep_pk == other_pk:
            raise ValueError("cannot merge a patient with itself")
        with self._tx() as db:
            keep = db.execute("SELECT * FROM patients WHERE id = ?", (keep_pk,)).fetchone()
            other = db.execute("SELECT * FROM patients WHERE id = ?", (other_pk,)).fetchone()
            if keep is None or other is None:
                raise KeyError(f"no patient {keep_pk if keep is None else other_pk}")
            db.execute("UPDATE exams SET patient_pk = ? WHERE patient_pk = ?", (keep_pk, other_pk))
            db.execute("UPDATE patient_aliases SET patient_pk = ? WHERE patient_pk = ?",
                       (keep_pk, other_pk))
            if other["patient_id"] != keep["patient_id"]:
                db.execute("INSERT OR REPLACE INTO patient_aliases (alias, patient_pk)"
                           " VALUES (?, ?)", (other["patient_id"], keep_pk))
            if not keep["name"] and other["name"]:
                db.execute("UPDATE patients SET name = ? WHERE id = ?", (other["name"], keep_pk))
            db.execute("DELETE FROM patients WHERE id = ?", (other_pk,))

    def delete_patient(self, patient_pk: int) -> None:
        """Forget a patient, its exams and results, and remove its cached files."""
        self._delete("patients", patient_pk,
                     "SELECT s.ct_cache, a.lung_mask FROM series s JOIN exams e ON e.id = s.exam_pk"
                     " LEFT JOIN analyses a ON a.series_pk = s.id WHERE e.patient_pk = ?")

    def delete_exam(self, exam_pk: int) -> None:
        """Forget one exam, its series and results, and remove its cached files."""
        self._delete("exams", exam_pk,
                     "SELECT s.ct_cache, a.lung_mask FROM series s"
                     " LEFT JOIN analyses a ON a.series_pk = s.id WHERE s.exam_pk = ?")

    def _delete(self, table: str, pk: int, files_sql: str) -> None:
        with self._tx() as db:
            files = db.execute(files_sql, (pk,)).fetchall()
            if db.execute(f"DELETE FROM {table} WHERE id = ?", (pk,)).rowcount == 0:
                raise KeyError(f"no row {pk} in {table}")
        for r in files:
            if r["ct_cache"]:
                self._remove(self.cache_dir / r["ct_cache"])
            if r["lung_mask"]:
                self._remove((self.cache_dir / r["lung_mask"]).parent)

    # -------------------------------------------------------------- sources, cache
    def load_volume(self, series: SeriesRow | int, *, cache: bool = True) -> Volume:
        """The CT of a series: from the cache when present, else from the source (then cached).

        Raises :class:`SourceMissingError` when the cache is absent and the source is gone.
        """
        pk = series if isinstance(series, int) else series.id
        row, exam_date = self._series_and_date(pk)
        info = _info_from_json(json.loads(row["info"]))
        if exam_date is not None:
            info = info.replace(study_date=exam_date)
        if row["ct_cache"]:
            vol = self._read_cache(row, info)
            if vol is not None:
                return vol
        vol = self._read_source(row, exam_date)
        vol.info = vol.info.replace(study_date=exam_date) if exam_date else vol.info
        if cache:
            self._write_ct_cache(pk, vol)
        return vol

    def _series_and_date(self, pk: int) -> tuple[sqlite3.Row, date | None]:
        rows = self._rows("SELECT s.*, e.study_date AS exam_date FROM series s"
                          " JOIN exams e ON e.id = s.exam_pk WHERE s.id = ?", (pk,))
        if not rows:
            raise KeyError(f"no series {pk}")
        return rows[0], _date(rows[0]["exam_date"])

    def _read_cache(self, row: sqlite3.Row, info: ExamInfo) -> Volume | None:
        path = self.cache_dir / row["ct_cache"]
        try:
            vol = _read_nifti(path, info, is_hu=bool(row["hu"]))
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("CT cache %s unreadable (%s); reading the source again", path, exc)
            return None
        shape = json.loads(row["shape"]) if row["shape"] else None
        if shape is not None and list(vol.shape) != shape:
            log.warning("CT cache %s has shape %s, expected %s", path, vol.shape, shape)
            return None
        vol.warnings = json.loads(row["warnings"])
        return vol

    def _read_source(self, row: sqlite3.Row, exam_date: date | None) -> Volume:
        source = Path(row["source"])
        if not source.exists():
            raise SourceMissingError(source, row["id"])
        if row["kind"] == "volume":
            from scoat_core.io.images import read_image

            return read_image(source, study_date=exam_date)
        from scoat_core.io.exams import find_exams, load_series

        found = find_exams(source, load=False)
        uid = row["series_uid"]
        entry = next((s for s in found.series() if s.kind == "dicom" and s.info.series_uid == uid),
                     None)
        if entry is None:
            raise SourceMissingError(source, row["id"], f"(series UID {uid}) is no longer in")
        return load_series(entry)

    def _write_ct_cache(self, pk: int, vol: Volume) -> None:
        """Cache the CT (atomic file, then one transaction); a failure only costs speed."""
        from scoat_core.io.images import write_image

        rel = f"ct/series-{pk}.nii"
        tmp = self.cache_dir / "tmp" / f"ct-{pk}-{uuid.uuid4().hex[:12]}.nii"
        try:
            write_image(vol, tmp, compress=False)
            os.replace(tmp, self.cache_dir / rel)
            with self._tx() as db:
                _update(db, "series", pk, {
                    "ct_cache": rel, **_measured(vol.shape, vol.spacing, vol.is_hu, vol.warnings),
                    "info": json.dumps(vol.info.to_json()),
                })
        except (OSError, RuntimeError, sqlite3.Error) as exc:
            log.warning("could not cache the CT of series %s: %s", pk, exc)
            self._remove(tmp)

    def missing_sources(self) -> list[SeriesRow]:
        """Series whose source file or folder does not exist now."""
        rows = self._rows("SELECT * FROM series ORDER BY id")
        return [_series_row(r) for r in rows if not Path(r["source"]).exists()]

    def relocate(self, old_prefix: str | Path, new_prefix: str | Path) -> int:
        """Rewrite the sources under folder ``old_prefix`` to ``new_prefix``; returns the count."""
        return self._rewrite(Path(_abs(old_prefix)), Path(_abs(new_prefix)), lambda o, n: True)

    def locate(self, series_pk: int, new_source: str | Path) -> int:
        """The user found a series at ``new_source``: move it and its missing neighbours.

        The trailing path parts that the old and new sources share are taken as moved together
        (``/data/P1/e1/dicom`` → ``/mnt/usb/P1/e1/dicom`` maps ``/data`` to ``/mnt/usb``); only
        series whose source is missing and whose new path exists are rewritten. Returns the count.
        """
        new = Path(_abs(new_source))
        if not new.exists():
            raise StoreError(f"{new}: no such file or folder")
        old = self.series_row(series_pk).source
        o, n = old.parts, new.parts
        k = 0
        while k < min(len(o), len(n)) - 1 and o[-1 - k] == n[-1 - k]:
            k += 1
        old_prefix, new_prefix = Path(*o[: len(o) - k]), Path(*n[: len(n) - k])
        return self._rewrite(old_prefix, new_prefix,
                             lambda o_, n_: o_ == old or (not o_.exists() and n_.exists()))

    def _rewrite(self, old: Path, new: Path, accept: Callable[[Path, Path], bool]) -> int:
        count = 0
        with self._tx() as db:
            for r in db.execute("SELECT id, source, info FROM series").fetchall():
                src = Path(r["source"])
                moved = _moved(src, old, new)
                if moved is None or not accept(src, moved):
                    continue
                info = json.loads(r["info"])
                info["source"] = str(moved)
                db.execute("UPDATE series SET source = ?, info = ? WHERE id = ?",
                           (str(moved), json.dumps(info), r["id"]))
                count += 1
                self._rekey_exam(db, src, moved)
        return count

    @staticmethod
    def _rekey_exam(db: sqlite3.Connection, src: Path, moved: Path) -> None:
        """Exams keyed by a source path follow it (unless the new key is taken)."""
        for prefix in ("file:", "dicom:"):
            taken = db.execute("SELECT 1 FROM exams WHERE key = ?", (prefix + str(moved),))
            if taken.fetchone() is None:
                db.execute("UPDATE exams SET key = ? WHERE key = ?",
                           (prefix + str(moved), prefix + str(src)))

    # ------------------------------------------------------------------ analyses
    def save_analysis(self, series_pk: int, result: AnalysisResult,
                      software_version: str) -> AnalysisRow:
        """Store a result (masks as ``.nii.gz`` in the cache), replacing the previous one."""
        from scoat_core.io.images import write_mask

        self.series_row(series_pk)  # KeyError before writing anything
        token = uuid.uuid4().hex[:12]
        tmp = self.cache_dir / "tmp" / f"analysis-{series_pk}-{token}"
        rel = Path("analyses") / f"series-{series_pk}-{token}"
        try:
            write_mask(result.lung, tmp / LUNG_MASK)
            write_mask(result.opacity, tmp / OPACITY_MASK)
            os.replace(tmp, self.cache_dir / rel)
        except BaseException:
            self._remove(tmp)
            raise
        model = result.model or {}
        try:
            with self._tx() as db:
                old = db.execute("SELECT lung_mask FROM analyses WHERE series_pk = ?",
                                 (series_pk,)).fetchone()
                db.execute("DELETE FROM analyses WHERE series_pk = ?", (series_pk,))
                db.execute("DELETE FROM analysis_failures WHERE series_pk = ?", (series_pk,))
                cur = db.execute(
                    "INSERT INTO analyses (series_pk, created, software_version, model_name,"
                    " model_width, model_sha256, device, seconds, metrics_json, lung_mask,"
                    " opacity_mask) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (series_pk, _now(), software_version, str(model.get("name") or ""),
                     model.get("width"), str(model.get("sha256") or ""), result.device,
                     float(result.seconds), json.dumps(result.to_json(), default=str),
                     str(rel / LUNG_MASK), str(rel / OPACITY_MASK)),
                )
                pk = int(cur.lastrowid)
        except BaseException:
            self._remove(self.cache_dir / rel)
            raise
        if old is not None:
            self._remove((self.cache_dir / old["lung_mask"]).parent)
        return self._analysis_by("a.id = ?", (pk,))[0]

    def save_failure(self, series_pk: int, message: str, model_sha: str = "") -> None:
        """Remember why analysing this series failed (shown until an analysis is saved)."""
        from scoat_core import ANALYSIS_VERSION

        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO analysis_failures (series_pk, created, model_sha256,"
                " analysis_version, message) VALUES (?, ?, ?, ?, ?)",
                (series_pk, _now(), model_sha, ANALYSIS_VERSION, message))

    def failure(self, series_pk: int, model_sha: str = "") -> str | None:
        """Why the last analysis of this series failed, when it was this model and analysis
        version that failed (another may succeed), else None."""
        from scoat_core import ANALYSIS_VERSION

        rows = self._rows("SELECT * FROM analysis_failures WHERE series_pk = ?", (series_pk,))
        if not rows:
            return None
        r = rows[0]
        same = r["model_sha256"] == model_sha and r["analysis_version"] == ANALYSIS_VERSION
        return str(r["message"]) if same else None

    def analysis(self, series_pk: int) -> AnalysisRow | None:
        rows = self._analysis_by("a.series_pk = ?", (series_pk,))
        return rows[0] if rows else None

    def _analysis_by(self, where: str, args: tuple) -> list[AnalysisRow]:
        rows = self._rows(f"SELECT a.* FROM analyses a WHERE {where}", args)
        return [self._analysis_row(r) for r in rows]

    def _analysis_row(self, r: sqlite3.Row) -> AnalysisRow:
        metrics = json.loads(r["metrics_json"])
        model = dict(metrics.get("model") or {})
        model.update(name=r["model_name"], width=r["model_width"], sha256=r["model_sha256"])
        return AnalysisRow(
            r["id"], r["series_pk"], datetime.fromisoformat(r["created"]),
            r["software_version"], model, r["device"], r["seconds"], metrics,
            self.cache_dir / r["lung_mask"], self.cache_dir / r["opacity_mask"],
        )

    def analyses_for_patient(self, patient_pk: int) -> list[tuple[ExamRow, AnalysisRow | None]]:
        """Each exam (by date) with the stored analysis of its selected series, if any."""
        exams = self.exams(patient_pk)
        pks = [e.selected.id for e in exams if e.selected is not None]
        marks = ", ".join("?" * len(pks))
        found = {a.series_pk: a for a in self._analysis_by(f"a.series_pk IN ({marks})",
                                                            tuple(pks))} if pks else {}
        return [(e, found.get(e.selected.id) if e.selected else None) for e in exams]

    def load_masks(self, row: AnalysisRow) -> tuple[Volume, Volume]:
        """``(lung labels, opacity)`` of a stored analysis."""
        series, exam_date = self._series_and_date(row.series_pk)
        info = _info_from_json(json.loads(series["info"]))
        if exam_date is not None:
            info = info.replace(study_date=exam_date)
        try:
            return (_read_nifti(row.lung_mask, info, is_hu=False),
                    _read_nifti(row.opacity_mask, info, is_hu=False))
        except (OSError, RuntimeError) as exc:
            raise StoreError(f"the saved result files are missing or damaged ({exc});"
                             " analyse the exam again") from exc

    def vacuum_cache(self, min_age_s: float = 3600.0) -> list[Path]:
        """Remove cache files no database row refers to (left by a crash); returns them.

        Only files older than ``min_age_s`` go, so that a write in progress in another process
        is left alone.
        """
        rows = self._rows("SELECT ct_cache AS p FROM series WHERE ct_cache IS NOT NULL"
                          " UNION SELECT lung_mask FROM analyses")
        keep = {self.cache_dir / r["p"] for r in rows}
        keep |= {p.parent for p in keep}
        limit = time.time() - min_age_s
        removed = []
        for sub in ("ct", "analyses", "tmp"):
            folder = self.cache_dir / sub
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                if path not in keep and path.lstat().st_mtime <= limit:
                    self._remove(path)
                    removed.append(path)
        return removed

    def _remove(self, path: Path) -> None:
        """Delete a cache file or folder (never anything outside the cache)."""
        if self.cache_dir not in path.parents:
            log.error("refusing to remove %s outside the cache %s", path, self.cache_dir)
            return
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", path, exc)


# ---------------------------------------------------------------------------------- helpers
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _abs(path: str | Path) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def _moved(src: Path, old: Path, new: Path) -> Path | None:
    try:
        return new / src.relative_to(old)
    except ValueError:
        return None


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


def _measured(shape, spacing, hu: bool | None, warnings: list[str]) -> dict[str, Any]:
    return {
        "shape": json.dumps(list(shape)) if shape else None,
        "spacing": json.dumps([float(s) for s in spacing]) if spacing else None,
        "hu": None if hu is None else int(hu),
        "warnings": json.dumps(list(warnings)),
    }


def _drop_no_date_warnings(db: sqlite3.Connection, exam_pk: int) -> None:
    """Once an exam has a date, its series no longer warn that it is missing."""
    if db.execute("SELECT study_date FROM exams WHERE id = ?", (exam_pk,)).fetchone()[0] is None:
        return
    rows = db.execute("SELECT id, warnings FROM series WHERE exam_pk = ?", (exam_pk,)).fetchall()
    for r in rows:
        kept = [w for w in json.loads(r["warnings"]) if not w.startswith(_NO_DATE_WARNING)]
        db.execute("UPDATE series SET warnings = ? WHERE id = ?", (json.dumps(kept), r["id"]))


def _update(db: sqlite3.Connection, table: str, pk: int, values: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*values.values(), pk))


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


def _read_nifti(path: Path, info: ExamInfo, *, is_hu: bool) -> Volume:
    """A file this store wrote (no checks or guesses: its metadata is in the database).

    Geometry comes from SimpleITK's reading of the header; the voxels of an uncompressed file
    are read with one ``numpy.fromfile`` (about 5× faster than ``SimpleITK.ReadImage``).
    """
    import SimpleITK as sitk

    if not path.is_file():
        raise OSError(f"{path} does not exist")
    reader = sitk.ImageFileReader()
    reader.SetImageIO("NiftiImageIO")
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    array = _raw_nifti_voxels(path, reader.GetSize())
    if array is None:
        return Volume.from_sitk(reader.Execute(), info, is_hu=is_hu)
    direction = np.array(reader.GetDirection()).reshape(3, 3)
    return Volume(array, reader.GetSpacing(), reader.GetOrigin(), direction, info, is_hu=is_hu)


_NIFTI_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


def _raw_nifti_voxels(path: Path, size: tuple[int, ...]) -> np.ndarray | None:
    """The ``[z, y, x]`` voxels of a plain uncompressed 3-D NIfTI-1 file, else None."""
    if not path.name.endswith(".nii") or len(size) != 3:
        return None
    with path.open("rb") as f:
        header = f.read(348)
    for endian in "<>":
        if len(header) == 348 and struct.unpack(endian + "i", header[:4])[0] == 348:
            break
    else:
        return None
    dims = struct.unpack(endian + "8h", header[40:56])
    code = _NIFTI_TYPES.get(struct.unpack(endian + "h", header[70:72])[0])
    offset, slope, inter = struct.unpack(endian + "3f", header[108:120])
    if code is None or dims[0] != 3 or tuple(dims[1:4]) != tuple(size) or slope not in (0, 1) \
            or inter != 0:
        return None
    count = int(np.prod(size))
    array = np.fromfile(path, dtype=endian + code, count=count, offset=int(offset))
    if array.size != count:
        raise OSError(f"{path} is truncated")
    return array.reshape(size[::-1]).astype(code, copy=False)  # native byte order
