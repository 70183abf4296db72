"""Timeline plot and metrics table widgets (offscreen Qt, pytest-qt)."""

from __future__ import annotations

import csv
from datetime import date

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")
pytest.importorskip("pyqtgraph", reason="pyqtgraph (the gui extra) is not installed")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from app.views.metrics_table import MISSING, MetricsTable
from app.views.timeline_plot import EMPTY_TEXT, TimelinePlot
from scoat_core.followup.table import COLUMNS, TimelineEntry, headers


def _m(lov: float, po: float) -> dict:
    """Metrics with the split (85 % ground glass), per lung and per zone, as saved now."""
    zones = {f"{lung}_{zone}": {"lung": lung, "zone": zone, "lung_ml": 650.0,
                                "lov_ml": lov / 6, "po_percent": po + k, "severity": 2}
             for k, (lung, zone) in enumerate((s, z) for s in ("right", "left")
                                              for z in ("upper", "middle", "lower"))}
    return {"lung_volume_ml": 4000.0, "lov_ml": lov, "po_percent": po, "pho_percent": 1.0,
            "severity_score": 7, "ggo_ml": lov * 0.85, "consolidation_ml": lov * 0.15,
            "mean_opacity_hu": -640.0,
            "right": {"lung_volume_ml": 2100.0, "lov_ml": lov * 0.4, "po_percent": po * 0.8},
            "left": {"lung_volume_ml": 1900.0, "lov_ml": lov * 0.6, "po_percent": po * 1.2},
            "zones": zones}


def _old(lov: float, po: float) -> dict:
    """Metrics saved before the split, per-lung and zone keys existed."""
    return {"lung_volume_ml": 4000.0, "lov_ml": lov, "po_percent": po, "pho_percent": 1.0,
            "severity_score": 7}


def _col(key: str) -> int:
    return [c.key for c in COLUMNS].index(key)


ENTRIES = [
    TimelineEntry(11, date(2020, 4, 15), "Admission", "GE Revolution", _m(182.4, 4.3)),
    TimelineEntry(12, date(2020, 4, 20), "D5", "GE Revolution", _m(612.9, 15.5)),
    TimelineEntry(13, date(2020, 4, 27), "D12", "Siemens Definition", _m(640.2, 15.9)),
    TimelineEntry(99, date(2020, 5, 1), "pending", "GE Revolution", None),
    TimelineEntry(14, date(2020, 5, 20), "D35", "GE Revolution", _m(215.7, 4.9)),
]


@pytest.fixture
def plot(qtbot):
    widget = TimelinePlot()
    qtbot.addWidget(widget)
    widget.resize(760, 520)
    widget.set_entries(ENTRIES)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_plot_has_one_point_per_analysed_exam(plot):
    for panel in plot.panels:
        keys = [int(p.data()) for p in panel.points.points()]
        assert keys == [11, 12, 13, 14]
    lov = [p.pos().y() for p in plot.panels[0].points.points()]
    assert lov == pytest.approx([182.4, 612.9, 640.2, 215.7])
    po = [p.pos().y() for p in plot.panels[1].points.points()]
    assert po == pytest.approx([4.3, 15.5, 15.9, 4.9])
    assert plot.stack.currentWidget() is plot.graphics


def test_click_on_point_emits_its_key(plot, qtbot):
    panel = plot.panels[1]
    point = panel.points.points()[2]
    scene_pos = panel.plot.getViewBox().mapViewToScene(point.pos())
    view_pos = plot.graphics.mapFromScene(scene_pos)
    with qtbot.waitSignal(plot.exam_clicked, timeout=1000) as blocker:
        qtbot.mouseClick(plot.graphics.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)
    assert blocker.args == [13]


def test_scatter_signal_emits_key(plot, qtbot):
    scatter = plot.panels[0].points
    with qtbot.waitSignal(plot.exam_clicked, timeout=1000) as blocker:
        scatter.sigClicked.emit(scatter, [scatter.points()[3]], None)
    assert blocker.args == [14]


