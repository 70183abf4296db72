"""The desktop app starts, lists an imported folder and renders a screenshot (offscreen Qt)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from app.main_window import MainWindow
from scoat_core.io.images import write_image
from scoat_core.volume import Volume


def test_window_lists_imported_exams(qtbot, tmp_path):
    arr = np.full((4, 12, 12), -900, np.int16)
    write_image(Volume(arr, spacing=(0.8, 0.8, 1.5)), tmp_path / "PAT9_20200420.nii.gz")
    window = MainWindow()
    qtbot.addWidget(window)
    window.open_path(tmp_path)
    top = window.tree.topLevelItem(0)
    assert top.text(0) == "PAT9"
    assert top.child(0).text(0).startswith("2020-04-20")
    assert top.child(0).child(0).text(1) == "4×12×12"


def test_bad_folder_shows_message_not_traceback(qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(
        "app.main_window.QMessageBox.warning", lambda *a: shown.append(a[2])
    )
    window = MainWindow()
    qtbot.addWidget(window)
    window.open_path(tmp_path / "missing")
    assert shown and "no such file or folder" in shown[0]


def test_screenshot_option_writes_png(qtbot, tmp_path):
    from PySide6.QtGui import QImage

    from app.main import main

    png = tmp_path / "shot.png"
    assert main(["--screenshot", str(png)]) == 0
    image = QImage(str(png))
    assert image.width() >= 800 and image.height() >= 500
