"""ViewerPanel: its controls show the panes' state however it changed (issue 15): a key, a
right-drag, a pane's context menu."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from app.views.viewer_panel import ViewerPanel
from scoat_core.volume import Volume

NO_MOD = Qt.KeyboardModifier.NoModifier
SHAPE = (16, 40, 48)  # z, y, x: 40 mm along z, so the coronal pane shows too


def make_panel(qtbot) -> ViewerPanel:
    z, y, x = np.indices(SHAPE)
    volume = Volume((-1300 + 40 * z + 15 * y + x).astype(np.int16), spacing=(0.8, 0.8, 2.5))
    panel = ViewerPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    lung = np.ones(SHAPE, np.uint8)
    panel.set_exam(volume, lung, (z > 4).astype(np.uint8), "2020-03-01")
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def choose_in_context_menu(pane, *path: str) -> None:
    """Right-click ``pane`` (a click without a drag opens its menu) and choose the item at
    ``path`` (a submenu's title, then its item), as the user does with the keyboard."""
    def pick() -> None:
        menu = QApplication.activePopupWidget()
        try:
            assert isinstance(menu, QMenu), "no context menu open"
            for depth, text in enumerate(path):
                (action,) = [a for a in menu.actions() if a.text().split("\t")[0] == text]
                menu.setActiveAction(action)
                if depth < len(path) - 1:
                    menu = action.menu()
                    menu.popup(QPoint(0, 0))
                    continue
                QTest.keyClick(menu, Qt.Key.Key_Return)
        finally:
            for popup in (QApplication.activePopupWidget(), menu):
                if popup is not None and popup.isVisible():
                    popup.close()

    QTimer.singleShot(100, pick)
    QTest.mouseClick(pane, Qt.MouseButton.RightButton, NO_MOD, QPoint(120, 120))


def test_window_box_follows_the_keys_and_a_right_drag(qtbot):
    panel = make_panel(qtbot)
    assert panel.preset.currentText() == "Lung (W1500 L−600)"
    qtbot.keyClick(panel.axial, Qt.Key.Key_2)
    assert panel.preset.currentText() == "Mediastinum (W400 L40)"
    assert panel.coronal.window_level() == (400.0, 40.0)

    start = QPoint(150, 150)
    QTest.mousePress(panel.axial, Qt.MouseButton.RightButton, NO_MOD, start)
    QTest.mouseMove(panel.axial, start + QPoint(60, -40))
    QTest.mouseRelease(panel.axial, Qt.MouseButton.RightButton, NO_MOD, start + QPoint(60, -40))
    width, level = panel.axial.window_level()
    assert (width, level) != (400.0, 40.0) and panel.coronal.window_level() == (width, level)
    custom = f"Custom (W{width:.0f} L{level:.0f})".replace("-", "−")
    assert panel.preset.currentText() == custom
    assert panel.preset.count() == 3  # the two presets and the window as it is

    qtbot.keyClick(panel.coronal, Qt.Key.Key_1)  # either pane
    assert panel.preset.currentText() == "Lung (W1500 L−600)" and panel.preset.count() == 2
    assert panel.axial.window_level() == (1500.0, -600.0)


def test_overlay_controls_follow_a_panes_context_menu(qtbot):
    panel = make_panel(qtbot)
    assert panel.mode.currentText() == "Fill"
    choose_in_context_menu(panel.axial, "Opacity hidden")
    assert panel.axial.overlay_style()[0] == "none"
    assert panel.mode.currentText() == "Off"
    assert panel.coronal.overlay_style()[0] == "none"

    choose_in_context_menu(panel.coronal, "Opacity contour")
    assert panel.mode.currentText() == "Contour" and panel.axial.overlay_style()[0] == "contour"
    choose_in_context_menu(panel.axial, "Lung contour")
    assert not panel.lung.isChecked() and panel.coronal.overlay_style()[2] is False
    choose_in_context_menu(panel.axial, "High opacity (HU > −200)")
    assert not panel.high.isChecked()
    choose_in_context_menu(panel.axial, "Fill opacity", "25 %")
    assert panel.alpha.value() == 25 and panel.coronal.overlay_style()[1] == 0.25

    panel.mode.setCurrentIndex(0)  # and the controls still drive the panes
    assert [p.overlay_style()[0] for p in panel.panes] == ["fill", "fill"]