def test_x_mode_switch(plot):
    assert plot.x_mode() == "date"
    dates = plot.x_values()
    assert dates[1] - dates[0] == pytest.approx(5 * 86400)
    ticks = plot.panels[1].plot.getAxis("bottom")._tickLevels[0]
    assert [t for _, t in ticks] == ["2020-04-15", "2020-04-20", "2020-04-27", "2020-05-20"]
    plot.set_x_mode("days")
    assert plot.x_values() == [0.0, 5.0, 12.0, 35.0]
    assert [p.pos().x() for p in plot.panels[0].points.points()] == [0.0, 5.0, 12.0, 35.0]
    assert plot.panels[1].plot.getAxis("bottom").labelText == "Days since first exam"
    with pytest.raises(ValueError):
        plot.set_x_mode("weeks")


def test_trend_labels_tooltip_and_highlight(plot):
    texts = [item.textItem.toPlainText() for item in plot.panels[0].labels]
    assert "→ stable" in texts and "↓ absorption" in texts
    tip = plot._tip(0, 0, 13)
    assert "2020-04-27" in tip and "LOV 640.2 mL" in tip and "PO 15.9 %" in tip
    assert "Siemens Definition" in tip
    plot.highlight(12)
    rings = plot.panels[0].ring.points()
    assert len(rings) == 1 and rings[0].pos().y() == pytest.approx(612.9)
    plot.highlight(None)
    assert len(plot.panels[0].ring.points()) == 0


def test_empty_plot_shows_message(qtbot):
    widget = TimelinePlot()
    qtbot.addWidget(widget)
    widget.set_entries([ENTRIES[3]])
    assert widget.stack.currentWidget() is widget.empty
    assert widget.empty.text() == EMPTY_TEXT
    assert widget.panels[0].points.points().size == 0


def test_undated_exam_placed_in_order(qtbot):
    widget = TimelinePlot()
    qtbot.addWidget(widget)
    widget.set_entries([TimelineEntry(1, None, "first", "", _m(10, 1)), ENTRIES[0]])
    assert widget.x_values() == [1.0, 2.0]


