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

import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path

from scoat_core.store.cache import CacheMixin
from scoat_core.store.imports import ImportsMixin
from scoat_core.store.measurements import MeasurementsMixin
from scoat_core.store.patients import PatientsMixin
from scoat_core.store.registrations import RegistrationsMixin
from scoat_core.store.results import ResultsMixin
from scoat_core.store.rows import StoreDamagedError, StoreError
from scoat_core.store.schema import migrate
from scoat_core.store.sources import SourcesMixin

log = logging.getLogger(__name__)

#: What SQLite says of a file that is not (or no longer) a whole database.
_DAMAGE_MESSAGES = ("not a database", "malformed", "corrupt")
#: The files of one SQLite database besides the main one (moved aside with it).
_COMPANIONS = ("-wal", "-shm", "-journal")


class Store(ImportsMixin, CacheMixin, SourcesMixin, ResultsMixin, RegistrationsMixin,
            MeasurementsMixin, PatientsMixin):
    """The app's database; open with :meth:`Store.open`, use as a context manager or close()."""

    @classmethod
    def open(cls, db_path: str | Path, cache_dir: str | Path | None = None) -> Store:
        """Open (creating or upgrading) the database at ``db_path``.

        Raises :class:`StoreDamagedError` (with the path and SQLite's reason) when the file is
        truncated, garbage or fails SQLite's quick integrity check; :class:`StoreError` when it
        is busy, of a newer version or not a SCOAT database.
        """
        db_path = Path(db_path).expanduser().absolute()
        cache = Path(cache_dir).expanduser().absolute() if cache_dir else db_path.parent / "cache"
        db_path.parent.mkdir(parents=True, exist_ok=True)
        _check_header(db_path)  # before SQLite opens it: a failed open deletes its -wal/-shm
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
            problems = [line.strip() for r in conn.execute("PRAGMA quick_check(3)")
                        for line in str(r[0]).splitlines()
                        if line.strip() and not line.startswith("***")]
            if problems != ["ok"]:
                raise StoreDamagedError(db_path, f"integrity check: {'; '.join(problems)}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "locked" in str(exc):
                raise StoreError(f"{db_path} is busy (another SCOAT Follow-up is writing to it);"
                                 " try again") from exc
            if any(m in str(exc).lower() for m in _DAMAGE_MESSAGES):
                raise StoreDamagedError(db_path, str(exc)) from exc
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


def _check_header(db_path: Path) -> None:
    """Raise :class:`StoreDamagedError` for a file that is not an SQLite database, or shorter
    than its header says (truncated), without SQLite opening it (a failed open deletes the
    -wal and -shm files); an absent or empty file is a new database."""
    try:
        size = db_path.stat().st_size
        if not size:
            return
        with db_path.open("rb") as fh:
            header = fh.read(100)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{db_path}: cannot be read ({exc.strerror or exc})") from exc
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise StoreDamagedError(db_path, "not an SQLite database file")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # With a -wal file another process may be checkpointing (page 1 is written first): there,
    # SQLite's own open decides.
    if header[24:28] == header[92:96] and pages and size < pages * page_size \
            and not os.path.lexists(f"{db_path}-wal"):
        raise StoreDamagedError(db_path, f"truncated: {size} of {pages * page_size} bytes")


def damaged_name(db_path: str | Path, when: datetime | None = None) -> Path:
    """Where :func:`move_aside` puts ``db_path``: ``<name>.damaged-YYYYMMDD-HHMMSS`` beside it
    (``-2``, ``-3``… added when that name is taken)."""
    db_path = Path(db_path).expanduser().absolute()
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    target = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    n = 1
    while any(os.path.lexists(f"{target}{c}") for c in ("", *_COMPANIONS, ".cache")):
        n += 1
        target = db_path.with_name(f"{db_path.name}.damaged-{stamp}-{n}")
    return target


def move_aside(db_path: str | Path, target: str | Path | None = None,
               cache_dir: str | Path | None = None) -> Path:
    """Rename a damaged database and its ``-wal``/``-shm``/``-journal`` files to ``target``
    (default :func:`damaged_name`), so that a new one can be started; nothing is deleted.

    Its cache folder (``cache_dir``, default ``cache`` beside it, as :meth:`Store.open` uses)
    goes with it to ``<target>.cache``: the new database numbers its series from 1 again and
    would write its CT cache over the old one's files. Returns the new path of the database
    file. Raises :class:`StoreError` naming the file when a rename fails (what was already
    moved is moved back).
    """
    db_path = Path(db_path).expanduser().absolute()
    target = Path(target) if target is not None else damaged_name(db_path)
    cache = Path(cache_dir).expanduser().absolute() if cache_dir else db_path.parent / "cache"
    moves = [(f"{db_path}{s}", f"{target}{s}") for s in ("", *_COMPANIONS)]
    moves.append((str(cache), f"{target}.cache"))
    moves = [(src, dst) for src, dst in moves if os.path.lexists(src)]
    if not moves or moves[0][0] != str(db_path):
        raise StoreError(f"{db_path}: no such file")
    for src, dst in moves:
        if os.path.lexists(dst):
            raise StoreError(f"{dst} already exists; {src} was not moved")
    done: list[tuple[str, str]] = []
    for src, dst in moves:
        try:
            os.rename(src, dst)
        except OSError as exc:
            for done_src, done_dst in reversed(done):
                try:
                    os.rename(done_dst, done_src)
                except OSError:
                    log.error("could not move %s back to %s", done_dst, done_src)
            raise StoreError(f"{src}: cannot be moved aside to {dst} ({exc.strerror or exc})"
                             ) from exc
        done.append((src, dst))
    log.warning("damaged database %s moved aside to %s", db_path, target)
    return target
