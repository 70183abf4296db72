"""Plain-Python progress reporting and cancellation shared by the CLI, the GUI and long jobs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Cancelled(Exception):  # noqa: N818 - reads naturally at the call site: `except Cancelled`
    """Raised by long work when its cancel callback returned True."""


class TerminalProgress:
    """A ``progress(done, total)`` callback drawing a bar with ETA on stderr.

    On a terminal it redraws one line; elsewhere (logs, CI) it prints at most every few seconds.
    """

    def __init__(self, label: str, stream: TextIO | None = None, min_interval_s: float = 2.0):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.min_interval_s = 0.1 if self.tty else min_interval_s
        self.t0 = time.monotonic()
        self._last = -1e9
        self._finished = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        final = total > 0 and done >= total
        if not final and now - self._last < self.min_interval_s:
            return
        if final and self._finished:
            return
        self._last, self._finished = now, final
        frac = done / total if total else 0.0
        elapsed = now - self.t0
        eta = f", ETA {elapsed / frac - elapsed:4.0f} s" if 0 < frac < 1 else ""
        bar = "#" * int(frac * 24)
        line = f"{self.label} [{bar:<24}] {done}/{total} ({frac:4.0%}{eta})"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
