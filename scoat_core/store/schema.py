"""The database schema: its version, the SQL of each version, and the migrations between them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from scoat_core.store.rows import StoreError

SCHEMA_VERSION = 5

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


def _add_content_hashes_v3(db: sqlite3.Connection) -> None:
    """The hash of a series' CT as last read from its source, and of the CT each analysis was
    made from (NULL: not known yet, e.g. made before this version; never counted as changed)."""
    db.execute("ALTER TABLE series ADD COLUMN content_hash TEXT")
    db.execute("ALTER TABLE analyses ADD COLUMN content_hash TEXT")


def _add_registrations_v4(db: sqlite3.Connection) -> None:
    """The comparison's registrations, keyed by the two analyses (baseline, follow-up) whose
    lung masks were registered: replacing or deleting either analysis deletes the row."""
    db.execute("""CREATE TABLE registrations (
        baseline_analysis INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
        followup_analysis INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
        created TEXT NOT NULL,
        version INTEGER NOT NULL,
        registration_json TEXT NOT NULL,
        PRIMARY KEY (baseline_analysis, followup_analysis))""")
    db.execute("CREATE INDEX registrations_by_followup ON registrations(followup_analysis)")


def _add_measurements_v5(db: sqlite3.Connection) -> None:
    """Rulers and ellipse ROIs drawn on an exam's axial slices, with the series whose voxel
    grid their points (JSON ``[[x, y, z], [x, y, z]]`` voxel indices) refer to."""
    db.execute("""CREATE TABLE measurements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        exam_pk INTEGER NOT NULL REFERENCES exams(id) ON DELETE CASCADE,
        series_pk INTEGER REFERENCES series(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('ruler', 'ellipse')),
        slice_index INTEGER NOT NULL,
        points TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL)""")
    db.execute("CREATE INDEX measurements_by_exam ON measurements(exam_pk)")


#: ``_MIGRATIONS[n]`` upgrades a database from schema version ``n`` to ``n + 1`` (inside the
#: opening transaction). Version 0 is an empty file.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _create_v1,
                                                                1: _add_failures_v2,
                                                                2: _add_content_hashes_v3,
                                                                3: _add_registrations_v4,
                                                                4: _add_measurements_v5}


def migrate(db: sqlite3.Connection, db_path: Path) -> None:
    """Bring the database of ``db_path`` (``db``, in the opening transaction) to
    :data:`SCHEMA_VERSION`; refuse a newer schema or a file that holds other tables."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{db_path} was written by a newer SCOAT Follow-up (schema {version});"
            " update the application"
        )
    if version == 0 and db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
        raise StoreError(f"{db_path}: not a SCOAT database (it holds other tables)")
    while version < SCHEMA_VERSION:
        _MIGRATIONS[version](db)
        version += 1
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