def test_export_image_is_rendered_at_dpi(plot):
    image = plot.export_image(dpi=192)
    assert image.width() == pytest.approx(2 * plot.stack.width(), abs=2)
    assert image.dotsPerMeterX() == round(192 / 0.0254)
    colours = {image.pixelColor(x, image.height() // 3).name()
               for x in range(0, image.width(), 7)}
    assert len(colours) > 3  # not a blank image


@pytest.fixture
def table(qtbot):
    widget = MetricsTable()
    qtbot.addWidget(widget)
    widget.set_entries(ENTRIES)
    return widget


def test_table_rows_and_cells(table):
    model = table.model
    assert model.rowCount() == 4
    assert model.headerData(5, Qt.Orientation.Horizontal).replace("\n", " ") == headers()[5]
    assert "(mL)" in model.headerData(5, Qt.Orientation.Horizontal)
    delta = _col("delta_lov_ml")
    assert model.data(model.index(0, delta)) == MISSING  # no change on the first exam
    assert model.data(model.index(2, 5)) == "640.2"
    assert model.data(model.index(3, delta)) == "-424.5"
    green = model.data(model.index(3, delta), Qt.ItemDataRole.ForegroundRole).color()
    red = model.data(model.index(1, delta), Qt.ItemDataRole.ForegroundRole).color()
    assert green.green() > green.red() and red.red() > red.green()


def test_copy_puts_text_with_units_on_clipboard(table, qtbot):
    QGuiApplication.clipboard().clear()
    table.copy_button.click()
    lines = QGuiApplication.clipboard().text().splitlines()
    assert lines[0].split("\t") == headers()
    assert "LOV (mL)" in lines[0] and "PO (%)" in lines[0]
    assert lines[3].startswith("2020-04-27\t12\tD12\t")
    assert "\t640.2\t15.9\t" in lines[3] and "+27.3" in lines[3]
    QGuiApplication.clipboard().clear()
    table.copy_action.trigger()  # what Ctrl+C does
    assert QGuiApplication.clipboard().text().count("\n") == 5


def test_csv_round_trip(table, tmp_path):
    path = table.export_csv(tmp_path / "t.csv")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert [r["Exam"] for r in back] == ["Admission", "D5", "D12", "D35"]
    for row, text in zip(table.rows(), back, strict=True):
        assert float(text["LOV (mL)"]) == pytest.approx(row["lov_ml"], abs=0.05)
        assert float(text["PO (%)"]) == pytest.approx(row["po_percent"], abs=0.05)


def test_double_click_emits_key(table, qtbot):
    table.show()
    qtbot.waitExposed(table)
    rect = table.view.visualRect(table.model.index(2, 2))
    with qtbot.waitSignal(table.exam_activated, timeout=1000) as blocker:
        # Qt 6's QTest double click needs the press before it, as a real one has.
        qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [13]
    table.select_key(14)
    assert table.view.selectionModel().selectedRows()[0].row() == 3


def test_empty_table_disables_actions(qtbot):
    widget = MetricsTable()
    qtbot.addWidget(widget)
    widget.set_entries([ENTRIES[3]])
    assert widget.model.rowCount() == 0
    assert not widget.copy_button.isEnabled() and not widget.copy_action.isEnabled()


def test_points_inside_the_view(plot):
    vb = plot.panels[0].plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    for p in plot.panels[0].points.points():
        assert x0 < p.pos().x() < x1 and y0 < p.pos().y() < y1


def _header_text(model, key: str) -> str:
    return model.headerData(_col(key), Qt.Orientation.Horizontal).replace("\n", " ")


def test_table_shows_split_per_lung_mean_hu_and_zone_tooltip(table):
    model = table.model
    assert _header_text(model, "ggo_ml") == "Ground glass (mL)"
    assert _header_text(model, "consolidation_ml") == "Consolidation (mL)"
    assert _header_text(model, "right_lov_ml") == "Right LOV (mL)"
    assert _header_text(model, "left_po_percent") == "Left PO (%)"
    assert _header_text(model, "mean_opacity_hu") == "Opacity mean (HU)"
    assert model.data(model.index(2, _col("ggo_ml"))) == "544.2"  # 640.2 × 0.85
    assert model.data(model.index(2, _col("consolidation_ml"))) == "96.0"
    assert model.data(model.index(2, _col("left_lov_ml"))) == "384.1"
    assert model.data(model.index(2, _col("right_po_percent"))) == "12.7"
    assert model.data(model.index(2, _col("mean_opacity_hu"))) == "-640"
    tip = model.data(model.index(2, _col("severity_score")), Qt.ItemDataRole.ToolTipRole)
    assert "Right upper: 15.9 % (score 2)" in tip and "Left lower: 20.9 % (score 2)" in tip
    assert "−200 HU" in model.headerData(_col("consolidation_ml"), Qt.Orientation.Horizontal,
                                         Qt.ItemDataRole.ToolTipRole)
    text = table.text().splitlines()
    cells = dict(zip(text[0].split("\t"), text[3].split("\t"), strict=True))
    assert cells["Ground glass (mL)"] == "544.2" and cells["Left LOV (mL)"] == "384.1"


def test_table_old_results_show_missing_without_crash(qtbot, tmp_path):
    widget = MetricsTable()
    qtbot.addWidget(widget)
    widget.set_entries([TimelineEntry(1, date(2020, 4, 1), "old", "", _old(100.0, 2.5)),
                        TimelineEntry(2, date(2020, 4, 9), "new", "", _m(120.0, 3.0))])
    model = widget.model
    for key in ("ggo_ml", "consolidation_ml", "mean_opacity_hu", "right_lov_ml",
                "left_po_percent"):
        assert model.data(model.index(0, _col(key))) == MISSING
        assert model.data(model.index(1, _col(key))) != MISSING
    assert model.data(model.index(0, _col("severity_score")), Qt.ItemDataRole.ToolTipRole) is None
    with widget.export_csv(tmp_path / "t.csv").open(encoding="utf-8-sig", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert back[0]["Ground glass (mL)"] == "" and back[1]["Ground glass (mL)"] == "102.0"


def _y(panel) -> list[float]:
    return [p.pos().y() for p in panel.points.points()]


def test_curve_combo_switches_the_plotted_curve(plot, qtbot):
    combo = plot.curve_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "LOV and PO", "LOV (mL)", "PO (%)", "Ground glass (mL)", "Consolidation (mL)"]
    assert plot.curve() == "lov_po" and len(plot.visible_panels()) == 2
    combo.setFocus()
    for _ in range(3):  # the keyboard: Down on the closed combo moves to the next choice
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == "Ground glass (mL)" and plot.curve() == "ggo_ml"
    top = plot.panels[0]
    assert plot.visible_panels() == [top]
    assert plot.panels[1].plot not in plot.graphics.ci.items
    assert top.plot.getAxis("left").labelText == "Ground glass (mL)"
    assert _y(top) == pytest.approx([182.4 * 0.85, 612.9 * 0.85, 640.2 * 0.85, 215.7 * 0.85])
    assert top.plot.getAxis("bottom").labelText == "Study date"
    texts = [item.textItem.toPlainText() for item in top.labels]
    assert "544 mL" in texts and "↓ absorption" in texts
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert plot.curve() == "consolidation_ml"
    assert top.plot.getAxis("left").labelText == "Consolidation (mL)"
    assert _y(top) == pytest.approx([182.4 * 0.15, 612.9 * 0.15, 640.2 * 0.15, 215.7 * 0.15])
    plot.highlight(13)
    assert top.ring.points()[0].pos().y() == pytest.approx(640.2 * 0.15)
    qtbot.keyClick(combo, Qt.Key.Key_Home)  # back to LOV and PO, both panels
    assert plot.curve() == "lov_po" and plot.panels[1].plot in plot.graphics.ci.items
    assert plot.panels[1].plot.getAxis("left").labelText == "PO (% of lung)"
    assert _y(plot.panels[0]) == pytest.approx([182.4, 612.9, 640.2, 215.7])
    assert _y(plot.panels[1]) == pytest.approx([4.3, 15.5, 15.9, 4.9])
    assert plot.panels[1].plot.getAxis("bottom").labelText == "Study date"
    with pytest.raises(ValueError):
        plot.set_curve("hu")


def test_curve_chosen_from_the_popup_with_the_mouse(plot, qtbot):
    combo = plot.curve_combo
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=1000)
    # The popup ignores a release within a double-click interval of opening, as Qt does.
    qtbot.wait(QGuiApplication.styleHints().mouseDoubleClickInterval() + 50)
    rect = view.visualRect(view.model().index(2, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: plot.curve() == "po_percent", timeout=1000)
    assert plot.panels[0].plot.getAxis("left").labelText == "PO (% of lung)"
    assert _y(plot.panels[0]) == pytest.approx([4.3, 15.5, 15.9, 4.9])


def test_curve_missing_in_old_results_skips_those_exams(qtbot):
    widget = TimelinePlot()
    qtbot.addWidget(widget)
    widget.set_entries([TimelineEntry(1, date(2020, 4, 1), "old", "", _old(100.0, 2.5)),
                        TimelineEntry(2, date(2020, 4, 9), "new", "", _m(120.0, 3.0))])
    widget.curve_combo.setCurrentIndex(widget.curve_combo.findData("consolidation_ml"))
    assert [int(p.data()) for p in widget.panels[0].points.points()] == [2]
    widget.highlight(1)
    assert len(widget.panels[0].ring.points()) == 0
    assert "Ground glass" not in widget._tip(0, 0, 1) and "Ground glass" in widget._tip(0, 0, 2)


def test_export_image_of_another_curve_restores_the_shown_one(plot):
    plot.set_curve("ggo_ml")
    image = plot.export_image(dpi=96, curve="lov_po")
    assert not image.isNull()
    assert plot.curve() == "ggo_ml" and plot.curve_combo.currentText() == "Ground glass (mL)"


def _rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                              image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)


