"""`ComparisonView`: 2–4 exams of one patient side by side, linked through the registration.

Each pane is a :class:`~app.views.slice_view.SliceView` titled with the exam's date, scanner,
LOV and PO. The panes follow the same anatomy: a cursor click in any pane is brought back to the
baseline (first exam) through the inverse registration, then out to every other exam; scrolling
one pane moves the others to the slice through the same anatomy; window/level and the overlay
style are shared. A toggle shows, in each follow-up pane, the opacity that is new (red),
resolved (green) or persistent (amber) since the baseline (computed on first use and cached per
pair). Registrations are computed by the caller
(:func:`scoat_core.followup.comparison.compute_registrations`, in a background job); an exam
without one is linked by its scanner coordinates and says "not registered".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.views.slice_view import SliceView
from scoat_core import display
from scoat_core.followup.comparison import (
    PointMap,
    TimePoint,
    change_labels,
    change_rgba,
    extent_mm,
    grid_shape,
    pane_label,
    slice_point,
    slice_through,
)
from scoat_core.followup.registration import Registration

__all__ = ["ComparisonView", "PointMap", "TimePoint"]

PLANES = ("axial", "coronal", "sagittal")
CHANGE_ALPHA = 0.6
_BACKGROUND = QColor(10, 10, 12)
_TEXT = QColor(235, 235, 235)
_CROSSHAIR = QColor(255, 214, 0)
_LEGEND = " ".join(
    f'<span style="color: rgb{display.COLOURS[name]}">■</span> {name}'
    for name in ("new", "resolved", "persistent")
)


class ComparisonView(QWidget):
    """Side-by-side panes of 1–4 time points (see the module docstring)."""

    exam_focused = Signal(int)  # key of the exam whose pane was clicked or focused

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points: list[TimePoint] = []
        self._problems: dict[int, str] = {}
        self._maps: list[PointMap] = []
        self._panes: list[SliceView] = []
        self._plane = "axial"
        self._change = False
        self._change_cache: dict[tuple[int, int], np.ndarray | None] = {}
        self._syncing = False
        self._baseline_cursor: tuple[float, float, float] | None = None
        self._window = display.PRESETS["lung"]
        self._style: tuple[str, float, bool, bool] | None = None

        self.plane_selector = QComboBox()
        self.plane_selector.addItems([p.capitalize() for p in PLANES])
        self.plane_selector.setToolTip("Plane of all panes")
        self.plane_selector.currentIndexChanged.connect(lambda i: self.set_plane(PLANES[i]))
        self.change_toggle = QCheckBox("Change since baseline")
        self.change_toggle.setToolTip("In each follow-up pane: opacity new since the baseline "
                                    "(red), resolved (green) or persistent (amber)")
        self.change_toggle.toggled.connect(self.set_change_map)
        self._legend = QLabel(_LEGEND)
        self._legend.setVisible(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(QLabel("Plane"))
        bar.addWidget(self.plane_selector)
        bar.addSpacing(12)
        bar.addWidget(self.change_toggle)
        bar.addWidget(self._legend)
        bar.addStretch(1)
        self.controls = QWidget()
        """The plane selector and change-map toggle (hide it when the window has its own)."""
        self.controls.setLayout(bar)
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        grid_holder = QWidget()
        grid_holder.setLayout(self._grid)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.controls)
        layout.addWidget(grid_holder, 1)

    # ------------------------------------------------------------------ data
    def set_time_points(self, points: list[TimePoint],
                        registrations: dict[int, Registration] | None = None,
                        problems: dict[int, str] | None = None) -> None:
        """Show ``points`` (ordered by date; the first is the baseline). ``registrations[key]``
        maps baseline LPS to that exam's LPS; exams without one are linked by scanner
        coordinates, and ``problems[key]`` (why it could not be registered) is in its title."""
        grid_shape(len(points))  # raises for more than four
        registrations = registrations or {}
        self._problems = dict(problems or {})
        self._points = list(points)
        self._maps = [PointMap(None if i == 0 else registrations.get(p.key))
                      for i, p in enumerate(self._points)]
        self._change_cache.clear()
        self._baseline_cursor = None
        self._rebuild_panes()
        if self._panes:
            base, vol = self._points[0], self._points[0].volume
            opacity, lung = _mask(base.opacity), _mask(base.lung)
            axial, coronal = display.key_slices(opacity if opacity is not None
                                                else np.zeros(vol.shape, np.uint8), lung)
            start = {"axial": axial, "coronal": coronal}.get(self._plane, vol.shape[2] // 2)
            self._go_to(slice_point(vol, self._plane, start), cursor=False)  # type: ignore[arg-type]

    def time_points(self) -> list[TimePoint]:
        return list(self._points)

    def panes(self) -> list[SliceView]:
        """The panes, in the order of the time points."""
        return list(self._panes)

    def pane(self, key: int) -> SliceView:
        return self._panes[self._index_of(key)]

    def point_map(self, key: int) -> PointMap:
        return self._maps[self._index_of(key)]

    def _index_of(self, key: int) -> int:
        for i, p in enumerate(self._points):
            if p.key == key:
                return i
        raise KeyError(f"no time point with key {key}")

    def grid_shape(self) -> tuple[int, int]:
        return grid_shape(len(self._panes))

    def plane(self) -> str:
        return self._plane

    def set_plane(self, plane: str) -> None:
        """All panes in ``plane`` (axial, coronal or sagittal), through the same point."""
        if plane not in PLANES:
            raise ValueError(f"plane must be one of {PLANES}, got {plane!r}")
        if plane == self._plane:
            return
        anchor = self._anchor()
        self._plane = plane
        with _blocked(self.plane_selector):
            self.plane_selector.setCurrentIndex(PLANES.index(plane))
        self._rebuild_panes()
        if anchor is not None:
            self._go_to(anchor, cursor=self._baseline_cursor is not None)

    def _anchor(self) -> np.ndarray | None:
        """Baseline point the panes show: the cursor, else the centre of the baseline slice."""
        if self._baseline_cursor is not None:
            return np.asarray(self._baseline_cursor)
        if not self._panes:
            return None
        base = self._panes[0]
        return slice_point(self._points[0].volume, self._plane,  # type: ignore[arg-type]
                           base.slice_index())

    # ----------------------------------------------------------------- panes
    def _rebuild_panes(self) -> None:
        for pane in self._panes:
            self._grid.removeWidget(pane)
            pane.hide()
            pane.deleteLater()
        self._panes = []
        if not self._points:
            return
        _, cols = grid_shape(len(self._points))
        for i, point in enumerate(self._points):
            pane = SliceView(self._plane)
            pane.set_volume(point.volume)
            pane.set_masks(_mask(point.opacity), _mask(point.lung))
            pane.set_window(*self._window)
            if self._style is not None:
                pane.set_overlay_style(*self._style)
            pane.slice_changed.connect(lambda index, i=i: self._on_slice(i, index))
            pane.cursor_changed.connect(lambda lps, i=i: self._on_cursor(i, lps))
            pane.window_changed.connect(lambda w, lev, i=i: self._on_window(i, w, lev))
            pane.overlay_style_changed.connect(lambda *s, i=i: self._on_style(i, s))
            pane.installEventFilter(self)
            self._grid.addWidget(pane, i // cols, i % cols)
            self._panes.append(pane)
        self._apply_change_map()

    def match_scale(self) -> None:
        """Zoom the panes so that a millimetre is as long on screen in every pane (the pane with
        the largest field of view fits; fields of view differ between scanners). Done on every
        pane resize."""
        fits = []
        for pane, point in zip(self._panes, self._points, strict=True):
            w_mm, h_mm = extent_mm(point.volume, self._plane)  # type: ignore[arg-type]
            fits.append(min(pane.width() / w_mm, pane.height() / h_mm))
        if not fits or min(fits) <= 0:
            return
        common = min(fits)
        for pane, fit in zip(self._panes, fits, strict=True):
            pane.set_zoom(common / fit)

    def _refresh_labels(self) -> None:
        base = self._points[0] if self._points else None
        for i, (point, pane) in enumerate(zip(self._points, self._panes, strict=True)):
            notes = [self._problems[point.key]] if point.key in self._problems else []
            if self._change and i > 0 and self._change_labels(i) is None:
                # the label already says "not registered" when that is the reason
                notes.append("no change map" + ("" if not self._maps[i].registered
                                                else " (not analysed)"))
            pane.set_label(pane_label(point, base, self._maps[i], notes))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        kind = event.type()
        clicked = kind == QEvent.Type.MouseButtonPress
        focused = kind == QEvent.Type.FocusIn and (
            event.reason() != Qt.FocusReason.MouseFocusReason)  # type: ignore[attr-defined]
        if (clicked or focused) and watched in self._panes:
            self.exam_focused.emit(self._points[self._panes.index(watched)].key)
        elif kind == QEvent.Type.Resize and watched in self._panes:
            self.match_scale()
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------ change map
    def change_map_enabled(self) -> bool:
        return self._change

    def set_change_map(self, enabled: bool) -> None:
        """Show new / resolved / persistent opacity since the baseline in each follow-up pane
        (instead of that pane's own opacity overlay)."""
        enabled = bool(enabled)
        with _blocked(self.change_toggle):
            self.change_toggle.setChecked(enabled)
        self._legend.setVisible(enabled)
        if enabled == self._change:
            return
        self._change = enabled
        if enabled:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self._apply_change_map()
        finally:
            if enabled:
                QApplication.restoreOverrideCursor()

    def change_labels(self, key: int) -> np.ndarray | None:
        """Change labels (1 new, 2 resolved, 3 persistent) on exam ``key``'s grid, None for the
        baseline or without registration or analysis."""
        return self._change_labels(self._index_of(key))

    def _change_labels(self, i: int) -> np.ndarray | None:
        if i == 0 or not self._maps[i].registered:
            return None
        base, point = self._points[0], self._points[i]
        pair = (base.key, point.key)
        if pair not in self._change_cache:
            reg = self._maps[i].registration
            assert reg is not None
            self._change_cache[pair] = change_labels(base, point, reg)
        return self._change_cache[pair]

    def _apply_change_map(self) -> None:
        for i, (point, pane) in enumerate(zip(self._points, self._panes, strict=True)):
            labels = self._change_labels(i) if self._change else None
            opacity = None if labels is not None else _mask(point.opacity)
            pane.set_masks(opacity, _mask(point.lung))
            pane.set_extra_overlay(None if labels is None else _change_provider(labels))
        self._refresh_labels()

    # --------------------------------------------------------------- linking
    @contextlib.contextmanager
    def _linking(self) -> Iterator[None]:
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    def go_to_baseline_point(self, lps) -> None:
        """Put the cursor of every pane on the anatomy at baseline point ``lps`` (LPS mm)."""
        self._go_to(np.asarray(lps, float).reshape(3), cursor=True)

    def baseline_cursor(self) -> tuple[float, float, float] | None:
        """The linked cursor in baseline LPS mm (None until a click or go_to_baseline_point)."""
        return self._baseline_cursor

    def _go_to(self, baseline_lps: np.ndarray, cursor: bool, skip: int | None = None) -> None:
        if cursor:
            self._baseline_cursor = tuple(float(v) for v in baseline_lps)
        with self._linking():
            for j, (pane, point) in enumerate(zip(self._panes, self._points, strict=True)):
                if j == skip:
                    continue
                target = self._maps[j].to_exam(baseline_lps)
                if cursor:
                    pane.set_cursor_lps(target)
                else:
                    pane.set_slice(slice_through(point.volume, self._plane,  # type: ignore[arg-type]
                                                 target))

    def _on_cursor(self, i: int, lps: tuple) -> None:
        if self._syncing:
            return
        self._go_to(self._maps[i].to_baseline(lps), cursor=True, skip=i)

    def _on_slice(self, i: int, index: int) -> None:
        if self._syncing:
            return
        volume, pane = self._points[i].volume, self._panes[i]
        point = slice_point(volume, self._plane, index, pane.cursor_lps())  # type: ignore[arg-type]
        self._go_to(self._maps[i].to_baseline(point), cursor=False, skip=i)

    def _on_window(self, i: int, width: float, level: float) -> None:
        self._window = (width, level)
        if self._syncing:
            return
        with self._linking():
            for j, pane in enumerate(self._panes):
                if j != i:
                    pane.set_window(width, level)

    def _on_style(self, i: int, style: tuple) -> None:
        self._style = style  # type: ignore[assignment]
        if self._syncing:
            return
        with self._linking():
            for j, pane in enumerate(self._panes):
                if j != i:
                    pane.set_overlay_style(*style)

    # ---------------------------------------------------------------- export
    def render_image(self, pane_px: int = 512) -> QImage:
        """All panes as laid out on screen, each slice (with overlays and the linked cursor)
        under its title, at one scale (the largest field of view fits ``pane_px``); the
        change-map legend at the bottom."""
        if not self._panes:
            return QImage()
        rows, cols = grid_shape(len(self._panes))
        font = QFont(self.font())
        font.setPixelSize(max(11, pane_px // 32))
        fm = QFontMetrics(font)
        line, pad, gap = fm.lineSpacing(), fm.lineSpacing() // 2, 4
        extents = [extent_mm(p.volume, self._plane) for p in self._points]  # type: ignore[arg-type]
        scale = min(pane_px / max(w, h) for w, h in extents)  # same mm per pixel in every pane
        images = [pane.render_image().scaled(round(w * scale), round(h * scale),
                                             Qt.AspectRatioMode.IgnoreAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)
                  for pane, (w, h) in zip(self._panes, extents, strict=True)]
        header = max(pane.label().count("\n") + 1 for pane in self._panes) * line + pad
        image_h = max(img.height() for img in images)
        cell_h = header + image_h + line + pad  # title, slice, slice position
        footer = 2 * line if self._change else 0
        out = QImage(cols * pane_px + (cols - 1) * gap,
                     rows * cell_h + (rows - 1) * gap + footer, QImage.Format.Format_RGB32)
        out.fill(_BACKGROUND)
        painter = QPainter(out)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setFont(font)
            for i, (pane, img) in enumerate(zip(self._panes, images, strict=True)):
                x0, y0 = (i % cols) * (pane_px + gap), (i // cols) * (cell_h + gap)
                painter.setPen(_TEXT)
                painter.drawText(QRectF(x0 + pad, y0 + pad / 2, pane_px - 2 * pad, header),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                                 pane.label())
                top = QPointF(x0 + (pane_px - img.width()) / 2,
                              y0 + header + (image_h - img.height()) / 2)
                painter.drawImage(top, img)
                self._draw_export_marks(painter, pane, img, top, line)
            if footer:
                _draw_legend(painter, QPointF(pad, out.height() - footer + line / 2))
        finally:
            painter.end()
        return out

    def _draw_export_marks(self, painter: QPainter, pane: SliceView, img: QImage, top: QPointF,
                           line: int) -> None:
        """Orientation letters, slice position and the cursor (short ticks) on an exported
        slice."""
        volume = pane.volume()
        if volume is None or img.isNull():
            return
        texts = pane.annotations()
        rect = QRectF(top.x() + 4, top.y() + 2, img.width() - 8, img.height() - 4)
        align = Qt.AlignmentFlag
        painter.setPen(_TEXT)
        for name, flags in (("left", align.AlignLeft | align.AlignVCenter),
                            ("right", align.AlignRight | align.AlignVCenter)):
            if texts.get(name):
                painter.drawText(rect, flags, texts[name])
        position = texts.get("bottom_left", "").replace("\n", " · ")
        painter.drawText(QRectF(top.x(), top.y() + img.height(), img.width(), line),
                         align.AlignLeft | align.AlignTop, position)
        cursor = pane.cursor_lps()
        if cursor is None:
            return
        x, y, z = volume.lps_to_index(np.asarray(cursor))
        index, row, col = display.voxel_to_slice(pane.plane, (z, y, x),  # type: ignore[arg-type]
                                                 volume.shape)
        if index != pane.slice_index():
            return
        rows, cols = display.extract(volume.array, pane.plane, index).shape  # type: ignore[arg-type]
        cx = top.x() + (col + 0.5) * img.width() / cols
        cy = top.y() + (row + 0.5) * img.height() / rows
        painter.setPen(QPen(_CROSSHAIR, 1.5))
        gap, tick = 6.0, 10.0
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            painter.drawLine(QPointF(cx + dx * gap, cy + dy * gap),
                             QPointF(cx + dx * (gap + tick), cy + dy * (gap + tick)))


def _draw_legend(painter: QPainter, at: QPointF) -> None:
    """"Change since the baseline: ■ new ■ resolved ■ persistent" from ``at`` (top left)."""
    fm = painter.fontMetrics()
    line, x, y = fm.lineSpacing(), at.x(), at.y()
    painter.setPen(_TEXT)
    title = "Change since the baseline:"
    painter.drawText(QPointF(x, y + fm.ascent()), title)
    x += fm.horizontalAdvance(title) + line / 2
    for name in ("new", "resolved", "persistent"):
        painter.fillRect(QRectF(x, y + 2, line - 4, line - 4), QColor(*display.COLOURS[name]))
        x += line
        painter.drawText(QPointF(x, y + fm.ascent()), name)
        x += fm.horizontalAdvance(name) + line


def _mask(mask) -> np.ndarray | None:
    """A mask (array or Volume) as an array."""
    return getattr(mask, "array", mask)


def _change_provider(labels: np.ndarray):
    """Extra-overlay provider of the change labels (RGBA in display orientation)."""
    def provider(plane: str, index: int) -> np.ndarray | None:
        labels_2d = display.extract(labels, plane, index)  # type: ignore[arg-type]
        return change_rgba(labels_2d, CHANGE_ALPHA) if labels_2d.any() else None
    return provider


@contextlib.contextmanager
def _blocked(widget: QObject) -> Iterator[None]:
    blocked = widget.blockSignals(True)
    try:
        yield
    finally:
        widget.blockSignals(blocked)
