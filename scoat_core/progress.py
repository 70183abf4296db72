"""Plain-Python progress reporting and cancellation shared by the CLI, the GUI and long jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from time import monotonic
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


class StageEta:
    """Seconds left of work made of stages in a known order, from the rates measured so far.

    ``shares`` maps each stage, in order, to its expected part of the whole (any positive
    numbers: measured seconds will do). Time left = what remains of the current stage at its
    measured rate (elapsed / fraction done) + the later stages at their expected shares, timed
    by the seconds per share measured so far (finished stages and the current one's
    projection). Stages not in ``shares`` (loading...) add nothing and measure nothing. Until a
    rate is measured (``min_fraction`` of a stage done and ``min_seconds`` spent in it) the
    current stage is taken at the rate of the finished ones; before any, the time is unknown
    (None). ``clock`` (seconds) defaults to :func:`time.monotonic`.
    """

    def __init__(self, shares: Mapping[str, float], clock: Callable[[], float] | None = None,
                 min_fraction: float = 0.02, min_seconds: float = 0.5) -> None:
        self.shares = {k: max(0.0, float(v)) for k, v in shares.items()}
        self._order = list(self.shares)
        self._clock = clock or monotonic
        self.min_fraction, self.min_seconds = min_fraction, min_seconds
        self.stage = ""
        self._stage_t0 = self._clock()
        self.seconds: dict[str, float] = {}
        """Measured seconds of each finished stage."""

    def update(self, stage: str, fraction: float) -> float | None:
        """Report ``fraction`` (0..1) of ``stage`` done; returns the seconds left (None while
        unknown)."""
        now = self._clock()
        if stage != self.stage:
            if self.stage:
                self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + now - self._stage_t0
            self.stage, self._stage_t0 = stage, now
        spent, fraction = now - self._stage_t0, min(max(float(fraction), 0.0), 1.0)
        share = self.shares.get(stage, 0.0)
        measured = [(self.seconds[s], self.shares[s]) for s in self.seconds
                    if self.shares.get(s, 0.0) > 0 and s != stage]
        projected = None
        if share > 0 and fraction >= self.min_fraction and spent >= self.min_seconds:
            projected = spent / fraction
            measured.append((projected, share))
        weight = sum(w for _, w in measured)
        if weight <= 0:
            return 0.0 if stage == "done" else None
        per_share = sum(t for t, _ in measured) / weight
        if projected is not None:
            current = projected - spent
        else:
            current = max(0.0, share * per_share - spent)
        later = self._order[self._order.index(stage) + 1:] if stage in self.shares else []
        if stage not in self.shares and stage != "done":
            later = [s for s in self._order if s not in self.seconds]
        return max(0.0, current + per_share * sum(self.shares[s] for s in later))


def shares_from_history(history: Sequence[Mapping[str, float]],
                        default: Mapping[str, float]) -> dict[str, float]:
    """Expected stage shares: the median part of each stage of ``default`` in the measured
    ``history`` (stage seconds of earlier runs), ``default`` where no run measured them all."""
    runs = []
    for run in history:
        times = [float(run.get(s, 0.0)) for s in default]
        if all(t > 0 for t in times):
            total = sum(times)
            runs.append([t / total for t in times])
    if not runs:
        return dict(default)
    return {s: sorted(r[i] for r in runs)[len(runs) // 2] for i, s in enumerate(default)}
