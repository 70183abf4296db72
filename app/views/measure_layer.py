"""`MeasureLayer`: the rulers and ellipse ROIs of an axial :class:`SliceView`.

With a tool on (:meth:`MeasureLayer.set_tool`: ``M`` ruler, ``E`` ellipse), a left drag draws a
measurement on the shown slice, its value written beside it while dragging; the tool stays on
until Esc. Without a tool, a left click on a measurement (its line, outline or label) selects it
and Delete removes it; a click anywhere else is the pane's (the crosshair). Each measurement is
drawn only on the slice it was drawn on. The values come from :mod:`scoat_core.analysis.measure`
(voxel points, the volume's spacing); the layer only draws and emits what the user did.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPen

from scoat_core.analysis.measure import ELLIPSE, KINDS, RULER, Measurement, measurement_text

if TYPE_CHECKING:
    from app.views.slice_view import SliceView

# White on a dark outline: no overlay (opacity, lung, crosshair, reference lines) uses it. The
# selected one is thicker, with handles and a framed label.
_LINE = QColor(255, 255, 255)
_OUTLINE = QColor(0, 0, 0, 170)
_LABEL_BACK = QColor(0, 0, 0, 180)
_HIT_PX = 6.0  # how near (widget px) a click selects a measurement
_MIN_DRAG_PX = 4.0  # shorter drags draw nothing
_TOOL_KEYS = {Qt.Key.Key_M: RULER, Qt.Key.Key_E: ELLIPSE}
_DELETE_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


class MeasureLayer(QObject):
    """Measurements of one axial pane: tools, drawing, selection, painting (module docstring)."""

    tool_changed = Signal(str)  # "ruler", "ellipse" or "" (no tool)
    added = Signal(object)  # a Measurement just drawn (no id yet)
    removed = Signal(object)  # a Measurement the user deleted
    selection_changed = Signal(object)  # the selected Measurement, or None

    def __init__(self, view: SliceView) -> None:
        super().__init__(view)
        self._view = view
        self._items: list[Measurement] = []
        self._tool = ""
        self._start: tuple[float, float] | None = None  # (row, col) where the drag began
        self._end: tuple[float, float] | None = None
        self._start_pos = QPointF()
        self._z = 0  # the slice the drag began on
        self._selected: Measurement | None = None
        self._texts: dict[int, tuple[Measurement, str]] = {}

    # ------------------------------------------------------------------ state
    def enabled(self) -> bool:
        """Measurements are drawn on a measurable (axial) pane showing a volume."""
        return self._view.measurable and self._view.volume() is not None

    def tool(self) -> str:
        return self._tool

    def set_tool(self, kind: str) -> None:
        """Turn tool ``kind`` (``ruler``, ``ellipse``) on, ``""`` off (measurable panes only)."""
        if kind and kind not in KINDS:
            raise ValueError(f"unknown measurement tool {kind!r}; known: {KINDS}")
        kind = kind if self._view.measurable else ""
        self._start = self._end = None
        if kind == self._tool:
            return
        self._tool = kind
        if kind:
            self._view.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self._view.unsetCursor()
        self.tool_changed.emit(kind)
        self._view.update()

    def measurements(self) -> list[Measurement]:
        return list(self._items)

    def set_measurements(self, items: list[Measurement]) -> None:
        """Show ``items`` (measurements of the pane's volume), none selected."""
        self._items = list(items)
        self._texts.clear()
        self._start = self._end = None
        self.select(None)
        self._view.update()

    def clear(self) -> None:
        """The volume changed: forget its measurements (the tool stays on)."""
        self.set_measurements([])

    def replace(self, old: Measurement, new: Measurement | None) -> None:
        """``old`` becomes ``new`` (e.g. with its stored id); None removes it (no signal)."""
        for i, m in enumerate(self._items):
            if m is old:
                if new is None:
                    del self._items[i]
                else:
                    self._items[i] = new
                break
        if self._selected is old:
            self.select(new)
        self._view.update()

    def selected(self) -> Measurement | None:
        return self._selected

    def select(self, m: Measurement | None) -> None:
        if m is not self._selected:
            self._selected = m
            self.selection_changed.emit(m)
            self._view.update()

    def delete_selected(self) -> bool:
        """Remove the selected measurement (emits ``removed``); False when none is selected."""
        m = self._selected
        if m is None:
            return False
        self._items = [x for x in self._items if x is not m]
        self.select(None)
        self.removed.emit(m)
        return True

    def escape(self) -> bool:
        """Esc: stop the drag in progress, else leave the tool, else drop the selection; False
        when there was nothing to leave."""
        if self._start is not None:
            self._start = self._end = None
            self._view.update()
        elif self._tool:
            self.set_tool("")
        elif self._selected is not None:
            self.select(None)
        else:
            return False
        return True

    def wants_key(self, key: int) -> bool:
        """Whether the pane takes ``key`` before the window's shortcuts (Esc, Delete)."""
        if key == Qt.Key.Key_Escape:
            return bool(self._tool or self._start is not None or self._selected is not None)
        return key in _DELETE_KEYS and self._selected is not None

    def handle_key(self, key: int) -> bool:
        """M / E (tool on or off), Esc, Delete or Backspace; False for any other key."""
        if key in _TOOL_KEYS and self._view.measurable:
            kind = _TOOL_KEYS[key]
            self.set_tool("" if self._tool == kind else kind)
            return True
        if key == Qt.Key.Key_Escape:
            return self.escape()
        if key in _DELETE_KEYS:
            return self.delete_selected()
        return False

    # ------------------------------------------------------------------ texts
    def text(self, m: Measurement, cache: bool = True) -> str:
        """What ``m`` shows on the image (``42.3 mm``, ``mean −812 HU, SD 45, 312 mm²``...);
        kept for the layer's measurements, not for one being dragged out (``cache`` False)."""
        volume = self._view.volume()
        if volume is None:
            return ""
        if not cache:
            return measurement_text(volume, m)
        cached = self._texts.get(id(m))
        if cached is None or cached[0] is not m:
            cached = (m, measurement_text(volume, m))
            self._texts[id(m)] = cached
        return cached[1]

    def visible(self) -> list[Measurement]:
        """The measurements of the shown slice."""
        if not self.enabled():
            return []
        return [m for m in self._items if m.slice_index == self._view.slice_index()]

    def shown_texts(self) -> list[str]:
        """The texts drawn on the shown slice (the measurement being drawn last)."""
        texts = [self.text(m) for m in self.visible()]
        drawing = self._drawing()
        if drawing is not None and drawing.slice_index == self._view.slice_index():
            texts.append(self.text(drawing, cache=False))
        return texts

    # ------------------------------------------------------------------ mouse
    def press(self, pos: QPointF) -> bool:
        """A left press at widget point ``pos``: True when the layer takes the drag (a tool is
        on, or a measurement is hit and selected)."""
        if not self.enabled():
            return False
        if self._tool:
            pixel = self._view.map_to_pixel(pos)
            if pixel is None:
                return True  # off the image: nothing drawn, and no crosshair either
            self._start = self._end = pixel
            self._start_pos, self._z = QPointF(pos), self._view.slice_index()
            return True
        hit = self.hit(pos)
        self.select(hit)
        return hit is not None

    def move(self, pos: QPointF) -> None:
        if self._start is not None:
            self._end = self._clamped_pixel(pos)
            self._view.update()

    def release(self, pos: QPointF) -> None:
        """End of the drag: a long enough one adds a measurement (emits ``added``)."""
        if self._start is None:
            return
        self._end = self._clamped_pixel(pos)
        m = self._drawing()
        far = (QPointF(pos) - self._start_pos).manhattanLength() >= _MIN_DRAG_PX
        self._start = self._end = None
        if m is not None and far:
            self._items.append(m)
            self.select(m)
            self.added.emit(m)
        self._view.update()

    def hit(self, pos: QPointF) -> Measurement | None:
        """The measurement of the shown slice nearest widget point ``pos`` (its line, outline
        or label within a few pixels; the last drawn among equals), None when none is near."""
        metrics = QFontMetricsF(self._view.font())
        best, best_px = None, _HIT_PX
        for m in reversed(self.visible()):
            a, b = self._ends(m)
            if self._label_rect(m, self.text(m), metrics).contains(pos):
                px = 0.0
            elif m.kind == RULER:
                px = _segment_distance(pos, a, b)
            else:
                px = _ellipse_distance(pos, QRectF(a, b).normalized())
            if px < best_px or (best is None and px <= best_px):
                best, best_px = m, px
        return best

    def _clamped_pixel(self, pos: QPointF) -> tuple[float, float]:
        """``(row, col)`` under ``pos``, kept inside the slice."""
        volume = self._view.volume()
        assert volume is not None
        inverse, _ = self._view.view_transform().inverted()
        p = inverse.map(QPointF(pos))
        _, rows, cols = volume.shape
        return (min(max(p.y() - 0.5, 0.0), rows - 1.0), min(max(p.x() - 0.5, 0.0), cols - 1.0))

    def _drawing(self) -> Measurement | None:
        """The measurement being dragged out (voxel points ``(x, y, z)``), None when none is."""
        if self._start is None or self._end is None or not self._tool:
            return None
        z = float(self._z)
        (r0, c0), (r1, c1) = self._start, self._end
        return Measurement(self._tool, self._z, ((c0, r0, z), (c1, r1, z)))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ painting
    def _ends(self, m: Measurement) -> tuple[QPointF, QPointF]:
        """Widget points of the measurement's two points (row = y, column = x)."""
        (xa, ya, _), (xb, yb, _) = m.points
        return self._view.map_from_pixel(ya, xa), self._view.map_from_pixel(yb, xb)

    def _label_rect(self, m: Measurement, text: str, metrics: QFontMetricsF) -> QRectF:
        """Where the label goes: right of the ruler's end, below the ellipse (above it at the
        bottom of the pane), kept inside the pane."""
        lines = text.split("\n")
        width = max(metrics.horizontalAdvance(line) for line in lines) + 10
        height = metrics.lineSpacing() * len(lines) + 6
        a, b = self._ends(m)
        if m.kind == RULER:
            end = b if b.x() >= a.x() else a
            rect = QRectF(end.x() + 8, end.y() - height / 2, width, height)
        else:
            box = QRectF(a, b).normalized()
            rect = QRectF(box.center().x() - width / 2, box.bottom() + 6, width, height)
            if rect.bottom() > self._view.height() - 36:
                rect.moveBottom(box.top() - 6)
        pane = QRectF(self._view.rect()).adjusted(2, 2, -2, -2)
        rect.moveLeft(min(max(rect.left(), pane.left()), pane.right() - rect.width()))
        rect.moveTop(min(max(rect.top(), pane.top()), pane.bottom() - rect.height()))
        return rect

    def paint(self, painter: QPainter) -> None:
        """Draw the shown slice's measurements and the one being dragged out."""
        if not self.enabled():
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(self._view.font())
        metrics = QFontMetricsF(self._view.font())
        for m in self.visible():
            self._paint_one(painter, metrics, m, m is self._selected, self.text(m))
        drawing = self._drawing()
        if drawing is not None and drawing.slice_index == self._view.slice_index():
            self._paint_one(painter, metrics, drawing, True, self.text(drawing, cache=False))
        painter.restore()

    def _paint_one(self, painter: QPainter, metrics: QFontMetricsF, m: Measurement,
                   selected: bool, text: str) -> None:
        a, b = self._ends(m)
        width = 2.5 if selected else 1.5
        for pen in (QPen(_OUTLINE, width + 2.0), QPen(_LINE, width)):
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if m.kind == RULER:
                painter.drawLine(a, b)
                for end in (a, b):
                    painter.drawLines(_tick(QLineF(a, b), end))
            else:
                painter.drawEllipse(QRectF(a, b).normalized())
        if selected:
            painter.setPen(QPen(_OUTLINE, 1.0))
            painter.setBrush(_LINE)
            for end in (a, b):
                painter.drawRect(QRectF(end.x() - 3.5, end.y() - 3.5, 7, 7))
        rect = self._label_rect(m, text, metrics)
        painter.setPen(QPen(_LINE, 1.0) if selected else Qt.PenStyle.NoPen)
        painter.setBrush(_LABEL_BACK)
        painter.drawRoundedRect(rect, 3, 3)
        painter.setPen(_LINE)
        painter.drawText(rect.adjusted(5, 3, -5, -3), Qt.AlignmentFlag.AlignLeft, text)


def _tick(line: QLineF, at: QPointF, half: float = 5.0) -> list[QLineF]:
    """A short stroke across ``line`` at its end ``at``."""
    length = line.length()
    if length < 1e-6:
        return []
    nx, ny = -line.dy() / length * half, line.dx() / length * half
    return [QLineF(at.x() - nx, at.y() - ny, at.x() + nx, at.y() + ny)]


def _segment_distance(p: QPointF, a: QPointF, b: QPointF) -> float:
    """Distance (px) from ``p`` to the segment ``a``–``b``."""
    dx, dy = b.x() - a.x(), b.y() - a.y()
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else ((p.x() - a.x()) * dx + (p.y() - a.y()) * dy) / length2
    t = min(max(t, 0.0), 1.0)
    return math.hypot(p.x() - (a.x() + t * dx), p.y() - (a.y() + t * dy))


def _ellipse_distance(p: QPointF, box: QRectF) -> float:
    """About how far (px) ``p`` is from the outline of the ellipse inscribed in ``box``."""
    rx, ry = max(box.width() / 2, 0.5), max(box.height() / 2, 0.5)
    c = box.center()
    r = math.hypot((p.x() - c.x()) / rx, (p.y() - c.y()) / ry)
    return abs(r - 1.0) * min(rx, ry)
