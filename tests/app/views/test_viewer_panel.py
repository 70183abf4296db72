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
from tests.app.mouse import hover, leave

NO_MOD = Qt.KeyboardModifier.NoModifier
SHAPE = (16, 40, 48)  # z, y, x: 40 mm along z, so the coronal pane shows too


SPACING, ORIGIN = (0.8, 0.8, 2.5), (-10.0, 20.0, -50.0)  # x, y, z (LPS mm)


def make_panel(qtbot, shape=SHAPE, layout="1x2") -> ViewerPanel:
    z, y, x = np.indices(shape)
    volume = Volume((-1300 + 40 * z + 15 * y + x).astype(np.int16), spacing=SPACING,
                    origin=ORIGIN)
    panel = ViewerPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.set_view_layout(layout)
    lung = np.ones(shape, np.uint8)
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
    assert [p.overlay_style()[0] for p in panel.panes] == ["fill", "fill", "fill"]


# ------------------------------------------------------------ issue 15: hover, lines, layouts
def test_hover_shows_hu_and_position_in_mm_and_clears_on_leave(qtbot):
    panel = make_panel(qtbot)
    texts: list[str] = []
    panel.hover_changed.connect(texts.append)
    index_before = panel.axial.slice_index()
    z = panel.axial.slice_index()
    # voxel (x 5, y 10) of the axial slice: LPS x = −10 + 5·0.8, y = 20 + 10·0.8, z = −50 + 2.5 z
    hover(panel.axial, panel.axial.map_from_pixel(10, 5).toPoint())
    hu = -1300 + 40 * z + 15 * 10 + 5
    z_mm = -50.0 + 2.5 * z
    expected = (f"HU {hu} at R 6.0 P 28.0 {'I' if z_mm < 0 else 'S'} {abs(z_mm):.1f} mm "
                f"(axial slice {z + 1})").replace("-", "−")
    assert texts[-1] == expected
    assert panel.axial.slice_index() == index_before and panel.axial.cursor_lps() is None

    # coronal: superior at the top, so display row 2 is voxel z = 16 − 1 − 2 = 13
    y = panel.coronal.slice_index()
    leave(panel.axial)
    hover(panel.coronal, panel.coronal.map_from_pixel(2, 20).toPoint())
    y_mm, z_mm = 20.0 + 0.8 * y, -50.0 + 2.5 * 13
    assert texts[-1].startswith(f"HU {-1300 + 40 * 13 + 15 * y + 20}".replace("-", "−"))
    assert f"L 6.0 P {y_mm:.1f} I {abs(z_mm):.1f} mm (coronal slice {y + 1})" in texts[-1]

    leave(panel.coronal)  # off the panes: the text clears
    assert texts[-1] == ""


def _line_y_from_mm(pane, z_mm: float) -> float:
    """Widget y of height ``z_mm`` on a coronal or sagittal pane: the image spans the volume's
    z extent (centres ± half a slice), superior at the top."""
    rect = pane.image_rect()
    nz, top = SHAPE[0], ORIGIN[2] + (SHAPE[0] - 0.5) * SPACING[2]
    return rect.top() + (top - z_mm) / (nz * SPACING[2]) * rect.height()


def test_reference_lines_follow_the_other_panes_slices(qtbot):
    panel = make_panel(qtbot, layout="1x3")
    panel.axial.setFocus()
    for key in (Qt.Key.Key_Up, Qt.Key.Key_Up, Qt.Key.Key_PageDown):
        qtbot.keyClick(panel.axial, key)
        z_mm = panel.axial.slice_position_mm()
        for pane in (panel.coronal, panel.sagittal):
            line = pane.reference_lines()["axial"]
            assert line.y1() == line.y2() == pytest.approx(_line_y_from_mm(pane, z_mm), abs=0.01)
            assert line.length() == pytest.approx(pane.image_rect().width(), abs=0.5)
    assert panel.axial.slice_index() == 0  # PageDown clamps

    wheel_target = panel.coronal.slice_index() + 4
    panel.coronal.set_slice(wheel_target)
    y_mm = panel.coronal.slice_position_mm()
    rect = panel.axial.image_rect()  # axial: anterior (y small) at the top
    expected = rect.top() + (y_mm - (ORIGIN[1] - SPACING[1] / 2)) / (SHAPE[1] * SPACING[1]) \
        * rect.height()
    assert panel.axial.reference_lines()["coronal"].y1() == pytest.approx(expected, abs=0.01)
    x_mm = ORIGIN[0] + panel.sagittal.slice_index() * SPACING[0]
    expected_x = rect.left() + (x_mm - (ORIGIN[0] - SPACING[0] / 2)) / (SHAPE[2] * SPACING[0]) \
        * rect.width()
    assert panel.axial.reference_lines()["sagittal"].x1() == pytest.approx(expected_x, abs=0.01)

    panel.set_view_layout("1x2")  # a hidden pane draws no line
    assert set(panel.axial.reference_lines()) == {"coronal"}
    assert set(panel.coronal.reference_lines()) == {"axial"}
    panel.set_view_layout("1x1")
    assert panel.axial.reference_lines() == {}


def test_layout_box_shows_the_panes_and_a_sagittal_click_moves_the_axial_slice(qtbot):
    panel = make_panel(qtbot)
    assert [p.isVisible() for p in panel.panes] == [True, True, False]
    layouts: list[str] = []
    panel.layout_changed.connect(layouts.append)
    panel.layout_box.setCurrentIndex(2)
    panel.layout_box.activated.emit(2)  # what choosing the item does
    assert layouts == ["1x3"] and panel.view_layout() == "1x3"
    assert [p.isVisible() for p in panel.panes] == [True, True, True]
    assert panel.sagittal.annotations()["left"] == "A"  # anterior on the left, as in Horos

    # sagittal display row 3 is voxel z = 16 − 1 − 3 = 12
    QTest.mouseClick(panel.sagittal, Qt.MouseButton.LeftButton, NO_MOD,
                     panel.sagittal.map_from_pixel(3, 7).toPoint())
    assert panel.axial.slice_index() == 12
    assert panel.coronal.slice_index() == 7

    panel.layout_box.activated.emit(0)
    assert [p.isVisible() for p in panel.panes] == [True, False, False]


def test_a_thin_exam_shows_neither_coronal_nor_sagittal(qtbot):
    panel = make_panel(qtbot, shape=(2, 40, 48), layout="1x3")  # 5 mm along z
    assert [p.isVisible() for p in panel.panes] == [True, False, False]
    assert panel.axial.reference_lines() == {}
    assert panel.render_image().width() == panel.axial.width()
