"""The case-conference PDF through the user's path (issue 15): File › Export PDF report… on an
analysed phantom patient of four exams, in a window that never showed the Timeline tab. Key
images at levels matched through the stored registrations, one change-map page per interval,
the plot whole, progress and cancel."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from tests.app.patients import phantom_patients
from tests.app.test_main_window import wait_idle

PATIENT = "PHANTOM-0003"
N_EXAMS = 4
HAS_POPPLER = shutil.which("pdftotext") is not None


@pytest.fixture(scope="module")
def patient_dir(tmp_path_factory) -> tuple[Path, dict[str, list]]:
    root = tmp_path_factory.mktemp("four-exams")
    return root, phantom_patients(root, seeds=(3,), n_exams=N_EXAMS)


@pytest.fixture
def window(analysed_window, patient_dir):
    """The window on the analysed patient (truth masks), the Viewer tab current: the Timeline
    tab is never shown."""
    window = analysed_window(patient_dir, PATIENT)
    assert window.tabs.currentWidget() is not window.timeline
    return window


def pdf_action(window) -> QAction:
    (found,) = [a for menu in window.menuBar().actions() for a in menu.menu().actions()
                if a.text() == "Export &PDF report…"]
    return found


def answer_dialogs(monkeypatch, path: Path) -> None:
    import app.main_window as main_window

    monkeypatch.setattr(main_window.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    monkeypatch.setattr(main_window.QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.No))


def capture_write(monkeypatch) -> dict:
    """What the window hands to write_pdf (the report data, the plot image, the pages)."""
    import app.export.pdf as pdf

    seen: dict = {}
    original = pdf.write_pdf

    def spy(data, path, plot_image=None):
        seen.update(data=data, plot=plot_image)
        seen["pages"] = original(data, path, plot_image)
        return seen["pages"]

    monkeypatch.setattr(pdf, "write_pdf", spy)
    return seen


def _pages_text(path: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                         text=True, check=True).stdout
    return out.split("\f")[:-1]


def test_report_from_the_menu_matches_levels_and_maps_each_interval(qtbot, window, tmp_path,
                                                                   monkeypatch):
    from scoat_core.followup.comparison import PointMap, slice_point, slice_through

    pdf = tmp_path / "conference.pdf"
    answer_dialogs(monkeypatch, pdf)
    seen = capture_write(monkeypatch)
    stages: list[tuple[float, str]] = []
    pdf_action(window).trigger()
    qtbot.waitUntil(lambda: window.job is not None, timeout=10000)
    window.job.progress.connect(lambda f, stage, _eta: stages.append((f, stage)))
    wait_idle(qtbot, window, 120000)
    assert not window.errors, window.errors
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert window.tabs.currentWidget() is not window.timeline  # never shown, even now
    # progress went through reading, registering and the images, never past 1
    assert stages and max(f for f, _ in stages) <= 1.0
    names = {s for _, s in stages}
    assert "Registering to the first exam" in names
    assert any(s.startswith("Change map") for s in names)

    data = seen["data"]
    assert len(data.exams) == N_EXAMS and len(data.intervals) == N_EXAMS - 1
    # the exams' levels are the baseline levels mapped through the stored registrations
    rows = [(e, r) for e, r in window.store.analyses_for_patient(window.browser.current_patient())
            if r]
    base_exam, base_row = rows[0]
    base_volume = window.store.load_volume(base_exam.selected)
    base_levels = [i.index for i in data.exams[0].levels]
    assert len(base_levels) == 3 and len(set(base_levels)) == 3
    moved = []
    for (exam, row), report in zip(rows[1:], data.exams[1:], strict=True):
        reg = window.store.registration(base_row.id, row.id)
        assert reg is not None  # stored: the Compare tab reuses it
        volume = window.store.load_volume(exam.selected)
        mapped = [slice_through(volume, "axial", PointMap(reg).to_exam(
            slice_point(base_volume, "axial", z))) for z in base_levels]
        shown = [i.index for i in report.levels]
        assert [i.baseline_index for i in report.levels] == base_levels
        assert np.abs(np.array(shown) - mapped).max() <= 1, (shown, mapped)
        assert report.level_note == ""
        moved.append(shown != base_levels)
    assert any(moved)  # the patient lay elsewhere: the same index would not be the same level
    # every interval has a change map, on its own page with the legend and volumes in mL
    assert all(c.available and len(c.images) == 3 for c in data.intervals)
    pages = seen["pages"]
    assert len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes())) == pages
    if HAS_POPPLER:
        texts = _pages_text(pdf)
        assert len(texts) == pages
        assert "Key images at matched levels" in texts[1]
        for change in data.intervals:
            title = f"Change {change.first_date.isoformat()} (day"
            (page,) = [t for t in texts if title in t and
                       f"→ {change.second_date.isoformat()}" in t]
            for word in ("new", "resolved", "persistent", "mL", "lung Dice"):
                assert word in page
        assert pages == 1 + 1 + 1 + len(data.intervals)  # summary, key, coronal, changes
    # the plot was made for the page: the text width and 95 mm high at 300 dpi
    from app.export.pdf import PLOT_SIZE_MM

    plot = seen["plot"]
    assert plot.width() == pytest.approx(PLOT_SIZE_MM[0] / 25.4 * 300, abs=2)
    assert plot.height() == pytest.approx(PLOT_SIZE_MM[1] / 25.4 * 300, abs=2)


def test_report_job_can_be_cancelled(qtbot, window, tmp_path, monkeypatch):
    pdf = tmp_path / "cancelled.pdf"
    answer_dialogs(monkeypatch, pdf)
    pdf_action(window).trigger()
    qtbot.waitUntil(lambda: window.job is not None, timeout=10000)
    window.cancel_jobs()
    wait_idle(qtbot, window, 60000)
    assert not pdf.exists()
    assert not window.errors, window.errors
