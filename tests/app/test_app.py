"""The desktop app starts, lists an imported file and renders a screenshot (offscreen Qt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")
def test_a_platform_plugin_that_cannot_load_gets_a_one_line_hint(tmp_path):
    """Qt aborts when its platform plugin cannot start (missing X11 libraries, no display):
    scoat-app says, in one line, what to install (or what else to check)."""
    from scoat_core.diagnostics import apt_install_command, apt_packages, missing_qt_libraries

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "xcb",
           "DISPLAY": ":97", "SCOAT_APP_DATA": str(tmp_path / "data"),
           "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "app.main", "--screenshot",
                           str(tmp_path / "x.png")], env=env, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode != 0
    hints = [line for line in done.stderr.splitlines() if line.startswith("scoat-app: ")]
    assert len(hints) == 1, done.stderr[-2000:]
    missing = missing_qt_libraries()
    if missing:
        assert hints[0].endswith(apt_install_command(apt_packages(missing)))
    else:
        assert "QT_QPA_PLATFORM=offscreen" in hints[0]
    assert "Traceback" not in done.stderr
