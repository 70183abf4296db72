"""The desktop app starts, lists an imported file and renders a screenshot (offscreen Qt)."""

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
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.import_path(tmp_path)
    qtbot.waitUntil(lambda: not window.busy(), timeout=30000)
    top = window.browser.topLevelItem(0)
    assert top.text(0).startswith("PAT9")
    assert top.child(0).text(0).startswith("2020-04-20")
    assert top.child(0).text(1) == "not analysed"
    window.store.close()


def test_missing_path_is_reported_not_raised(qtbot, tmp_path):
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.import_path(tmp_path / "missing")
    qtbot.waitUntil(lambda: not window.busy(), timeout=30000)
    assert window.errors and "missing" in window.errors[0]
    window.store.close()


def test_screenshot_option_writes_png(qtbot, tmp_path):
    from PySide6.QtGui import QImage

    from app.main import main

    png = tmp_path / "shot.png"
    assert main(["--screenshot", str(png), "--size", "1300x800"]) == 0
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1300, 800)
