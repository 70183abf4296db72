"""Issue 15, measurement: a ruler and an ellipse ROI drawn on the Viewer's axial pane through the
Tools menu and its keys, saved with the exam, shown again after a restart, deleted with Delete."""

from __future__ import annotations

import sqlite3

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from scoat_core.analysis.measure import ELLIPSE, RULER, distance_mm, ellipse_stats, roi_text
from tests.app.mouse import click, drag
from tests.app.patients import analysed_store, click_item, close, phantom_patients, shown_window
from tests.app.test_main_window import wait_idle

A = "PHANTOM-0003"


def menu_action(window, menu_title: str, text: str):
    """The action ``text`` of menu ``menu_title`` of the window's menu bar."""
    (menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == menu_title]
    (action,) = [a for a in menu.actions() if a.text() == text]
    return action


def open_first_exam(qtbot, window):
    click_item(qtbot, window, A, 0)
    wait_idle(qtbot, window)
    return window.viewer.axial


def rows(window) -> list[tuple]:
    with sqlite3.connect(window.store.db_path) as conn:
        return conn.execute("SELECT kind, slice_index, points FROM measurements"
                            " ORDER BY id").fetchall()


def test_ruler_and_ellipse_are_kept_with_the_exam(qtbot, app_env, tmp_path):
    from app.main_window import current_model_sha

    truths = phantom_patients(tmp_path / "src", seeds=(3,))
    analysed_store(app_env / "data", tmp_path / "src", truths, current_model_sha())
    window = shown_window(qtbot)
    pane = open_first_exam(qtbot, window)
    exam = window.exam_data["exam"]
    volume = pane.volume()
    z = pane.slice_index()

    ruler = menu_action(window, "&Tools", "&Ruler (mm)")
    window.tabs.setCurrentIndex(2)  # on the Timeline tab: choosing the tool shows the Viewer
    ruler.trigger()  # Tools › Ruler
    assert window.tabs.currentWidget() is window.viewer and ruler.isChecked()
    start, end = pane.map_from_pixel(20, 12).toPoint(), pane.map_from_pixel(40, 50).toPoint()
    drag(pane, start, end)
    (line,) = pane.measures.measurements()
    assert line.id is not None and line.kind == RULER and line.slice_index == z
    mm = distance_mm(volume, *line.points)
    assert mm > 20 and pane.measures.shown_texts() == [f"{mm:.1f} mm"]

    QTest.keyClick(pane, Qt.Key.Key_E)  # the key of Tools › Ellipse ROI
    ellipse_action = menu_action(window, "&Tools", "&Ellipse ROI (mean/SD HU, mm²)")
    assert ellipse_action.isChecked() and not ruler.isChecked()
    drag(pane, pane.map_from_pixel(44, 8).toPoint(), pane.map_from_pixel(56, 24).toPoint())
    line, roi = pane.measures.measurements()
    stats = ellipse_stats(volume, z, *roi.points)
    assert roi.kind == ELLIPSE and pane.measures.shown_texts()[1] == roi_text(stats)
    assert stats.area_mm2 == pytest.approx(stats.n_pixels * volume.spacing[0] * volume.spacing[1])
    assert [(k, s) for k, s, _ in rows(window)] == [(RULER, z), (ELLIPSE, z)]
    assert window.store.measurements(exam.id) == [line, roi]

    QTest.keyClick(pane, Qt.Key.Key_Escape)  # leaves the tool: a click is the crosshair's again
    assert not ellipse_action.isChecked() and pane.measures.tool() == ""
    click(pane, pane.map_from_pixel(55, 55).toPoint())
    assert pane.cursor_lps() is not None and len(rows(window)) == 2
    close(window)

    again = shown_window(qtbot)  # a restart: the same database, a new window
    pane = open_first_exam(qtbot, again)
    assert pane.slice_index() == z
    assert [(m.kind, m.points) for m in pane.measures.measurements()] == \
        [(RULER, line.points), (ELLIPSE, roi.points)]
    assert pane.measures.shown_texts() == [f"{mm:.1f} mm", roi_text(stats)]
    pane.step(1)
    assert pane.measures.shown_texts() == []  # only on the slice they were drawn on
    pane.step(-1)
    middle = (QPointF(pane.map_from_pixel(20, 12)) + QPointF(pane.map_from_pixel(40, 50))) / 2
    click(pane, middle.toPoint())  # selects the ruler
    delete = menu_action(again, "&Tools", "&Delete selected measurement")
    assert pane.measures.selected().id == line.id and delete.isEnabled()
    QTest.keyClick(pane, Qt.Key.Key_Delete)
    assert [m.id for m in pane.measures.measurements()] == [roi.id]
    assert [(k, s) for k, s, _ in rows(again)] == [(ELLIPSE, z)] and not delete.isEnabled()
    click_item(qtbot, again, A, 1)  # another exam of the patient has none
    wait_idle(qtbot, again)
    assert again.viewer.axial.measures.measurements() == []
    assert not again.errors, again.errors
    close(again)
