"""Background jobs for long work (import, analysis, attention maps) off the GUI thread.

``run_job(fn)`` runs ``fn(progress, cancel)`` in the global QThreadPool and returns a
:class:`Job` whose signals arrive in the GUI thread (queued connections):

* ``progress(fraction 0..1, stage text, eta seconds or -1)``, throttled to ~20 per second;
* ``finished(result)``, ``failed(message, details)`` or ``cancelled()``, exactly one of them.

``fn`` calls ``progress(fraction, stage="", eta=None)`` and passes ``cancel`` (``job.is_cancelled``)
to scoat_core, whose long functions raise :class:`scoat_core.progress.Cancelled` when it returns
True. A :class:`scoat_core.errors.UserError` becomes ``failed(str(exc), "")``; anything else is a
bug and becomes ``failed("Unexpected error: ...", traceback)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from scoat_core.errors import UserError
from scoat_core.progress import Cancelled

log = logging.getLogger(__name__)

#: Minimum interval between two progress signals (seconds): at most ~20 per second.
PROGRESS_INTERVAL_S = 0.05


class ProgressCallback(Protocol):
    def __call__(self, fraction: float, stage: str = "", eta: float | None = None) -> None: ...


JobFunction = Callable[[ProgressCallback, Callable[[], bool]], Any]


class Job(QObject):
    """One piece of background work; see the module docstring for its signals."""

    progress = Signal(float, str, float)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._last_emit = -1e9
        self._last_stage = ""
        self._start: Callable[[], None] | None = None
        self.outcome = ""
        """``"finished"``, ``"failed"`` or ``"cancelled"`` once the work has ended."""

    def cancel(self) -> None:
        """Ask the work to stop at its next cancel check (thread-safe)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        """Start the work now if it has not started yet (run_job starts it from the event loop,
        so that the caller can connect the signals first)."""
        start, self._start = self._start, None
        if start is not None:
            start()

    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the work has ended (its final signal is then still queued)."""
        self.start()
        return self._done.wait(timeout_s)

    # -- called in the worker thread -------------------------------------------------------
    def report(self, fraction: float, stage: str = "", eta: float | None = None) -> None:
        """Progress callback handed to the work: emits at most every PROGRESS_INTERVAL_S, and
        at once when the stage text changes."""
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_emit < PROGRESS_INTERVAL_S:
            return
        self._last_emit, self._last_stage = now, stage
        fraction = min(max(float(fraction), 0.0), 1.0)
        with contextlib.suppress(RuntimeError):
            self.progress.emit(fraction, stage, -1.0 if eta is None or eta < 0 else float(eta))

    def _run(self, fn: JobFunction) -> None:
        try:
            result = fn(self.report, self.is_cancelled)
        except Cancelled:
            self._end("cancelled")
        except UserError as exc:
            self._end("failed", str(exc), "")
        except Exception as exc:
            log.exception("background job failed")
            self._end("failed", f"Unexpected error: {type(exc).__name__}: {exc}",
                      traceback.format_exc())
        else:
            if self.is_cancelled():  # cancelled after its last check: the user asked to drop it
                self._end("cancelled")
            else:
                self._end("finished", result)

    def _end(self, outcome: str, *args: Any) -> None:
        self.outcome = outcome
        self._done.set()
        with contextlib.suppress(RuntimeError):  # the Job's parent was deleted meanwhile
            getattr(self, outcome).emit(*args)


class _Runnable(QRunnable):
    def __init__(self, job: Job, fn: JobFunction) -> None:
        super().__init__()
        self.job, self.fn = job, fn
        self.setAutoDelete(True)

    def run(self) -> None:
        self.job._run(self.fn)


_RUNNING: set[Job] = set()
"""Python references to running jobs so that a caller dropping its Job does not delete it."""


def run_job(fn: JobFunction, parent: QObject | None = None,
            pool: QThreadPool | None = None) -> Job:
    """Queue ``fn(progress, cancel)`` for a worker thread and return its :class:`Job`.

    The work starts when control returns to the event loop (or at ``job.start()``), so signals
    connected right after this call see every emission.
    """
    job = Job(parent)
    _RUNNING.add(job)
    ref = weakref.ref(job)  # a strong reference here would keep every Job alive forever

    def forget(*_: object) -> None:
        if (done := ref()) is not None:
            _RUNNING.discard(done)

    for signal in (job.finished, job.failed, job.cancelled):
        signal.connect(forget)
    pool = pool or QThreadPool.globalInstance()
    job._start = lambda: pool.start(_Runnable(job, fn))
    QTimer.singleShot(0, job, job.start)
    return job


def eta_from(t0: float, fraction: float) -> float | None:
    """Seconds left by linear extrapolation of the time spent since ``t0``; None too early."""
    spent = time.monotonic() - t0
    if fraction < 0.03 or spent < 0.5:
        return None
    return max(0.0, spent / fraction - spent)


def limit_torch_threads() -> int:
    """Leave one core to the GUI thread: torch's CPU threads otherwise take every core and the
    event loop stutters. Returns the thread count set."""
    import torch

    n = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


#: Modules that the analysis imports on first use. Loading a C extension holds the GIL (measured:
#: up to 0.7 s for scipy.linalg / skimage.morphology on first use in a worker thread), which
#: freezes the GUI however the work is threaded: import them once at start-up instead.
ANALYSIS_MODULES = ("torch", "scoat_core.analysis.pipeline", "scoat_core.lung",
                    "scoat_core.analysis.quantify", "scoat_core.models.weights",
                    "skimage.morphology")


def preload_analysis_modules() -> None:
    """Import what analysis jobs need (call at start-up, before the window shows)."""
    import importlib

    for name in ANALYSIS_MODULES:
        importlib.import_module(name)


# -- ready-made jobs ---------------------------------------------------------------------------
def import_job(path: str | Path, parent: QObject | None = None) -> Job:
    """Scan ``path`` for exams (``find_exams(load=True)``); finished carries the Inventory."""
    from scoat_core.io.exams import find_exams

    def work(progress: ProgressCallback, cancel: Callable[[], bool]):
        t0 = time.monotonic()

        def on_file(done: int, total: int) -> None:
            frac = done / total if total else 0.0
            progress(0.9 * frac, f"Reading files ({done} of {total})", eta_from(t0, frac))

        progress(0.0, "Looking for exams")
        inventory = find_exams(path, load=True, progress=on_file, cancel=cancel)
        progress(1.0, "Done")
        return inventory

    return run_job(work, parent)


#: Part of the bar taken by each stage of ``analyze``: loading, then the stages at their
#: measured shares (``scoat_core.analysis.pipeline.STAGE_SHARES``: the network dominates).
ANALYSIS_STAGES: dict[str, tuple[float, float, str]] = {
    "model": (0.0, 0.03, "Loading the model"),
    "lung mask": (0.03, 0.25, "Segmenting the lungs"),
    "opacity": (0.25, 0.98, "Finding opacities (network)"),
    "volumetry": (0.98, 1.0, "Measuring volumes"),
    "done": (1.0, 1.0, "Done"),
}


def analysis_progress(progress: ProgressCallback) -> Callable[[str, float, float | None], None]:
    """``analyze``'s ``progress(stage, fraction, seconds_left)`` as one bar for ``progress``;
    the time left is the analysis' own (measured stage rates, not the bar's extrapolation)."""
    def on_stage(stage: str, fraction: float, seconds_left: float | None) -> None:
        lo, hi, text = ANALYSIS_STAGES.get(stage, (0.0, 1.0, stage))
        progress(lo + (hi - lo) * fraction, text, seconds_left)

    return on_stage


def analysis_job(volume, model_loader: Callable[[], Any] | None = None, device: str = "auto",
                 parent: QObject | None = None, **analyze_kwargs: Any) -> Job:
    """Analyse one exam (:func:`scoat_core.analysis.pipeline.analyze`); finished carries the
    AnalysisResult.

    ``model_loader()`` returns a LoadedModel (called in the worker: loading takes time); None
    loads the shipped model.
    """
    from scoat_core.analysis.pipeline import analyze, load_model

    def work(progress: ProgressCallback, cancel: Callable[[], bool]):
        limit_torch_threads()
        on_stage = analysis_progress(progress)
        on_stage("model", 0.0, None)
        model = (model_loader or load_model)()
        if cancel():
            raise Cancelled("cancelled after loading the model")
        return analyze(volume, model, device=device, progress=on_stage, cancel=cancel,
                       **analyze_kwargs)

    return run_job(work, parent)


# -- widget ------------------------------------------------------------------------------------
def format_eta(seconds: float) -> str:
    """'about 35 s left', 'about 3 min left'; '' when unknown (negative)."""
    if seconds < 0:
        return ""
    if seconds < 60:
        shown = round(seconds / 5) * 5 if seconds > 10 else max(1, round(seconds))
        return f"about {shown} s left"
    minutes = seconds / 60
    if minutes < 90:
        return f"about {round(minutes)} min left"
    return f"about {minutes / 60:.1f} h left"


class ProgressPanel(QWidget):
    """Title, stage text, progress bar, ETA and a Cancel button bound to a :class:`Job`.

    Shows itself when bound and hides when the job ends.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold")
        self.stage = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p %")
        self.bar.setMinimumWidth(200)
        self.eta = QLabel()
        self.eta.setMinimumWidth(110)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for widget in (self.title, self.stage):
            layout.addWidget(widget)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.eta)
        layout.addWidget(self.cancel_button)
        self.job: Job | None = None
        self.hide()

    def bind(self, job: Job, title: str = "") -> None:
        """Follow ``job`` (replacing any previous one)."""
        if self.job is not None:
            self._disconnect(self.job)
        self.job = job
        self.title.setText(title)
        self.title.setVisible(bool(title))
        self.stage.setText("Starting…")
        self.bar.setValue(0)
        self.eta.setText("")
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        job.progress.connect(self._on_progress)
        for signal in (job.finished, job.failed, job.cancelled):
            signal.connect(self._on_end)
        self.show()

    def _disconnect(self, job: Job) -> None:
        for signal, slot in ((job.progress, self._on_progress), (job.finished, self._on_end),
                             (job.failed, self._on_end), (job.cancelled, self._on_end)):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)

    def _on_progress(self, fraction: float, stage: str, eta: float) -> None:
        self.bar.setValue(round(fraction * 1000))
        if stage:
            self.stage.setText(stage)
        self.eta.setText(format_eta(eta))

    def _on_end(self, *_: object) -> None:
        if self.job is not None:
            self._disconnect(self.job)
        self.job = None
        self.hide()

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
