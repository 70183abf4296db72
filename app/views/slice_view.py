"""`SliceView`: one axial, coronal or sagittal pane of a CT with the analysis overlays.

Mouse and keys (as in Horos / 3D Slicer):

* wheel or Up/Down: next/previous slice (Up and wheel-up go to a higher index); PageUp/PageDown
  step 10 slices; Home/End go to the first/last slice;
* right-drag: window/level (right = wider window, down = higher level, i.e. darker); a right
  click without dragging (or the Menu key) opens the context menu (presets, overlay style);
* keys 1 / 2: lung (W1500/L−600) / mediastinum (W400/L40) window;
* the slice line reads ``Im 123 (slice 133/255)``: the DICOM InstanceNumber of the axial slice
  (what PACS shows) and its place in the volume (inferior to superior), ``Slice 133/255`` where
  there is no InstanceNumber;
* Ctrl+wheel or +/−: zoom; middle-drag or Shift+left-drag: pan; R or double-click: reset view;
* left click or drag: set the cursor point (LPS mm), emitted by ``cursor_changed`` for the
  other panes, which follow with :meth:`SliceView.set_cursor_lps`;
* moving the mouse without a button: ``hover_changed`` carries the HU and the LPS position of
  the voxel under it (:func:`scoat_core.display.hover_text`), ``""`` when it leaves the image;
* reference lines (:meth:`SliceView.set_reference_slices`): where the other panes' slices cut
  this one, each in its plane's colour (:data:`REFERENCE_COLOURS`, also a bar along the top);
* measurements (axial pane, :attr:`SliceView.measures`, :mod:`app.views.measure_layer`): M
  ruler, E ellipse ROI, then a left drag draws one; a click on one selects it, Delete removes
  it, Esc leaves the tool. Without a tool a left click is the crosshair's, as above.

Rendering: the windowed grey slice is cached (only overlays changed → no re-windowing), the
overlays are blended with :func:`scoat_core.display.compose` into an RGB numpy buffer that a
QImage wraps without copying, and QPainter draws it scaled by the view transform, which keeps
the physical aspect ratio of the voxels (:func:`scoat_core.display.pixel_size_mm`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QMenu, QWidget

from app.views.measure_layer import MeasureLayer
from scoat_core import display
from scoat_core.volume import Volume

log = logging.getLogger(__name__)


#: ``provider(plane, slice index) -> RGBA uint8 [rows, cols, 4]`` of the displayed slice, or None.
OverlayProvider = Callable[[str, int], "np.ndarray | None"]

#: HU above which an opacity voxel counts as high opacity (drawn in the second colour).
HIGH_OPACITY_HU = -200.0
OVERLAY_MODES = ("fill", "contour", "none")

_BACKGROUND = QColor(10, 10, 12)
_TEXT = QColor(235, 235, 235)
_SHADOW = QColor(0, 0, 0, 210)
_CROSSHAIR = QColor(255, 214, 0)
#: The colour of each plane's reference line (as in 3D Slicer: axial red, coronal green; the
#: sagittal one violet, since yellow is the crosshair's).
REFERENCE_COLOURS = {"axial": QColor(235, 75, 65), "coronal": QColor(80, 200, 95),
                     "sagittal": QColor(175, 130, 255)}
_NORMAL_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}  # slice axis in (x, y, z) order
_AXIS_NAME = {0: "x", 1: "y", 2: "z"}
_ZOOM_RANGE = (0.25, 32.0)
_WL_SENSITIVITY = 1.0 / 256.0  # window change per dragged pixel, relative to the window width


def _num(value: float, fmt: str = ".0f") -> str:
    """A number with a typographic minus sign."""
    return format(value, fmt).replace("-", "−")


def _as_array(mask: np.ndarray | Volume | None) -> np.ndarray | None:
    return mask.array if isinstance(mask, Volume) else mask


class SliceView(QWidget):
    """One pane of a CT volume with overlays, crosshair and corner annotations."""

    slice_changed = Signal(int)
    cursor_changed = Signal(tuple)  # LPS mm (x, y, z)
    window_changed = Signal(float, float)  # width, level
    overlay_style_changed = Signal(str, float, bool, bool)  # mode, alpha, show_lung, show_high
    hover_changed = Signal(str)  # HU and position under the mouse, "" when off the image

    def __init__(self, plane: str = "axial", parent: QWidget | None = None, *,
                 measurable: bool = False) -> None:
        super().__init__(parent)
        #: Whether the measurement tools work here (the Viewer's axial pane; not Compare's).
        self.measurable = measurable and plane == "axial"
        if plane not in _NORMAL_AXIS:
            raise ValueError(f"plane must be axial, coronal or sagittal, got {plane!r}")
        self._plane: display.Plane = plane  # type: ignore[assignment]
        self._volume: Volume | None = None
        self._opacity: np.ndarray | None = None
        self._lung: np.ndarray | None = None
        self._index = 0
        self._width, self._level = display.PRESETS["lung"]
        self._mode, self._alpha, self._show_lung, self._show_high = "fill", 0.45, True, True
        self._extra: OverlayProvider | None = None
        self._cursor: tuple[float, float, float] | None = None
        self._label = ""
        self._zoom = 1.0
        self._pan = QPointF(0.0, 0.0)
        self._letters: dict[str, str] = {}
        self._version = 0  # bumped when the volume or the masks change
        self._extra_version = 0
        self._gray_key: tuple | None = None
        self._gray: np.ndarray | None = None
        self._image_key: tuple | None = None
        self._rgb: np.ndarray | None = None  # the last composite (RGB uint8)
        self._image = QImage()
        self._drag: str | None = None
        self._drag_start = QPointF()
        self._drag_from: tuple[float, float] | QPointF = (0.0, 0.0)
        self._drag_moved = False
        self._wheel_rest = 0.0
        self._hover_pos: QPointF | None = None
        self._hover_text = ""
        self._references: dict[str, int] = {}
        self.setMouseTracking(True)  # hover: HU and position without a click
        self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
        # right-button events must reach mouse*Event (right-drag is window/level)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(120, 120)
        font = QFont(self.font())
        font.setPixelSize(12)
        self.setFont(font)
        self.measures = MeasureLayer(self)
        """Rulers and ellipse ROIs (axial pane only)."""

    # ------------------------------------------------------------------ data
    @property
    def plane(self) -> str:
        return self._plane

    def volume(self) -> Volume | None:
        return self._volume

    def set_volume(self, volume: Volume | None) -> None:
        """Show ``volume`` (None: an empty pane). Keeps the window (except for non-HU data,
        shown over their full range), clears masks and cursor, goes to the middle slice and
        resets zoom and pan."""
        self._volume = volume
        self._opacity = self._lung = None
        self._cursor = None
        self.measures.clear()
        self._zoom, self._pan = 1.0, QPointF(0.0, 0.0)
        self._version += 1
        self._letters = (
            display.orientation_letters(volume.direction, self._plane) if volume is not None else {}
        )
        if volume is not None and not volume.is_hu and volume.array.size:
            lo, hi = float(volume.array.min()), float(volume.array.max())
            self.set_window(max(hi - lo, 1.0), (hi + lo) / 2.0)
        self._index = self.n_slices() // 2
        self.slice_changed.emit(self._index)
        self._emit_hover()
        self.update()

    def set_masks(self, opacity: np.ndarray | Volume | None, lung: np.ndarray | Volume | None,
                  ) -> None:
        """Opacity (non-zero = opacity) and lung (labels 1/2) masks ``[z, y, x]`` on the volume's
        grid; None hides one."""
        opacity, lung = _as_array(opacity), _as_array(lung)
        for name, mask in (("opacity", opacity), ("lung", lung)):
            if mask is None:
                continue
            if self._volume is None or mask.shape != self._volume.shape:
                shape = None if self._volume is None else self._volume.shape
                raise ValueError(f"{name} mask shape {mask.shape} does not match volume {shape}")
        self._opacity, self._lung = opacity, lung
        self._version += 1
        self.update()

    def set_overlay_style(self, mode: str = "fill", alpha: float = 0.45, show_lung: bool = True,
                          show_high: bool = True) -> None:
        """Opacity drawn as ``fill`` (blended with ``alpha``), ``contour`` or ``none``; lung
        contour and high-opacity part (HU > −200 within the opacity) on or off."""
        if mode not in OVERLAY_MODES:
            raise ValueError(f"overlay mode must be one of {OVERLAY_MODES}, got {mode!r}")
        style = (mode, min(max(float(alpha), 0.0), 1.0), bool(show_lung), bool(show_high))
        if style == self.overlay_style():
            return
        self._mode, self._alpha, self._show_lung, self._show_high = style
        self.overlay_style_changed.emit(*style)
        self.update()

    def overlay_style(self) -> tuple[str, float, bool, bool]:
        """``(mode, alpha, show_lung, show_high)``."""
        return self._mode, self._alpha, self._show_lung, self._show_high

    def _change_style(self, **changes: object) -> None:
        style = dict(zip(("mode", "alpha", "show_lung", "show_high"), self.overlay_style(),
                         strict=True))
        self.set_overlay_style(**{**style, **changes})  # type: ignore[arg-type]

    def set_extra_overlay(self, provider: OverlayProvider | np.ndarray | None) -> None:
        """An extra RGBA layer (heat map, change map) blended over the slice.

        ``provider(plane, index)`` returns RGBA uint8 ``[rows, cols, 4]`` in display orientation
        (as :func:`scoat_core.display.extract`) or None. An array is shown on the current slice
        only. Call again (or :meth:`refresh_overlays`) when the provider's content changes.
        """
        if isinstance(provider, np.ndarray):
            rgba, where = provider, (self._plane, self._index)
            provider = lambda plane, index: rgba if (plane, index) == where else None  # noqa: E731
        self._extra = provider
        self.refresh_overlays()

    def refresh_overlays(self) -> None:
        """Redraw the overlays (e.g. after the extra overlay's content changed)."""
        self._extra_version += 1
        self.update()

    def set_label(self, text: str) -> None:
        """Title line(s) in the top-left corner (date, scanner, LOV...)."""
        self._label = text
        self.update()

    def label(self) -> str:
        return self._label

    # ---------------------------------------------------------- window/level
    def set_window(self, width: float, level: float) -> None:
        """Window width and level in HU (width at least 1)."""
        width, level = max(float(width), 1.0), float(level)
        if (width, level) == (self._width, self._level):
            return
        self._width, self._level = width, level
        self.window_changed.emit(width, level)
        self.update()

    def window_level(self) -> tuple[float, float]:
        """``(width, level)`` in HU."""
        return self._width, self._level

    def apply_preset(self, name: str) -> None:
        """Window preset ``lung`` or ``mediastinum`` (see :data:`scoat_core.display.PRESETS`)."""
        if name not in display.PRESETS:
            raise ValueError(f"unknown window preset {name!r}; known: {sorted(display.PRESETS)}")
        self.set_window(*display.PRESETS[name])

    # ---------------------------------------------------------------- slices
    def n_slices(self) -> int:
        return 0 if self._volume is None else display.n_slices(self._volume.shape, self._plane)

    def slice_index(self) -> int:
        return self._index

    def set_slice(self, index: int) -> None:
        """Go to slice ``index`` (clamped to the volume)."""
        if self._volume is None:
            return
        index = int(min(max(int(index), 0), self.n_slices() - 1))
        if index != self._index:
            self._index = index
            self.slice_changed.emit(index)
            self._emit_hover()
            self.update()

    def step(self, delta: int) -> None:
        self.set_slice(self._index + delta)

    def slice_position_mm(self) -> float | None:
        """LPS coordinate (mm) of the current slice along its dominant axis (z for axial)."""
        if self._volume is None:
            return None
        rows, cols = self._slice_shape()
        zyx = display.slice_to_voxel(self._plane, self._index, (rows - 1) / 2, (cols - 1) / 2,
                                     self._volume.shape)
        lps = self._volume.index_to_lps(zyx[::-1])
        return float(lps[self._position_axis()])

    def _position_axis(self) -> int:
        assert self._volume is not None
        normal = self._volume.direction[:, _NORMAL_AXIS[self._plane]]
        return int(np.argmax(np.abs(normal)))

    # ---------------------------------------------------------------- cursor
    def cursor_lps(self) -> tuple[float, float, float] | None:
        return self._cursor

    def set_cursor_lps(self, point) -> None:
        """Move to the slice through ``point`` (LPS mm) and draw the crosshair there (does not
        emit ``cursor_changed``)."""
        if self._volume is None or point is None:
            self._cursor = None
            self.update()
            return
        self._cursor = tuple(float(v) for v in np.asarray(point, float).reshape(3))
        located = self._cursor_in_slice()
        if located is not None:
            self.set_slice(located[0])
        self.update()

    def _cursor_in_slice(self) -> tuple[int, float, float] | None:
        """``(slice index, row, col)`` of the cursor in this plane."""
        if self._volume is None or self._cursor is None:
            return None
        x, y, z = self._volume.lps_to_index(self._cursor)
        return display.voxel_to_slice(self._plane, (z, y, x), self._volume.shape)

    def _set_cursor_at(self, pos: QPointF) -> None:
        pixel = self.map_to_pixel(pos)
        if pixel is None or self._volume is None:
            return
        row, col = pixel
        z, y, x = display.slice_to_voxel(self._plane, self._index, row, col, self._volume.shape)
        lps = tuple(float(v) for v in self._volume.index_to_lps((x, y, z)))
        self._cursor = lps
        self.cursor_changed.emit(lps)
        self.update()

    def cursor_value(self) -> float | None:
        """Voxel value (HU) under the cursor, None outside the volume."""
        if self._volume is None or self._cursor is None:
            return None
        idx = np.rint(self._volume.lps_to_index(self._cursor)).astype(int)[::-1]
        if any(i < 0 or i >= n for i, n in zip(idx, self._volume.shape, strict=True)):
            return None
        return float(self._volume.array[tuple(idx)])

    # ----------------------------------------------------------------- hover
    def hover_text(self, pos: QPointF) -> str:
        """HU and LPS position (mm) of the voxel under widget point ``pos``, ``""`` off the
        image (see :func:`scoat_core.display.hover_text`)."""
        pixel = self.map_to_pixel(pos)
        if pixel is None or self._volume is None:
            return ""
        rows, cols = self._slice_shape()
        row = min(max(round(pixel[0]), 0), rows - 1)
        col = min(max(round(pixel[1]), 0), cols - 1)
        z, y, x = (int(v) for v in display.slice_to_voxel(self._plane, self._index, row, col,
                                                            self._volume.shape))
        lps = self._volume.index_to_lps((x, y, z))
        value = float(self._volume.array[z, y, x])
        return display.hover_text(value, lps, self._plane, self._index, self._volume.is_hu)

    def _emit_hover(self) -> None:
        text = "" if self._hover_pos is None else self.hover_text(self._hover_pos)
        if text != self._hover_text:
            self._hover_text = text
            self.hover_changed.emit(text)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        self._hover_pos = None
        self._emit_hover()
        super().leaveEvent(event)

    # -------------------------------------------------------- reference lines
    def set_reference_slices(self, slices: dict[str, int]) -> None:
        """The slice index shown by each other pane (plane → index); an empty dict draws no
        reference lines."""
        slices = {plane: int(i) for plane, i in slices.items() if plane != self._plane}
        if slices != self._references:
            self._references = slices
            self.update()

    def reference_lines(self) -> dict[str, QLineF]:
        """Widget-coordinate segments where the other panes' slices cut this one (plane →
        line across the drawn image, clipped to the pane); a line off the pane is left out."""
        if self._volume is None:
            return {}
        rect = self.image_rect().intersected(QRectF(self.rect()))
        lines = {}
        for plane, index in self._references.items():
            kind, at = display.reference_line(self._plane, plane, index,  # type: ignore[arg-type]
                                              self._volume.shape)
            point = self.map_from_pixel(at, at)
            if kind == "row" and rect.top() <= point.y() <= rect.bottom():
                lines[plane] = QLineF(rect.left(), point.y(), rect.right(), point.y())
            elif kind == "col" and rect.left() <= point.x() <= rect.right():
                lines[plane] = QLineF(point.x(), rect.top(), point.x(), rect.bottom())
        return lines

    def _draw_reference_lines(self, painter: QPainter) -> None:
        if not self._references:
            return
        for plane, line in self.reference_lines().items():
            colour = QColor(REFERENCE_COLOURS[plane])
            colour.setAlpha(190)
            painter.setPen(QPen(colour, 1.0))
            painter.drawLine(line)
        # this pane's own colour along its top edge, so its line elsewhere reads as this pane
        painter.fillRect(QRectF(0, 0, self.width(), 3), REFERENCE_COLOURS[self._plane])

    # ------------------------------------------------------------- geometry
    def _slice_shape(self) -> tuple[int, int]:
        assert self._volume is not None
        nz, ny, nx = self._volume.shape
        return {"axial": (ny, nx), "coronal": (nz, nx), "sagittal": (nz, ny)}[self._plane]

    def view_transform(self) -> QTransform:
        """Maps image coordinates (column, row; pixel ``(r, c)`` spans ``[c, c+1]×[r, r+1]``)
        to widget coordinates, keeping the physical aspect ratio."""
        if self._volume is None:
            return QTransform()
        rows, cols = self._slice_shape()
        row_mm, col_mm = display.pixel_size_mm(self._volume.spacing, self._plane)
        fit = min(self.width() / (cols * col_mm), self.height() / (rows * row_mm))
        scale = max(fit, 1e-6) * self._zoom
        sx, sy = scale * col_mm, scale * row_mm
        cx = self.width() / 2.0 + self._pan.x()
        cy = self.height() / 2.0 + self._pan.y()
        return QTransform(sx, 0.0, 0.0, sy, cx - sx * cols / 2.0, cy - sy * rows / 2.0)

    def image_rect(self) -> QRectF:
        """Where the slice is drawn, in widget coordinates (empty without a volume)."""
        if self._volume is None:
            return QRectF()
        rows, cols = self._slice_shape()
        return self.view_transform().mapRect(QRectF(0, 0, cols, rows))

    def map_to_pixel(self, pos: QPointF) -> tuple[float, float] | None:
        """Continuous ``(row, col)`` of the slice pixel under widget point ``pos`` (pixel
        centres at integers), None outside the image."""
        if self._volume is None:
            return None
        inverse, ok = self.view_transform().inverted()
        if not ok:
            return None
        p = inverse.map(QPointF(pos))
        rows, cols = self._slice_shape()
        if not (0 <= p.x() < cols and 0 <= p.y() < rows):
            return None
        return p.y() - 0.5, p.x() - 0.5

    def map_from_pixel(self, row: float, col: float) -> QPointF:
        """Widget point of the centre of slice pixel ``(row, col)``."""
        return self.view_transform().map(QPointF(col + 0.5, row + 0.5))

    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom factor (1 = fit to the pane), keeping widget point ``anchor`` fixed."""
        zoom = min(max(float(zoom), _ZOOM_RANGE[0]), _ZOOM_RANGE[1])
        anchor = QPointF(self.width() / 2.0, self.height() / 2.0) if anchor is None else anchor
        centre = QPointF(self.width() / 2.0, self.height() / 2.0) + self._pan
        new_centre = anchor - (anchor - centre) * (zoom / self._zoom)
        self._pan = new_centre - QPointF(self.width() / 2.0, self.height() / 2.0)
        self._zoom = zoom
        self.update()

    def pan(self) -> QPointF:
        return QPointF(self._pan)

    def reset_view(self) -> None:
        """Fit the slice to the pane (zoom 1, no pan)."""
        self._zoom, self._pan = 1.0, QPointF(0.0, 0.0)
        self.update()

    # ------------------------------------------------------------ rendering
    def _gray_slice(self) -> np.ndarray:
        assert self._volume is not None
        key = (self._version, self._index, self._width, self._level)
        if key != self._gray_key or self._gray is None:
            hu = display.extract(self._volume.array, self._plane, self._index)
            self._gray = display.window_to_uint8(hu, self._width, self._level)
            self._gray_key = key
        return self._gray

    def _extra_rgba(self, shape: tuple[int, int]) -> np.ndarray | None:
        if self._extra is None:
            return None
        try:
            rgba = self._extra(self._plane, self._index)
        except Exception:  # a broken provider must not break the viewer
            log.exception("extra overlay provider failed")
            return None
        if rgba is None:
            return None
        rgba = np.asarray(rgba)
        if rgba.shape != (*shape, 4):
            log.warning("extra overlay of shape %s ignored (slice %s)", rgba.shape, shape)
            return None
        return rgba

    def _composite(self) -> QImage:
        """The current slice with overlays as a QImage (cached)."""
        assert self._volume is not None
        key = (self._version, self._index, self._width, self._level, self.overlay_style(),
               self._extra_version)
        if key == self._image_key and not self._image.isNull():
            return self._image
        gray = self._gray_slice()
        opacity = high = lung = None
        if self._opacity is not None and self._mode != "none":
            opacity = display.extract(self._opacity, self._plane, self._index) > 0
            if self._show_high and self._volume.is_hu:
                hu = display.extract(self._volume.array, self._plane, self._index)
                high = opacity & (hu > HIGH_OPACITY_HU)
        if self._lung is not None and self._show_lung:
            lung = display.extract(self._lung, self._plane, self._index)
        mode = "fill" if self._mode == "none" else self._mode
        rgb = display.compose(gray, opacity=opacity, high=high, lung=lung, alpha=self._alpha,
                              mode=mode)  # type: ignore[arg-type]
        rgba = self._extra_rgba(gray.shape)
        if rgba is not None:
            _blend_rgba(rgb, rgba)
        rows, cols = gray.shape
        self._rgb = rgb  # the QImage below wraps this buffer without copying: keep it alive
        wrapped = QImage(rgb.data, cols, rows, 3 * cols, QImage.Format.Format_RGB888)
        # RGB32 draws ~3x faster than RGB888 when scaled (the conversion is done once per slice)
        self._image = wrapped.convertToFormat(QImage.Format.Format_RGB32)
        self._image_key = key
        return self._image

    def render_image(self, physical_aspect: bool = True) -> QImage:
        """The current slice with overlays at the volume's resolution (no annotations), for
        export; with ``physical_aspect`` the rows are resampled so pixels are square."""
        if self._volume is None:
            return QImage()
        image = self._composite().copy()
        row_mm, col_mm = display.pixel_size_mm(self._volume.spacing, self._plane)
        if physical_aspect and abs(row_mm - col_mm) > 1e-6 * col_mm:
            height = max(1, round(image.height() * row_mm / col_mm))
            image = image.scaled(image.width(), height, Qt.AspectRatioMode.IgnoreAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        return image

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), _BACKGROUND)
        if self._volume is None:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             self._label or "No exam selected")
            painter.end()
            return
        image = self._composite()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setTransform(self.view_transform())
        painter.drawImage(QPointF(0.0, 0.0), image)
        painter.restore()
        self._draw_reference_lines(painter)
        self._draw_crosshair(painter)
        self.measures.paint(painter)
        self._draw_annotations(painter)
        painter.end()

    def _draw_crosshair(self, painter: QPainter) -> None:
        located = self._cursor_in_slice()
        if located is None:
            return
        index, row, col = located
        centre = self.map_from_pixel(row, col)
        rect = self.image_rect().intersected(QRectF(self.rect()))
        colour = QColor(_CROSSHAIR)
        pen = QPen(colour, 1.0)
        if index != self._index:  # the point is on another slice: fainter, dashed
            colour.setAlpha(110)
            pen = QPen(colour, 1.0, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        gap = 6.0
        x, y = centre.x(), centre.y()
        if rect.top() <= y <= rect.bottom():
            painter.drawLine(QPointF(rect.left(), y), QPointF(max(rect.left(), x - gap), y))
            painter.drawLine(QPointF(min(rect.right(), x + gap), y), QPointF(rect.right(), y))
        if rect.left() <= x <= rect.right():
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, max(rect.top(), y - gap)))
            painter.drawLine(QPointF(x, min(rect.bottom(), y + gap)), QPointF(x, rect.bottom()))

    def annotations(self) -> dict[str, str]:
        """Corner and edge texts: ``top_left``, ``top_right``, ``bottom_left``, ``bottom_right``
        and the orientation letters ``left``, ``right``, ``top``, ``bottom``."""
        if self._volume is None:
            return {}
        pos = self.slice_position_mm()
        axis = _AXIS_NAME[self._position_axis()]
        numbers = self._volume.instance_numbers if self._plane == "axial" else ()
        slice_line = display.slice_title(self._index, self.n_slices(), numbers)
        bottom_left = f"{slice_line}\n{axis} {_num(pos or 0.0, '.1f')} mm"
        bottom_right = f"W {_num(self._width)}  L {_num(self._level)}"
        value = self.cursor_value()
        if value is not None:
            bottom_right = f"{_num(value)} HU\n{bottom_right}"
        top_right = self._plane.capitalize() + (
            f"\n×{self._zoom:.1f}" if abs(self._zoom - 1) > 1e-3 else "")
        return {"top_left": self._label, "top_right": top_right, "bottom_left": bottom_left,
                "bottom_right": bottom_right, **self._letters}

    def _draw_annotations(self, painter: QPainter) -> None:
        texts = self.annotations()
        area = QRectF(self.rect()).adjusted(6, 4, -6, -4)
        align = Qt.AlignmentFlag
        corners = {
            "top_left": align.AlignTop | align.AlignLeft,
            "top_right": align.AlignTop | align.AlignRight,
            "bottom_left": align.AlignBottom | align.AlignLeft,
            "bottom_right": align.AlignBottom | align.AlignRight,
        }
        label_bottom = area.top()
        for name, flags in corners.items():
            if texts.get(name):
                _shadow_text(painter, area, flags, texts[name])
        if texts.get("top_left"):  # the top letter goes below the label, never over it
            lines = texts["top_left"].count("\n") + 1
            label_bottom += lines * painter.fontMetrics().lineSpacing() + 2
        bold = QFont(painter.font())
        bold.setBold(True)
        bold.setPixelSize(14)
        painter.setFont(bold)
        edges = {
            "left": align.AlignLeft | align.AlignVCenter,
            "right": align.AlignRight | align.AlignVCenter,
            "top": align.AlignTop | align.AlignHCenter,
            "bottom": align.AlignBottom | align.AlignHCenter,
        }
        for name, flags in edges.items():
            if texts.get(name):
                rect = area.adjusted(0, label_bottom - area.top(), 0, 0) if name == "top" else area
                _shadow_text(painter, rect, flags, texts[name])

    # ---------------------------------------------------------------- input
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self._volume is None:
            return
        self._wheel_rest += event.angleDelta().y() / 120.0
        steps = int(self._wheel_rest)  # trackpads send fractions of a notch
        self._wheel_rest -= steps
        if steps == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_zoom(self._zoom * 1.15**steps, event.position())
        else:
            self.step(steps)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key, k = event.key(), Qt.Key
        steps = {k.Key_Up: 1, k.Key_Down: -1, k.Key_PageUp: 10, k.Key_PageDown: -10}
        if key in steps:
            self.step(steps[key])
        elif key == k.Key_Home:
            self.set_slice(0)
        elif key == k.Key_End:
            self.set_slice(self.n_slices() - 1)
        elif key == k.Key_1:
            self.apply_preset("lung")
        elif key == k.Key_2:
            self.apply_preset("mediastinum")
        elif key in (k.Key_Plus, k.Key_Equal):
            self.set_zoom(self._zoom * 1.25)
        elif key in (k.Key_Minus, k.Key_Underscore):
            self.set_zoom(self._zoom / 1.25)
        elif key == k.Key_R:
            self.reset_view()
        elif key == k.Key_Menu:
            self.context_menu().exec(self.mapToGlobal(self.rect().center()))
        elif not self.measures.handle_key(key):
            super().keyPressEvent(event)

    def event(self, event: QEvent) -> bool:
        """Esc and Delete go to the measurements before the window's shortcuts when they
        use them (a tool on, a measurement selected)."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and self.measures.wants_key(event.key()):
            event.accept()
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        button, shift = event.button(), event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        self._drag_start, self._drag_moved = event.position(), False
        if button == Qt.MouseButton.RightButton:
            self._drag, self._drag_from = "window", (self._width, self._level)
        elif button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and shift
        ):
            self._drag, self._drag_from = "pan", QPointF(self._pan)
        elif button == Qt.MouseButton.LeftButton and self.measures.press(event.position()):
            self._drag = "measure"
        elif button == Qt.MouseButton.LeftButton:
            self._drag = "cursor"
            self._set_cursor_at(event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._hover_pos = event.position()
        self._emit_hover()
        if self._drag is None:
            return
        delta = event.position() - self._drag_start
        self._drag_moved = self._drag_moved or delta.manhattanLength() > 3
        if self._drag == "window":
            width0, level0 = self._drag_from  # type: ignore[misc]
            k = max(width0, 20.0) * _WL_SENSITIVITY
            self.set_window(width0 + 2.0 * k * delta.x(), level0 + k * delta.y())
        elif self._drag == "pan":
            self._pan = self._drag_from + delta  # type: ignore[operator]
            self.update()
        elif self._drag == "cursor":
            self._set_cursor_at(event.position())
        elif self._drag == "measure":
            self.measures.move(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag == "window" and not self._drag_moved:
            self.context_menu().exec(event.globalPosition().toPoint())
        elif self._drag == "measure":
            self.measures.release(event.position())
        self._drag = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.reset_view()

    def context_menu(self) -> QMenu:
        """Window presets, overlay style and view reset."""
        menu = QMenu(self)
        for name, label, shortcut in (("lung", "Lung window", "1"),
                                      ("mediastinum", "Mediastinum window", "2")):
            w, lev = display.PRESETS[name]
            action = menu.addAction(f"{label} (W{w:.0f} / L{lev:.0f})\t{shortcut}")
            action.setCheckable(True)
            action.setChecked((w, lev) == self.window_level())
            action.triggered.connect(lambda _=False, n=name: self.apply_preset(n))
        menu.addSeparator()
        mode, alpha, show_lung, show_high = self.overlay_style()
        for value, text in (("fill", "Opacity filled"), ("contour", "Opacity contour"),
                            ("none", "Opacity hidden")):
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(mode == value)
            action.triggered.connect(lambda _=False, v=value: self._change_style(mode=v))
        fill_menu = menu.addMenu("Fill opacity")
        for percent in (25, 45, 65, 85):
            action = fill_menu.addAction(f"{percent} %")
            action.setCheckable(True)
            action.setChecked(abs(alpha * 100 - percent) < 0.5)
            action.triggered.connect(lambda _=False, a=percent / 100: self._change_style(alpha=a))
        high = menu.addAction("High opacity (HU > −200)")
        high.setCheckable(True)
        high.setChecked(show_high)
        high.toggled.connect(lambda on: self._change_style(show_high=on))
        lung = menu.addAction("Lung contour")
        lung.setCheckable(True)
        lung.setChecked(show_lung)
        lung.toggled.connect(lambda on: self._change_style(show_lung=on))
        menu.addSeparator()
        menu.addAction("Reset view\tR", self.reset_view)
        return menu

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(420, 420)


def _blend_rgba(rgb: np.ndarray, rgba: np.ndarray) -> None:
    """Blend an RGBA uint8 layer over an RGB uint8 image in place (only where alpha > 0)."""
    flat_a = rgba[..., 3].reshape(-1)
    idx = np.flatnonzero(flat_a)
    if not idx.size:
        return
    a = flat_a[idx].astype(np.float32)[:, None] / 255.0
    flat_rgb = rgb.reshape(-1, 3)
    src = rgba[..., :3].reshape(-1, 3)[idx].astype(np.float32)
    flat_rgb[idx] = np.rint(flat_rgb[idx] * (1.0 - a) + src * a).astype(np.uint8)


def _shadow_text(painter: QPainter, rect: QRectF, flags, text: str) -> None:
    """Text with a dark 1-px shadow so it reads on bright images."""
    painter.setPen(_SHADOW)
    painter.drawText(rect.translated(1.0, 1.0), flags, text)
    painter.setPen(_TEXT)
    painter.drawText(rect, flags, text)
