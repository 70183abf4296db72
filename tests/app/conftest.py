"""Fixtures of the GUI tests: the app's settings go to a temporary folder, never the user's;
``app_env`` (a test's own data and settings folders) and ``analysed_window`` (the main window on
analysed phantom patients)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_qsettings(private_app_data: Path) -> None:
    try:
        from PySide6.QtCore import QSettings
    except ImportError:  # the GUI tests skip themselves without PySide6
        return
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(private_app_data / "ini"))


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """The app's data (``SCOAT_APP_DATA``: ``tmp_path/data``, the real path) and settings
    (INI files in ``tmp_path/settings``) in temporary folders; yields ``tmp_path``."""
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("SCOAT_APP_DATA", str(tmp_path / "data"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "settings"))
    yield tmp_path
    QSettings.setDefaultFormat(QSettings.Format.NativeFormat)


@pytest.fixture
def analysed_window(qtbot, app_env):
    """``analysed_window((root, truths), patient_id, exam_index=None, skip=...)``: the app's
    database (in ``app_env``) with the phantom patients under ``root`` imported and analysed
    (truth masks, see ``patients.analysed_store``; not the ``(patient ID, exam index)`` pairs in
    ``skip``), then the main window shown (1400×900) with the patient's row (or its
    ``exam_index``-th exam's) clicked and loaded. Every window it opened is closed, with its
    store, at teardown."""
    from app.main_window import current_model_sha
    from tests.app.patients import analysed_store, click_item, close, shown_window
    from tests.app.test_main_window import wait_idle

    opened = []

    def open_window(patients: tuple[Path, dict[str, list]], patient_id: str,
                    exam_index: int | None = None, skip=frozenset()):
        root, truths = patients
        analysed_store(app_env / "data", root, truths, current_model_sha(), skip=skip)
        window = shown_window(qtbot)
        opened.append(window)
        click_item(qtbot, window, patient_id, exam_index)
        wait_idle(qtbot, window)
        return window

    yield open_window
    for window in opened:
        close(window)
