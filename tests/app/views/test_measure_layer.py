"""The axial pane's ruler and ellipse ROI: keys, drags, values shown, selection, Delete, Esc."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from app.views.slice_view import SliceView
from scoat_core.analysis.measure import ELLIPSE, RULER, distance_mm, ellipse_stats, roi_text
from scoat_core.volume import Volume
from tests.app.mouse import click, drag
from tests.app.views.test_slice_view import pixels

SPACING = (0.8, 0.6, 2.5)  # anisotropic in-plane pixels


def volume() -> Volume:
    z, y, x = np.indices((6, 40, 48))
    return Volume((-900 + 5 * x + 2 * y + 100 * z).astype(np.int16), spacing=SPACING)


@pytest.fixture
def pane(qtbot) -> SliceView:
    view = SliceView("axial", measurable=True)
    qtbot.addWidget(view)
    view.resize(480, 420)
    view.set_volume(volume())
    view.show()
    qtbot.waitExposed(view)
    return view


def at(view: SliceView, row: float, col: float) -> QPoint:
    return view.map_from_pixel(row, col).toPoint()


def voxel(view: SliceView, pos: QPoint) -> tuple[float, float, float]:
    """The (x, y, z) voxel point the pane reads under widget point ``pos``."""
    row, col = view.map_to_pixel(QPointF(pos))
    return col, row, float(view.slice_index())


def test_ruler_drag_shows_mm_from_the_spacing(qtbot, pane):
    added = []
    pane.measures.added.connect(added.append)
    QTest.keyClick(pane, Qt.Key.Key_M)
    assert pane.measures.tool() == RULER
    start, end = at(pane, 5, 4), at(pane, 25, 34)
    drag(pane, start, end)
    (m,) = added
    assert m.kind == RULER and m.slice_index == pane.slice_index() == 3
    assert m.points == (voxel(pane, start), voxel(pane, end))
    mm = distance_mm(pane.volume(), *m.points)
    assert mm == pytest.approx(np.hypot(30 * 0.8, 20 * 0.6), abs=0.1)  # 26.8 mm, not 36 px
    assert pane.measures.shown_texts() == [f"{mm:.1f} mm"]
    assert pane.cursor_lps() is None  # drawing never moved the crosshair
    assert pane.measures.selected() is m and pane.measures.tool() == RULER  # the tool stays
    middle = pane.map_from_pixel(15, 19).toPoint()  # the line is drawn there
    image = pixels(pane.grab().toImage())
    assert image[middle.y() - 1:middle.y() + 2, middle.x() - 1:middle.x() + 2].max() > 200


def test_ellipse_shows_mean_sd_and_area(qtbot, pane):
    QTest.keyClick(pane, Qt.Key.Key_E)
    assert pane.measures.tool() == ELLIPSE
    drag(pane, at(pane, 10, 10), at(pane, 20, 30))
    (m,) = pane.measures.measurements()
    stats = ellipse_stats(pane.volume(), 3, *m.points)
    assert stats.n_pixels > 100 and stats.area_mm2 == pytest.approx(stats.n_pixels * 0.48)
    (text,) = pane.measures.shown_texts()
    assert text == roi_text(stats)
    assert text.startswith(f"mean {stats.mean:.0f} HU, SD ".replace("-", "−"))
    assert f", {stats.area_mm2:.0f} mm²\nmin −" in text


def test_measurements_show_only_on_their_slice(qtbot, pane):
    QTest.keyClick(pane, Qt.Key.Key_M)
    drag(pane, at(pane, 5, 5), at(pane, 5, 25))
    assert len(pane.measures.shown_texts()) == 1
    QTest.keyClick(pane, Qt.Key.Key_Up)
    assert pane.slice_index() == 4 and pane.measures.shown_texts() == []
    QTest.keyClick(pane, Qt.Key.Key_Down)
    assert pane.measures.shown_texts() == ["16.0 mm"]


def test_select_delete_and_escape_leave_the_crosshair_alone(qtbot, pane):
    removed = []
    pane.measures.removed.connect(removed.append)
    QTest.keyClick(pane, Qt.Key.Key_M)
    drag(pane, at(pane, 8, 5), at(pane, 8, 35))
    (m,) = pane.measures.measurements()
    start = at(pane, 30, 5)
    drag(pane, start, start + QPoint(2, 1), steps=1)  # too short: nothing drawn
    assert pane.measures.measurements() == [m]
    QTest.keyClick(pane, Qt.Key.Key_Escape)  # leaves the tool
    assert pane.measures.tool() == ""
    click(pane, at(pane, 30, 20))  # elsewhere: the crosshair, as without measurements
    assert pane.cursor_lps() is not None and pane.measures.selected() is None
    cursor = pane.cursor_lps()
    click(pane, at(pane, 8, 20))  # on the ruler: selects it, the crosshair stays
    assert pane.measures.selected() is m and pane.cursor_lps() == cursor
    QTest.keyClick(pane, Qt.Key.Key_Delete)
    assert removed == [m] and pane.measures.measurements() == []
    QTest.keyClick(pane, Qt.Key.Key_E)
    QTest.keyClick(pane, Qt.Key.Key_E)  # the same key again turns the tool off
    assert pane.measures.tool() == ""


def test_new_volume_clears_and_other_planes_have_no_tool(qtbot, pane):
    QTest.keyClick(pane, Qt.Key.Key_M)
    drag(pane, at(pane, 5, 5), at(pane, 5, 25))
    pane.set_volume(volume())
    assert pane.measures.measurements() == [] and pane.measures.shown_texts() == []
    coronal = SliceView("coronal")
    qtbot.addWidget(coronal)
    coronal.resize(300, 300)
    coronal.set_volume(volume())
    coronal.show()
    QTest.keyClick(coronal, Qt.Key.Key_M)
    assert coronal.measures.tool() == ""
    drag(coronal, QPoint(100, 100), QPoint(200, 120))
    assert coronal.measures.measurements() == [] and coronal.cursor_lps() is not None
