"""Atomic file writes: write to a temporary name beside the target, then rename over it; and
write errors that name the file (Python's write errors name none: a full disk would say only
"No space left on device")."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error it
    is removed, so a failure never leaves a half-written file under the final name."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def named_error(exc: BaseException, target: str | Path) -> OSError:
    """An :class:`OSError` naming ``target``, with the errno and reason of ``exc`` or of the
    first OSError with an errno among its causes (libraries wrap them); EIO otherwise."""
    seen: BaseException | None = exc
    while seen is not None and not (isinstance(seen, OSError) and seen.errno):
        seen = seen.__cause__ or seen.__context__
    if isinstance(seen, OSError):
        return OSError(seen.errno, seen.strerror or os.strerror(seen.errno), str(target))
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return OSError(errno.EIO, lines[0] if lines else type(exc).__name__, str(target))


@contextlib.contextmanager
def naming(target: str | Path) -> Iterator[None]:
    """Re-raise an :class:`OSError` inside the block as one that names ``target``
    (:func:`named_error`)."""
    try:
        yield
    except OSError as exc:
        raise named_error(exc, target) from exc


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; an error names ``path`` and leaves any
    previous file as it was."""
    path = Path(path)
    with atomic_path(path) as tmp, naming(path), open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
