"""Measurements (rulers, ellipse ROIs) kept with their exam.

A row holds the kind, the axial slice index, the two points as voxel indices ``(x, y, z)`` of
the series they were drawn on (JSON), a label and when it was made. Deleting the exam or that
series deletes its measurements (foreign keys); a patient merge moves them with the exams.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from scoat_core.analysis.measure import Measurement
from scoat_core.store.base import StoreBase
from scoat_core.store.rows import _now

log = logging.getLogger(__name__)


class MeasurementsMixin(StoreBase):
    """Add, list and delete an exam's measurements."""

    def add_measurement(self, exam_pk: int, m: Measurement, series_pk: int | None = None
                        ) -> Measurement:
        """Keep ``m`` with exam ``exam_pk`` (drawn on series ``series_pk``, which must be one
        of the exam's); returns it with its ``id`` and ``created`` time. KeyError: no such exam
        or series of the exam."""
        created = _now()
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM exams WHERE id = ?", (exam_pk,)).fetchone():
                raise KeyError(f"no exam {exam_pk}")
            if series_pk is not None and not db.execute(
                    "SELECT 1 FROM series WHERE id = ? AND exam_pk = ?",
                    (series_pk, exam_pk)).fetchone():
                raise KeyError(f"no series {series_pk} in exam {exam_pk}")
            cur = db.execute(
                "INSERT INTO measurements (exam_pk, series_pk, kind, slice_index, points,"
                " label, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (exam_pk, series_pk, m.kind, m.slice_index,
                 json.dumps([list(p) for p in m.points]), m.label, created))
        return Measurement(m.kind, m.slice_index, m.points, m.label, cur.lastrowid, created)

    def measurements(self, exam_pk: int, series_pk: int | None = None) -> list[Measurement]:
        """The exam's measurements by slice, then in the order they were made; with
        ``series_pk``, those drawn on that series (and those whose series is not known)."""
        sql = "SELECT * FROM measurements WHERE exam_pk = ?"
        args: tuple = (exam_pk,)
        if series_pk is not None:
            sql += " AND (series_pk = ? OR series_pk IS NULL)"
            args += (series_pk,)
        return [m for r in self._rows(sql + " ORDER BY slice_index, id", args)
                if (m := _measurement(r)) is not None]

    def delete_measurement(self, measurement_id: int) -> None:
        """Forget one measurement (KeyError when there is none with this id)."""
        with self._tx() as db:
            if not db.execute("DELETE FROM measurements WHERE id = ?",
                              (measurement_id,)).rowcount:
                raise KeyError(f"no measurement {measurement_id}")


def _measurement(r: sqlite3.Row) -> Measurement | None:
    try:
        points = tuple(tuple(p) for p in json.loads(r["points"]))
        return Measurement(r["kind"], r["slice_index"], points,  # type: ignore[arg-type]
                           r["label"], r["id"], r["created"])
    except (TypeError, ValueError) as exc:
        log.warning("measurement %s unreadable: %s", r["id"], exc)
        return None