def _lov_columns(rgb: np.ndarray) -> np.ndarray:
    """Columns holding the LOV curve's colour (#b03a2e)."""
    near = np.abs(rgb - np.array([0xB0, 0x3A, 0x2E])).sum(axis=2) < 60
    return np.flatnonzero(near.any(axis=0))


def test_export_at_page_size_is_laid_out_whether_or_not_the_plot_was_shown(qtbot, plot):
    """The report's plot was cut off (right side and dates missing) when the Timeline tab had
    never been laid out: rendered off-screen at the page size, it is whole either way, and its
    fonts print at their point sizes (the figure is laid out at the physical size)."""
    never_shown = TimelinePlot()
    qtbot.addWidget(never_shown)
    never_shown.set_entries(ENTRIES)
    never_shown.set_curve("ggo_ml")
    size_mm = (180.0, 95.0)
    images = {}
    for name, widget in (("never shown", never_shown), ("shown", plot)):
        image = widget.export_image(300, title=False, curve="lov_po", size_mm=size_mm)
        assert image.width() == pytest.approx(size_mm[0] / 25.4 * 300, abs=2), name
        assert image.height() == pytest.approx(size_mm[1] / 25.4 * 300, abs=2), name
        assert image.dotsPerMeterX() == round(300 / 0.0254)
        rgb = _rgb(image)
        cols = _lov_columns(rgb)
        w, h = image.width(), image.height()
        assert cols.max() > 0.85 * w, name  # the last exam's marker, not cut off
        assert cols.min() < 0.05 * w, name  # the axis title "LOV (mL)", at the left edge
        assert (rgb[int(0.92 * h):].sum(axis=2) < 200).any(), name  # x-axis title, at the bottom
        images[name] = cols
    # the same figure either way
    assert abs(images["never shown"].max() - images["shown"].max()) < 0.01 * 2126
    assert not never_shown.isVisible() and never_shown.curve() == "ggo_ml"
    assert plot.curve() == "lov_po" and plot.stack.width() < 1000  # the shown one untouched


