"""Volumetry of one patient over time: LOV and PO stacked, or one chosen curve (pyqtgraph).

The curve combo above the plot (:meth:`TimelinePlot.set_curve`) shows LOV (mL) and PO (%) as two
stacked panels with a shared x axis, or one panel with LOV, PO, ground glass (mL) or
consolidation (mL); exams whose results lack the chosen number (saved before it existed, or a CT
not in HU) have no point on that curve. The x axis is the study date or the days from the first
exam (:meth:`TimelinePlot.set_x_mode`); when an analysed exam has no study date the exams are
placed in order instead. Markers carry a tooltip (date, LOV, PO, the split, the severity score,
"n/a" on a partial exam, scanner) and a click
emits the exam's key; the trend from one exam to the next (thresholds of
:mod:`scoat_core.followup.changes`) is written, coloured, above each interval.
White background and dark text, so the same figure serves the screen and the report
(:meth:`TimelinePlot.export_image`).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, Literal

import pyqtgraph as pg
from PySide6.QtCore import QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from scoat_core.followup.table import (
    NOT_APPLICABLE,
    TREND_COLOURS,
    TimelineEntry,
    rows,
    trend_text,
)

XMode = Literal["date", "days"]

INK = "#222222"
GRID_ALPHA = 0.12
#: Curve definitions, by row key: axis label, colour, value format.
SPECS: dict[str, tuple[str, str, str]] = {
    "lov_ml": ("LOV (mL)", "#b03a2e", "{:.0f} mL"),
    "po_percent": ("PO (% of lung)", "#1f5f99", "{:.1f} %"),
    "ggo_ml": ("Ground glass (mL)", "#c27c0e", "{:.0f} mL"),
    "consolidation_ml": ("Consolidation (mL)", "#7d3c98", "{:.0f} mL"),
}
#: The curve choices: id → (combo text, the row keys of the stacked panels).
CURVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "lov_po": ("LOV and PO", ("lov_ml", "po_percent")),
    "lov_ml": ("LOV (mL)", ("lov_ml",)),
    "po_percent": ("PO (%)", ("po_percent",)),
    "ggo_ml": ("Ground glass (mL)", ("ggo_ml",)),
    "consolidation_ml": ("Consolidation (mL)", ("consolidation_ml",)),
}
DEFAULT_CURVE = "lov_po"
#: Intervals narrower than this fraction of the x range get the trend arrow only.
NARROW_INTERVAL = 0.16
EMPTY_TEXT = "No analysed exams yet"


def _timestamp(d) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


class _Panel:
    """One plot: line, markers, value labels and a highlight ring."""

    def __init__(self, plot: pg.PlotItem, key: str) -> None:
        self.plot, self.key = plot, key
        self.label, self.colour, self.fmt = SPECS[key]
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.showGrid(x=True, y=True, alpha=GRID_ALPHA)
        font = QFont()
        font.setPointSize(10)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setTextPen(pg.mkPen(INK))
            axis.setTickFont(font)
            axis.enableAutoSIPrefix(False)
        plot.getAxis("left").setWidth(72)
        plot.getAxis("left").setStyle(maxTickLevel=0)  # grid at labelled values only
        self.line = pg.PlotDataItem()
        # Markers are drawn scaled with the device pixel ratio already: fixed pens.
        self.ring = pg.ScatterPlotItem(symbol="o", size=20, pen=pg.mkPen(INK, width=2),
                                       brush=None)
        self.set_pen_scale(1.0)
        self.points = pg.ScatterPlotItem(symbol="o", size=11, pen=pg.mkPen("w", width=1.5),
                                         hoverable=True, hoverSize=15)
        self.set_key(key)
        for item in (self.line, self.ring, self.points):
            plot.addItem(item)
        self.labels: list[pg.TextItem] = []

    def set_key(self, key: str) -> None:
        """Plot the row value ``key`` (one of :data:`SPECS`): axis label, colour and format."""
        self.key = key
        self.label, self.colour, self.fmt = SPECS[key]
        self.points.setBrush(pg.mkBrush(self.colour))
        self.points.opts["hoverBrush"] = pg.mkBrush(self.colour)
        self.set_pen_scale(1.0)

    def values(self, xs: list[float], rows_: list[dict[str, Any]]) -> list[tuple[float, dict]]:
        """(x, row) of the rows that have this panel's value."""
        return [(x, r) for x, r in zip(xs, rows_, strict=True) if r.get(self.key) is not None]

    def set_pen_scale(self, scale: float) -> None:
        """Line widths × ``scale`` (for rendering at a higher resolution)."""
        self.line.setPen(pg.mkPen(self.colour, width=2.5 * scale))
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setPen(pg.mkPen(INK, width=scale))
        self.plot.setLabel("left", self.label, color=self.colour,
                           **{"font-size": "11pt", "font-weight": "bold"})  # setPen recolours it

    def clear(self) -> None:
        self.line.setData([], [])
        self.points.setData([])
        self.ring.setData([])
        for item in self.labels:
            self.plot.removeItem(item)
        self.labels = []

    def add_text(self, text: str, x: float, y: float, colour: str, anchor, size: int = 9,
                 bold: bool = False) -> pg.TextItem:
        item = pg.TextItem(text, color=colour, anchor=anchor)
        font = QFont()
        font.setPointSize(size)
        font.setBold(bold)
        item.setFont(font)
        item.setPos(x, y)
        self.plot.addItem(item)
        self.labels.append(item)
        return item

    def show(self, xs: list[float], rows_: list[dict[str, Any]], tip) -> None:
        shown = self.values(xs, rows_)
        xs = [x for x, _ in shown]
        ys = [float(r[self.key]) for _, r in shown]
        self.line.setData(xs, ys)
        self.points.setData(x=xs, y=ys, data=[r["key"] for _, r in shown], tip=tip,
                            brush=pg.mkBrush(self.colour))
        for x, y in zip(xs, ys, strict=True):
            self.add_text(self.fmt.format(y), x, y, INK, anchor=(0.5, 1.35))
        top = max([*ys, 0.0])
        high = max(top * 1.4, 10.0 if self.fmt.endswith("mL") else 1.0)
        self.plot.setYRange(-0.04 * high, high, padding=0)  # a margin so that 0 is labelled


