"""Sources that moved: listing the missing ones, relocating and locating them, rekeying exams."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from scoat_core.store.patients import PatientsMixin
from scoat_core.store.rows import SeriesRow, StoreError, _abs, _series_row


class SourcesMixin(PatientsMixin):
    """Finding series whose files are gone and pointing them to their new place."""

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


def _moved(src: Path, old: Path, new: Path) -> Path | None:
    try:
        return new / src.relative_to(old)
    except ValueError:
        return None