def _partial(lov: float, po: float) -> dict:
    """A partial exam (the scan cuts the lungs): no severity score, none per zone."""
    m = _m(lov, po)
    for zone in m["zones"].values():
        zone["severity"] = None
    return {**m, "severity_score": None, "lungs_complete": False}


def test_table_and_plot_show_n_a_for_the_severity_of_a_partial_exam(qtbot):
    stored = {**_m(130.0, 3.2), "lungs_complete": False}  # older: saved with a score
    entries = [TimelineEntry(1, date(2020, 4, 1), "slice", "", _partial(100.0, 2.5)),
               TimelineEntry(2, date(2020, 4, 5), "older slice", "", stored),
               TimelineEntry(3, date(2020, 4, 9), "whole", "", _m(120.0, 3.0))]
    table = MetricsTable()
    qtbot.addWidget(table)
    table.set_entries(entries)
    model = table.model
    column = _col("severity_score")
    assert [model.data(model.index(i, column)) for i in range(3)] == ["n/a", "n/a", "7"]
    tip = model.data(model.index(0, column), Qt.ItemDataRole.ToolTipRole)
    assert "part of the lungs" in tip and "Right upper: 2.5 %\n" in tip and "(score" not in tip
    assert "(score 2)" in model.data(model.index(2, column), Qt.ItemDataRole.ToolTipRole)
    assert "n/a" in model.headerData(column, Qt.Orientation.Horizontal,
                                     Qt.ItemDataRole.ToolTipRole)
    assert table.text().splitlines()[1].split("\t")[column] == "n/a"
    plot = TimelinePlot()
    qtbot.addWidget(plot)
    plot.set_entries(entries)
    assert "Severity n/a" in plot._tip(0, 0, 1) and "Severity n/a" in plot._tip(0, 0, 2)
    assert "Severity 7 / 30" in plot._tip(0, 0, 3)
    assert [int(p.data()) for p in plot.panels[0].points.points()] == [1, 2, 3]


def test_consolidation_under_its_former_name_is_shown(qtbot):
    former = _m(120.0, 3.0)
    former["high_opacity_ml"] = former.pop("consolidation_ml")
    table = MetricsTable()
    qtbot.addWidget(table)
    table.set_entries([TimelineEntry(1, date(2020, 4, 1), "former", "", former)])
    assert table.model.data(table.model.index(0, _col("consolidation_ml"))) == "18.0"
    plot = TimelinePlot()
    qtbot.addWidget(plot)
    plot.set_entries([TimelineEntry(1, date(2020, 4, 1), "former", "", former)])
    plot.set_curve("consolidation_ml")
    assert _y(plot.panels[0]) == pytest.approx([18.0])
    assert "consolidation 18.0 mL" in plot._tip(0, 0, 1)
