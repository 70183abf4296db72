"""The :class:`Store` facade: the parts of the store combined into one class, and opening it.

The parts are mixins over :class:`~scoat_core.store.base.StoreBase` rather than objects the
facade holds, because they are not independent: they share one connection, its lock and the
depth of the open transaction, and they call each other (saving an analysis checks the series
row, loading a volume writes the cache in a transaction). Mixins share that state as ``self``
without passing it around, and keep :class:`Store` one object with the same methods and
attributes as before the split, with no forwarding methods: every transaction still commits
through ``Store._commit``, which the crash tests replace on an instance. Each mixin inherits
what it uses (:class:`~scoat_core.store.patients.PatientsMixin` for the series queries), so each
module names what it relies on.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from scoat_core.store.cache import CacheMixin
from scoat_core.store.imports import ImportsMixin
from scoat_core.store.patients import PatientsMixin
from scoat_core.store.results import ResultsMixin
from scoat_core.store.rows import StoreError
from scoat_core.store.schema import migrate
from scoat_core.store.sources import SourcesMixin


class Store(ImportsMixin, CacheMixin, SourcesMixin, ResultsMixin, PatientsMixin):
    """The app's database; open with :meth:`Store.open`, use as a context manager or close()."""

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
            with store._tx() as db:
                migrate(db, db_path)
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
