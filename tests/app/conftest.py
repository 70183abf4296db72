"""Fixtures of the GUI tests: the app's settings go to a temporary folder, never the user's."""

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
