"""Patient, exam and series queries, and the user's edits: selection, dates, merge, delete."""

from __future__ import annotations

import sqlite3
from datetime import date

from scoat_core.store.base import StoreBase, _drop_no_date_warnings
from scoat_core.store.rows import (
    ExamRow,
    PatientRow,
    SeriesRow,
    StoreError,
    _date,
    _iso,
    _series_row,
)


class PatientsMixin(StoreBase):
    """Reading patients, exams and series; selecting, dating, merging and deleting them."""

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

    def _series_and_date(self, pk: int) -> tuple[sqlite3.Row, date | None]:
        rows = self._rows("SELECT s.*, e.study_date AS exam_date FROM series s"
                          " JOIN exams e ON e.id = s.exam_pk WHERE s.id = ?", (pk,))
        if not rows:
            raise KeyError(f"no series {pk}")
        return rows[0], _date(rows[0]["exam_date"])

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
