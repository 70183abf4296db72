"""The main window's menu and toolbar actions as a user triggers them (issue 15): every export
writes its file, and no action lets ``triggered(checked)`` into a slot's optional parameter."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QToolBar

from tests.app.patients import click_tab, phantom_patients
from tests.app.test_main_window import wait_idle

PATIENT = "PHANTOM-0003"


@pytest.fixture(scope="module")
def patient_dir(tmp_path_factory) -> tuple[Path, dict[str, list]]:
    root = tmp_path_factory.mktemp("one-patient")
    return root, phantom_patients(root, seeds=(3,))


@pytest.fixture
def window(analysed_window, patient_dir):
    """The window on an analysed patient whose first exam is open in the viewer."""
    return analysed_window(patient_dir, PATIENT, 0)


def menu_actions(window) -> list[QAction]:
    """Every action of the menu bar's menus, in menu order."""
    return [a for menu in window.menuBar().actions() for a in menu.menu().actions()
            if not a.isSeparator()]


def action(window, text: str) -> QAction:
    (found,) = [a for a in menu_actions(window) if a.text() == text]
    return found


def save_to(monkeypatch, path: Path) -> list[str]:
    """Every save dialog answers ``path``; returns the titles of the dialogs asked."""
    import app.main_window as main_window
    import app.views.metrics_table as metrics_table

    asked: list[str] = []

    def answer(_parent, title, *_args, **_kwargs):
        asked.append(title)
        return str(path), ""

    for module in (main_window, metrics_table):
        monkeypatch.setattr(module.QFileDialog, "getSaveFileName", staticmethod(answer))
    return asked


def test_export_actions_write_their_files(qtbot, window, tmp_path, monkeypatch):
    """File › Export PDF report… (also the toolbar button and Ctrl+P: the same action) failed
    with "expected str, bytes or os.PathLike object, not bool"."""
    import app.main_window as main_window

    monkeypatch.setattr(main_window.QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    pdf_action = action(window, "Export &PDF report…")
    toolbar = window.findChild(QToolBar, "main-toolbar")
    window.activateWindow()
    qtbot.waitActive(window)
    with qtbot.captureExceptions() as exceptions:
        for way in ("menu", "toolbar", "Ctrl+P"):
            pdf = tmp_path / f"report-{way}.pdf"
            asked = save_to(monkeypatch, pdf)
            if way == "menu":
                pdf_action.trigger()
            elif way == "toolbar":
                qtbot.mouseClick(toolbar.widgetForAction(pdf_action), Qt.MouseButton.LeftButton)
            else:
                qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
            wait_idle(qtbot, window)
            assert asked == ["Export PDF report"], way
            assert pdf.read_bytes()[:4] == b"%PDF", way
        for tab in ("Viewer", "Compare", "Timeline"):
            click_tab(qtbot, window, tab)
            wait_idle(qtbot, window)
            png = tmp_path / f"{tab}.png"
            save_to(monkeypatch, png)
            action(window, "&Export current view as PNG…").trigger()
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", tab
        csv = tmp_path / "timeline.csv"
        save_to(monkeypatch, csv)
        qtbot.mouseClick(window.table.csv_button, Qt.MouseButton.LeftButton)
        assert csv.read_text().count("\n") >= 3  # header and the two exams
    assert not exceptions, exceptions
    assert not window.errors, window.errors


def test_every_menu_action_runs_without_an_exception(qtbot, window, monkeypatch, patient_dir):
    """Each action of every menu triggered in turn (its dialogs answered "cancel"): no
    exception and no error that is a bug (a message to the user, like "Select an exam first",
    is fine). Quit last."""
    import app.dialogs.about as about
    import app.dialogs.preferences as preferences
    import app.main_window as main_window
    import scoat_core.phantom.demo as demo

    cancel_file = staticmethod(lambda *a, **k: ("", ""))
    for name in ("getSaveFileName", "getOpenFileName"):
        monkeypatch.setattr(main_window.QFileDialog, name, cancel_file)
    monkeypatch.setattr(main_window.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: ""))
    for name in ("question", "information", "about", "warning", "critical"):
        monkeypatch.setattr(main_window.QMessageBox, name,
                            staticmethod(lambda *a, **k: QMessageBox.StandardButton.No))
    monkeypatch.setattr(preferences.PreferencesDialog, "exec", lambda self: 0)
    monkeypatch.setattr(about.AboutDialog, "exec", lambda self: 0)
    root, _ = patient_dir
    monkeypatch.setattr(demo, "default_demo_dir", lambda: root / "patient-3")  # already there
    actions = menu_actions(window)
    texts = [a.text() for a in actions]
    assert {"Export &PDF report…", "&Export current view as PNG…", "&Preferences…",
            "&About SCOAT Follow-up", "Open &demo patient", "&Quit"} <= set(texts)
    quit_action = action(window, "&Quit")
    with qtbot.captureExceptions() as exceptions:
        for act in actions:
            if act is not quit_action:
                act.trigger()
                wait_idle(qtbot, window, 120000)
        bugs = [e for e in window.errors if "Unexpected" in e or "Could not show" in e]
        assert not bugs, bugs
        quit_action.trigger()
    assert not exceptions, exceptions
    assert not window.isVisible()
