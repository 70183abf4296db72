"""What the parts of the store share: the connection, its lock, transactions, cache removal."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_NO_DATE_WARNING = "no exam date"


class StoreBase:
    """The connection and cache folder of a :class:`~scoat_core.store.Store`, and its
    transactions; each part of the store is a mixin over this class."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path, cache_dir: Path) -> None:
        self._conn = conn
        self.db_path = db_path
        self.cache_dir = cache_dir
        self._lock = threading.RLock()
        self._depth = 0

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
