"""Background jobs: signals, cancel, errors, and a GUI event loop that keeps running."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from PySide6.QtCore import QTimer

from app.jobs.workers import (
    ProgressPanel,
    analysis_job,
    format_eta,
    import_job,
    preload_analysis_modules,
    run_job,
)
from scoat_core.errors import UserError
from scoat_core.progress import Cancelled


def _record(job):
    events: list[tuple] = []
    job.progress.connect(lambda f, s, e: events.append(("progress", f, s, e)))
    job.finished.connect(lambda r: events.append(("finished", r)))
    job.failed.connect(lambda m, d: events.append(("failed", m, d)))
    job.cancelled.connect(lambda: events.append(("cancelled",)))
    return events


def test_progress_in_order_then_finished_with_result(qtbot):
    worker_threads = []

    def work(progress, cancel):
        worker_threads.append(threading.get_ident())
        for i in range(1, 6):
            time.sleep(0.06)  # > the throttle interval: every step is emitted
            progress(i / 5, f"step {i}", 10.0 - i)
        return {"answer": 42}

    job = run_job(work)
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert worker_threads and worker_threads[0] != threading.get_ident()
    progress = [e for e in events if e[0] == "progress"]
    assert [e[2] for e in progress] == [f"step {i}" for i in range(1, 6)]
    assert [e[1] for e in progress] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert events[-1] == ("finished", {"answer": 42})
    assert job.outcome == "finished" and job.is_done()


def test_progress_is_throttled(qtbot):
    def work(progress, cancel):
        for i in range(20000):
            progress(i / 20000, "busy")
        return None

    job = run_job(work)
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    n = sum(e[0] == "progress" for e in events)
    assert 1 <= n < 50


def test_cancel_emits_cancelled_and_no_finished(qtbot):
    started = threading.Event()

    def work(progress, cancel):
        started.set()
        for _ in range(500):
            if cancel():
                raise Cancelled("stopped")
            time.sleep(0.01)
        return "too late"

    job = run_job(work)
    events = _record(job)
    job.start()
    assert started.wait(5)
    job.cancel()
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        pass
    qtbot.wait(50)
    assert ("cancelled",) in events
    assert not any(e[0] in ("finished", "failed") for e in events)


def test_work_ending_after_cancel_counts_as_cancelled(qtbot):
    def work(progress, cancel):
        job.cancel()  # the user cancels after the work's last check
        return 1

    job = run_job(work)
    events = _record(job)
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        pass
    assert events == [("cancelled",)]


def test_exception_becomes_failed_with_traceback(qtbot):
    def work(progress, cancel):
        raise ValueError("broken input")

    job = run_job(work)
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker:
        pass
    message, details = blocker.args
    assert message == "Unexpected error: ValueError: broken input"
    assert "Traceback" in details and "broken input" in details


def test_user_error_message_passed_as_is(qtbot):
    def work(progress, cancel):
        raise UserError("scan.nii.gz: not in Hounsfield units")

    job = run_job(work)
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["scan.nii.gz: not in Hounsfield units", ""]


def test_import_job_lists_exams_and_reports_missing_folder(qtbot, tmp_path):
    import numpy as np

    from scoat_core.io.images import write_image
    from scoat_core.volume import Volume

    write_image(Volume(np.full((3, 8, 8), -900, np.int16), spacing=(1, 1, 2)),
                tmp_path / "PAT1_20200401.nii.gz")
    job = import_job(tmp_path)
    with qtbot.waitSignal(job.finished, timeout=10000) as blocker:
        pass
    assert [p.patient_id for p in blocker.args[0].patients] == ["PAT1"]

    job = import_job(tmp_path / "missing")
    with qtbot.waitSignal(job.failed, timeout=10000) as blocker:
        pass
    assert "no such file or folder" in blocker.args[0] and blocker.args[1] == ""


def _tiny_model():
    import torch

    from scoat_core.analysis.pipeline import LoadedModel
    from scoat_core.models.registry import create_model

    torch.manual_seed(0)
    return LoadedModel(create_model("scoat_net", width=4), pixel_mm=None, input_scale=0.5,
                       info={"name": "tiny random", "width": 4, "arch": "scoat_net"})


def test_gui_event_loop_never_stalls_during_analysis(qtbot):
    """A 10 ms timer keeps firing (max gap < 100 ms) while a real analysis runs.

    Modules are preloaded as the app does at start-up: loading a C extension for the first time
    holds the GIL for up to ~0.7 s whichever thread does it. On 2 cores another busy process can
    keep the GUI thread off the CPU for a moment (320 ms seen once), so the measure is taken up
    to 3 times and the best run must pass: a stall caused by this code shows in every run.
    """
    from scoat_core.phantom import make_phantom

    preload_analysis_modules()

    ph = make_phantom(matrix=128, z_extent_mm=160, slice_spacing_mm=4, slice_thickness_mm=4)
    worst_gaps = []
    for _ in range(3):
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda ticks=ticks: ticks.append(time.perf_counter()))
        job = analysis_job(ph.ct, _tiny_model, device="cpu")
        events = _record(job)
        timer.start()
        with qtbot.waitSignal(job.finished, timeout=60000) as blocker:
            pass
        timer.stop()
        result = blocker.args[0]
        assert result.opacity.shape == ph.ct.shape and result.model["name"] == "tiny random"
        stages = [e[2] for e in events if e[0] == "progress"]
        assert stages[0] == "Loading the model" and "Finding opacities (network)" in stages
        fractions = [e[1] for e in events if e[0] == "progress"]
        assert fractions == sorted(fractions) and fractions[-1] > 0.9
        assert len(ticks) > 30  # the work lasted long enough for the measure to mean something
        worst_gaps.append(max(b - a for a, b in itertools.pairwise(ticks)))
        print(f"event loop: {len(ticks)} ticks, max gap {worst_gaps[-1] * 1000:.1f} ms")
        if worst_gaps[-1] < 0.100:
            break
    assert min(worst_gaps) < 0.100, worst_gaps


def test_progress_panel_follows_job_and_hides_at_end(qtbot):
    gate = threading.Event()

    def work(progress, cancel):
        progress(0.4, "Finding opacities (network)", 35.0)
        gate.wait(5)
        if cancel():
            raise Cancelled("by user")
        return 1

    panel = ProgressPanel()
    qtbot.addWidget(panel)
    job = run_job(work)
    panel.bind(job, "Analysing PAT1 2020-04-01")
    assert not panel.isHidden()
    qtbot.waitUntil(lambda: panel.bar.value() == 400, timeout=5000)
    assert panel.stage.text() == "Finding opacities (network)"
    assert panel.eta.text() == "about 35 s left"
    panel.resize(720, panel.sizeHint().height())
    panel.grab().save("/tmp/scoat_progress_panel.png")
    panel.cancel_button.click()
    assert job.is_cancelled() and not panel.cancel_button.isEnabled()
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        gate.set()
    assert panel.isHidden()


def test_format_eta():
    assert format_eta(-1) == ""
    assert format_eta(3.2) == "about 3 s left"
    assert format_eta(34) == "about 35 s left"
    assert format_eta(150) == "about 2 min left"
