"""The desktop app's local database: patients, exams, series, analyses, and its cache folder.

One SQLite file (WAL journal, foreign keys on, schema version in ``PRAGMA user_version``) and a
cache folder (default: ``cache/`` beside the database):

* ``ct/series-<pk>.nii``: the CT of a series as uncompressed NIfTI, for fast reopening;
* ``analyses/series-<pk>-<token>/{lung,opacity}_mask.nii.gz``: one folder per saved analysis;
* ``tmp/``: files being written.

The registrations of the comparison are kept in the database, keyed by the two analyses they
were computed from (:mod:`scoat_core.store.registrations`); the rulers and ellipse ROIs drawn on
an exam, with it (:mod:`scoat_core.store.measurements`).

Cache paths are stored relative to the cache folder; source paths are absolute. Every write is
one transaction. Files are complete and renamed into place before the transaction that refers to
them commits, and replaced files are removed only after it commits, so a crash at any point
leaves the database consistent: at worst an unreferenced file, which :meth:`Store.vacuum_cache`
removes. A result made by another model (SHA-256) or analysis version, or from a CT that has
changed since (the hash of the voxels read from the source differs), is *stale*
(:meth:`AnalysisRow.is_stale`). A damaged database file raises :class:`StoreDamagedError` on
opening; :func:`move_aside` renames it (with its ``-wal``/``-shm`` files) so a new one can start.
"""

from scoat_core.store.facade import Store, damaged_name, move_aside
from scoat_core.store.results import LUNG_MASK, OPACITY_MASK
from scoat_core.store.rows import (
    AnalysisRow,
    ExamRow,
    PatientRow,
    SameExam,
    SeriesRow,
    SourceMissingError,
    StoreDamagedError,
    StoreError,
)
from scoat_core.store.schema import SCHEMA_VERSION

__all__ = [
    "LUNG_MASK",
    "OPACITY_MASK",
    "SCHEMA_VERSION",
    "AnalysisRow",
    "ExamRow",
    "PatientRow",
    "SameExam",
    "SeriesRow",
    "SourceMissingError",
    "Store",
    "StoreDamagedError",
    "StoreError",
    "damaged_name",
    "move_aside",
]