class TimelinePlot(QWidget):
    """LOV and PO (or one chosen curve) against date or days; hover for numbers, click a marker
    to open the exam."""

    exam_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: list[TimelineEntry] = []
        self._rows: list[dict[str, Any]] = []
        self._mode: XMode = "date"
        self._highlight: int | None = None
        self._title = ""
        self._curve = DEFAULT_CURVE

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.ci.setSpacing(4)
        self.graphics.ci.setContentsMargins(8, 8, 16, 8)
        top = self.graphics.addPlot(row=0, col=0)
        bottom = self.graphics.addPlot(row=1, col=0)
        bottom.setXLink(top)
        #: The two panels; only the first is in the layout when one curve is chosen.
        self.panels = [_Panel(top, "lov_ml"), _Panel(bottom, "po_percent")]
        for panel in self.panels:
            panel.points.sigClicked.connect(self._on_points_clicked)

        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("background: white; color: #666; font-size: 13pt;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.graphics)

        self.mode_buttons = QButtonGroup(self)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("X axis:"))
        for mode, text in (("date", "Date"), ("days", "Days")):
            button = QPushButton(text)
            button.setCheckable(True)
            button.setChecked(mode == self._mode)
            button.setToolTip("Study date" if mode == "date" else "Days since the first exam")
            self.mode_buttons.addButton(button)
            button.setProperty("mode", mode)
            bar.addWidget(button)
        self.mode_buttons.buttonClicked.connect(lambda b: self.set_x_mode(b.property("mode")))
        bar.addSpacing(16)
        bar.addWidget(QLabel("Curve:"))
        self.curve_combo = QComboBox()
        self.curve_combo.setToolTip("What the plot shows over time")
        for curve, (text, _) in CURVES.items():
            self.curve_combo.addItem(text, curve)
        self.curve_combo.currentIndexChanged.connect(
            lambda i: self.set_curve(self.curve_combo.itemData(i)))
        bar.addWidget(self.curve_combo)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        self.set_curve(self._curve)

    # ------------------------------------------------------------------ public API
    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(760, 520)

    def set_entries(self, entries: list[TimelineEntry]) -> None:
        """Show these exams (unanalysed ones are skipped)."""
        self._entries = list(entries)
        self._rows = rows(self._entries)
        self._redraw()

    def set_x_mode(self, mode: XMode) -> None:
        """``"date"`` (study date) or ``"days"`` (days since the first exam)."""
        if mode not in ("date", "days"):
            raise ValueError(f"x mode must be 'date' or 'days', not {mode!r}")
        self._mode = mode
        for button in self.mode_buttons.buttons():
            button.setChecked(button.property("mode") == mode)
        self._redraw()

    def x_mode(self) -> XMode:
        return self._mode

    def set_curve(self, curve: str) -> None:
        """Show ``curve`` (a key of :data:`CURVES`): LOV and PO stacked, or one curve."""
        if curve not in CURVES:
            raise ValueError(f"curve must be one of {', '.join(CURVES)}, not {curve!r}")
        self._curve = curve
        keys = CURVES[curve][1]
        top, bottom = self.panels
        top.set_key(keys[0])
        two = len(keys) == 2
        if two:
            bottom.set_key(keys[1])
        in_layout = bottom.plot in self.graphics.ci.items
        if two and not in_layout:
            self.graphics.ci.addItem(bottom.plot, row=1, col=0)
        elif not two and in_layout:
            bottom.clear()
            self.graphics.ci.removeItem(bottom.plot)
        top.plot.getAxis("bottom").setStyle(showValues=not two)
        top.plot.getAxis("bottom").setLabel(None)
        index = self.curve_combo.findData(curve)
        if self.curve_combo.currentIndex() != index:
            self.curve_combo.setCurrentIndex(index)  # re-enters here once, then returns
            return
        self._redraw()

    def curve(self) -> str:
        return self._curve

    def visible_panels(self) -> list[_Panel]:
        """The panels the chosen curve shows, top to bottom."""
        return self.panels[:len(CURVES[self._curve][1])]

    def set_title(self, text: str) -> None:
        """The line above the plot (the patient and the exams' dates); also on an empty plot."""
        self._title = text
        self._show_title(True)
        self.empty.setText(f"{text}\n\n{EMPTY_TEXT}" if text else EMPTY_TEXT)

    def title(self) -> str:
        return self._title

    def _show_title(self, shown: bool) -> None:
        top = self.panels[0].plot
        if shown and self._title:
            top.setTitle(self._title, color=INK, size="11pt")
        else:
            top.setTitle(None)

    def highlight(self, key: int | None) -> None:
        """Ring the exam ``key`` on both panels (None: no ring)."""
        self._highlight = key
        xs = self.x_values()
        for panel in self.visible_panels():
            spots = [{"pos": (x, r[panel.key])} for x, r in panel.values(xs, self._rows)
                     if r["key"] == key]
            panel.ring.setData(spots)

    def x_values(self) -> list[float]:
        """The x position of each plotted exam (timestamps, days, or order)."""
        if not self._rows:
            return []
        if any(r["study_date"] is None for r in self._rows):
            return [float(i + 1) for i in range(len(self._rows))]
        if self._mode == "days":
            return [float(r["days"]) for r in self._rows]
        return [_timestamp(r["study_date"]) for r in self._rows]

    def export_image(self, dpi: float = 300.0, title: bool = True,
                     curve: str | None = None,
                     size_mm: tuple[float, float] | None = None) -> QImage:
        """The figure (without the buttons above it) rendered sharp at ``dpi``; ``title=False``
        leaves the title (the patient) out; ``curve`` renders that curve instead of the one
        shown (the one shown is restored). With ``size_mm`` (width, height) the figure is laid
        out off-screen at that physical size, so its fonts print at their point sizes and
        nothing is cut off, whether or not this plot was ever shown."""
        if size_mm is not None:
            return self._export_offscreen(dpi, title, curve or self._curve, size_mm)
        shown = self._curve
        if curve is not None and curve != shown:
            self.set_curve(curve)
            try:
                return self.export_image(dpi, title)
            finally:
                self.set_curve(shown)
        widget = self.stack.currentWidget()
        if widget.width() < 50 or widget.height() < 50:
            widget.resize(self.sizeHint())
        ratio = dpi / max(widget.logicalDpiX(), 1)
        image = QImage((QSizeF(widget.size()) * ratio).toSize(), QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(ratio)
        image.fill(QColor("white"))
        self._set_pen_scale(ratio)  # cosmetic pens do not follow the device pixel ratio
        if not title:
            self._show_title(False)
        try:
            QWidget.render(widget, image)  # QGraphicsView.render would shadow the overload
        finally:
            self._set_pen_scale(1.0)
            self._show_title(True)
        image.setDevicePixelRatio(1.0)
        dots_per_metre = round(dpi / 0.0254)
        image.setDotsPerMeterX(dots_per_metre)
        image.setDotsPerMeterY(dots_per_metre)
        return image

    def _export_offscreen(self, dpi: float, title: bool, curve: str,
                          size_mm: tuple[float, float]) -> QImage:
        """A copy of this plot (same exams, x axis and title) laid out at ``size_mm`` in a
        window that is never on screen, rendered at ``dpi``."""
        copy = TimelinePlot()
        copy.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        try:
            copy.set_x_mode(self._mode)
            copy.set_curve(curve)
            copy.set_entries(self._entries)
            copy.set_title(self._title)
            copy.show()  # laid out (layouts, resize events), never on screen
            bar = copy.layout().itemAt(0).sizeHint().height() + copy.layout().spacing()
            logical = max(copy.logicalDpiX(), 1)
            width, height = (round(v / 25.4 * logical) for v in size_mm)
            copy.resize(width, height + bar)
            copy.layout().activate()
            QApplication.sendPostedEvents()  # the pending resize and layout requests
            copy.graphics.ci.layout.activate()
            copy._redraw()  # value labels and trends placed for the final view range
            return copy.export_image(dpi, title)
        finally:
            copy.hide()
            copy.deleteLater()

    # ------------------------------------------------------------------ drawing
    def _set_pen_scale(self, scale: float) -> None:
        for panel in self.panels:
            panel.set_pen_scale(scale)

    def _redraw(self) -> None:
        for panel in self.panels:
            panel.clear()
        self.stack.setCurrentWidget(self.graphics if self._rows else self.empty)
        if not self._rows:
            return
        xs = self.x_values()
        for panel in self.visible_panels():
            panel.show(xs, self._rows, self._tip)
        self._set_x_axis(xs)
        self._draw_trends(xs)
        self.highlight(self._highlight)

    def _draw_trends(self, xs: list[float]) -> None:
        """The trend of each interval, above it; only the arrow where the interval is narrow."""
        panel = self.panels[0]
        (x_lo, x_hi), (_, y_top) = panel.plot.getViewBox().viewRange()
        for (x0, x1), row in zip(itertools.pairwise(xs), self._rows[1:], strict=True):
            colour = "#{:02x}{:02x}{:02x}".format(*TREND_COLOURS[row["trend"]])
            narrow = (x1 - x0) < NARROW_INTERVAL * (x_hi - x_lo)
            text = trend_text(row["trend"]).split()[0] if narrow else trend_text(row["trend"])
            panel.add_text(text, (x0 + x1) / 2, y_top, colour, anchor=(0.5, 0.0), size=9,
                           bold=True)

    def _set_x_axis(self, xs: list[float]) -> None:
        undated = any(r["study_date"] is None for r in self._rows)
        if undated:
            labels = [r["label"] or f"exam {i + 1}" for i, r in enumerate(self._rows)]
            title = "Exams in order (a study date is missing)"
        elif self._mode == "days":
            labels = [f"{r['days']}" for r in self._rows]
            title = "Days since first exam"
        else:
            labels = [r["study_date"].isoformat() for r in self._rows]
            title = "Study date"
        panels = self.visible_panels()
        axis = panels[-1].plot.getAxis("bottom")
        axis.setTicks([list(zip(xs, labels, strict=True)), []])
        if len(panels) > 1:
            panels[0].plot.getAxis("bottom").setTicks([[(x, "") for x in xs], []])
        axis.setLabel(title, color=INK, **{"font-size": "11pt"})
        span = xs[-1] - xs[0]
        unit = 86400.0 if self._mode == "date" and not undated else 1.0
        pad = max(span * 0.08, unit)
        self.panels[0].plot.setXRange(xs[0] - pad, xs[-1] + pad, padding=0)

    def _row(self, key: int) -> dict[str, Any] | None:
        return next((r for r in self._rows if r["key"] == key), None)

    def _tip(self, x: float, y: float, data: Any) -> str:
        row = self._row(int(data))
        if row is None:
            return ""
        when = row["study_date"].isoformat() if row["study_date"] else "no study date"
        day = f" (day {row['days']})" if row["days"] is not None else ""
        lines = [f"{row['label']}  {when}{day}".strip(), f"LOV {row['lov_ml']:.1f} mL",
                 f"PO {row['po_percent']:.1f} %"]
        if row.get("ggo_ml") is not None and row.get("consolidation_ml") is not None:
            lines.append(f"Ground glass {row['ggo_ml']:.1f} mL · "
                         f"consolidation {row['consolidation_ml']:.1f} mL")
        if row.get("severity_score") is not None:
            lines.append(f"Severity {row['severity_score']} / 30")
        elif row.get("partial"):
            lines.append(f"Severity {NOT_APPLICABLE} (the scan covers only part of the lungs)")
        if row["trend"]:
            lines.append(f"{trend_text(row['trend'])} vs previous "
                         f"({row['delta_lov_ml']:+.1f} mL, {row['delta_po_pp']:+.1f} pp)")
        if row["scanner"]:
            lines.append(row["scanner"])
        return "\n".join(lines)

    def _on_points_clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.exam_clicked.emit(int(points[0].data()))
