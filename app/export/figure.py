"""Figures for export: the Viewer's panes rendered at the export DPI under a header block
(patient, exam, series, LOV and PO, the legend of the overlay colours) with a scale bar under
each pane; a header block above any other image (Compare, Timeline).

Rendering, not enlarging: each pane is drawn by its own paint code into an image ``dpi / 96``
times its on-screen size (:func:`app.export.png.render_widget`), so the slice is resampled from
the CT and the text and lines are drawn at that resolution. The texts, the legend and the bar
lengths come from :mod:`scoat_core.report.figure`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen

from app.export.png import SCREEN_DPI, render_widget
from app.views.slice_view import SliceView
from app.views.viewer_panel import ViewerPanel
from scoat_core import display
from scoat_core.report.content import DISCLAIMER
from scoat_core.report.figure import MAX_BAR_FRACTION, LegendEntry, ScaleBar, scale_bar

if TYPE_CHECKING:
    from app.views.comparison import ComparisonView

MARGIN = 10.0
TITLE_PX, TEXT_PX, SMALL_PX = 17, 14, 11
SWATCH = 13.0
BAR_THICKNESS = 3.0
_DARK = QColor(10, 10, 12)
_LIGHT_TEXT, _DIM_TEXT = QColor(238, 238, 238), QColor(165, 165, 170)
_RULE = QColor(70, 70, 78)


@dataclass
class PlacedBar:
    """A pane's scale bar: its length, and where the bar lies in the PNG (device pixels)."""

    plane: str
    bar: ScaleBar
    """``bar.px``: logical (on-screen) pixels."""
    rect: QRect


@dataclass
class Figure:
    """The rendered figure (device pixels, DPI ``dpi``) and where its parts are."""

    image: QImage
    dpi: float
    header_height: float
    """Logical pixels above the panes (the header block)."""
    panes: QRectF
    """The panes' area, logical pixels (the panes' on-screen size)."""
    footer_height: float
    """Logical pixels below the panes (the scale bars)."""
    bars: list[PlacedBar] = field(default_factory=list)


def _font(px: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(px)
    font.setBold(bold)
    return font


def _colours(background: QColor) -> tuple[QColor, QColor]:
    """(text, dim text) that read on ``background``."""
    if background.lightnessF() > 0.5:
        return QColor(20, 20, 24), QColor(90, 90, 96)
    return _LIGHT_TEXT, _DIM_TEXT


class _Header:
    """The header block's layout: text lines on the left, the legend on the right (below the
    text when the width is too small for both side by side)."""

    def __init__(self, lines: Sequence[str], legend: Sequence[LegendEntry], width: float,
                 disclaimer: bool = True, style: tuple[float, float, float] | None = None
                 ) -> None:
        self.lines = list(lines)
        self.legend = list(legend)
        self.style = style  # (alpha, window width, level): fills blended as on the CT
        self.width = width
        self.disclaimer = DISCLAIMER if disclaimer else ""
        self.fonts = [_font(TITLE_PX, True)] + [_font(TEXT_PX)] * (len(self.lines) - 1)
        self.small, self.text = _font(SMALL_PX), _font(TEXT_PX)
        self.line_h = QFontMetricsF(self.text).lineSpacing() + 2
        text_w = max([QFontMetricsF(f).horizontalAdvance(t)
                      for f, t in zip(self.fonts, self.lines, strict=True)] + [0.0])
        self.legend_w = (SWATCH + 6 + max(QFontMetricsF(self.text).horizontalAdvance(e.label)
                                          for e in self.legend)) if self.legend else 0.0
        self.side = bool(self.legend) and text_w + self.legend_w + 3 * MARGIN <= width
        self.text_h = sum(QFontMetricsF(f).lineSpacing() for f in self.fonts) + (
            QFontMetricsF(self.small).lineSpacing() + 2 if self.disclaimer else 0.0)
        legend_h = len(self.legend) * self.line_h
        self.height = 2 * MARGIN + (max(self.text_h, legend_h) if self.side
                                    else self.text_h + (legend_h + MARGIN / 2 if legend_h else 0))

    def draw(self, painter: QPainter, background: QColor) -> None:
        text, dim = _colours(background)
        text_w = self.width - 2 * MARGIN - (self.legend_w + MARGIN if self.side else 0)
        y = MARGIN
        for font, line in zip(self.fonts, self.lines, strict=True):
            painter.setFont(font)
            painter.setPen(text)
            fm = QFontMetricsF(font)
            shown = fm.elidedText(line, Qt.TextElideMode.ElideRight, text_w)
            painter.drawText(QPointF(MARGIN, y + fm.ascent()), shown)
            y += fm.lineSpacing()
        if self.disclaimer:
            painter.setFont(self.small)
            painter.setPen(dim)
            fm = QFontMetricsF(self.small)
            painter.drawText(QPointF(MARGIN, y + 2 + fm.ascent()),
                             fm.elidedText(self.disclaimer, Qt.TextElideMode.ElideRight, text_w))
        x = self.width - MARGIN - self.legend_w if self.side else MARGIN
        y = MARGIN if self.side else MARGIN + self.text_h + MARGIN / 2
        for entry in self.legend:
            self._draw_entry(painter, entry, QPointF(x, y), text)
            y += self.line_h

    def _draw_entry(self, painter: QPainter, entry: LegendEntry, at: QPointF,
                    text: QColor) -> None:
        fm = QFontMetricsF(self.text)
        colour = QColor(*entry.rgb)
        box = QRectF(at.x(), at.y() + (self.line_h - SWATCH) / 2, SWATCH, SWATCH)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if entry.kind == "fill":
            painter.fillRect(box, QColor(*swatch_rgb(entry, self.style)))
        else:  # a contour: an outlined box in the colour
            painter.setPen(QPen(colour, 2.0))
            painter.drawRect(box.adjusted(1, 1, -1, -1))
        painter.restore()
        painter.setFont(self.text)
        painter.setPen(text)
        baseline = at.y() + (self.line_h - fm.height()) / 2 + fm.ascent()
        painter.drawText(QPointF(at.x() + SWATCH + 6, baseline), entry.label)


def swatch_rgb(entry: LegendEntry, style: tuple[float, float, float] | None
               ) -> tuple[int, int, int]:
    """A fill's swatch as the fill looks on the CT: its colour blended at the overlay's alpha
    over the grey of a typical voxel of its class in the window; ``style`` is (alpha, window
    width, level), None for the plain colour."""
    if style is None or entry.typical_hu is None:
        return entry.rgb
    alpha, width, level = style
    grey = int(display.window_to_uint8(np.array([entry.typical_hu]), width, level)[0])
    a = min(max(alpha, 0.0), 1.0)
    return tuple(round(c * a + grey * (1 - a)) for c in entry.rgb)  # type: ignore[return-value]


def pane_px_per_mm(pane: SliceView) -> float:
    """On-screen pixels per mm of the slice a pane shows (its zoom included)."""
    volume = pane.volume()
    if volume is None:
        return 0.0
    _row_mm, col_mm = display.pixel_size_mm(volume.spacing, pane.plane)
    return pane.view_transform().m11() / col_mm


def _draw_bar(painter: QPainter, pane: SliceView, left: float, top: float, scale: float,
              colour: QColor) -> PlacedBar | None:
    """The pane's scale bar at ``(left, top)`` (logical), aligned on device pixels."""
    bar = scale_bar(pane_px_per_mm(pane), pane.width() * MAX_BAR_FRACTION)
    if bar is None:
        return None
    x, y = round(left * scale), round(top * scale)
    rect = QRect(x, y, max(1, round(bar.px * scale)), max(2, round(BAR_THICKNESS * scale)))
    tick_h = max(rect.height(), round(4 * scale))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    s = 1.0 / scale
    painter.fillRect(QRectF(rect.x() * s, rect.y() * s, rect.width() * s, rect.height() * s),
                     colour)
    for tick_x in (rect.left(), rect.left() + rect.width() - rect.height()):  # end ticks, up
        painter.fillRect(QRectF(tick_x * s, (rect.y() - tick_h) * s, rect.height() * s,
                                tick_h * s), colour)
    painter.restore()
    font = _font(TEXT_PX, True)
    fm = QFontMetricsF(font)
    painter.setFont(font)
    painter.setPen(colour)
    centre = (rect.y() + rect.height() / 2) * s
    painter.drawText(QPointF((rect.x() + rect.width()) * s + 8, centre + fm.capHeight() / 2),
                     bar.label)
    return PlacedBar(pane.plane, bar, rect)


def render_viewer_figure(viewer: ViewerPanel, header: Sequence[str],
                         legend: Sequence[LegendEntry], dpi: float = 300) -> Figure:
    """The viewer's shown panes as laid out, rendered at ``dpi``, under the header block and
    over a strip with each pane's scale bar. The panes' own label (the patient and exam) is left
    out: the header says it (anonymised when asked). Raises ValueError without an exam."""
    panes = [p for p in viewer.visible_panes() if p.volume() is not None]
    if not panes:
        raise ValueError("nothing to export: no exam is shown")
    origin = panes[0].mapTo(viewer, QPoint(0, 0))
    rects = [QRectF(QRect(p.mapTo(viewer, QPoint(0, 0)) - origin, p.size())) for p in panes]
    width = max(r.right() for r in rects)
    height = max(r.bottom() for r in rects)
    block = _Header(header, legend, width,
                    style=(panes[0].overlay_style()[1], *panes[0].window_level()))
    footer = 2 * MARGIN + QFontMetricsF(_font(TEXT_PX, True)).lineSpacing()
    scale = float(dpi) / SCREEN_DPI
    image = QImage(round(width * scale), round((block.height + height + footer) * scale),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    image.fill(_DARK)
    painter = QPainter(image)
    try:
        block.draw(painter, _DARK)
        painter.setPen(QPen(_RULE, 1.0))
        painter.drawLine(QPointF(0, block.height - 0.5), QPointF(width, block.height - 0.5))
        with changed_labels(panes, lambda _label: ""):
            for pane, rect in zip(panes, rects, strict=True):
                painter.drawImage(rect.topLeft() + QPointF(0, block.height),
                                  render_widget(pane, dpi))
        bars = []
        bar_top = block.height + height + (footer - BAR_THICKNESS) / 2 + 2  # ticks go up
        for pane, rect in zip(panes, rects, strict=True):
            placed = _draw_bar(painter, pane, rect.left() + MARGIN, bar_top, scale, _LIGHT_TEXT)
            if placed is not None:
                bars.append(placed)
    finally:
        painter.end()
    return Figure(image, float(dpi), block.height, QRectF(0, block.height, width, height),
                  footer, bars)


def with_header(image: QImage, header: Sequence[str], scale: float = 1.0) -> QImage:
    """``image`` under a header block drawn ``scale`` times its logical size (the image's own
    background colour, taken from its top-left pixel)."""
    if image.isNull() or not header:
        return image
    background = image.pixelColor(0, 0)
    block = _Header(header, [], image.width() / scale)
    top = round(block.height * scale)
    out = QImage(image.width(), image.height() + top, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(background)
    painter = QPainter(out)
    try:
        painter.drawImage(0, top, image)
        painter.scale(scale, scale)
        block.draw(painter, background)
    finally:
        painter.end()
    out.setDotsPerMeterX(image.dotsPerMeterX())
    out.setDotsPerMeterY(image.dotsPerMeterY())
    return out


@contextlib.contextmanager
def changed_labels(panes: Sequence[SliceView], change: Callable[[str], str]) -> Iterator[None]:
    """The panes' labels replaced by ``change(label)`` for the duration, then restored."""
    labels = [pane.label() for pane in panes]
    try:
        for pane, label in zip(panes, labels, strict=True):
            pane.set_label(change(label))
        yield
    finally:
        for pane, label in zip(panes, labels, strict=True):
            pane.set_label(label)


def render_comparison(comparison: ComparisonView, hide: Sequence[str] = ()) -> QImage:
    """The comparison's export image without the label lines that contain any of ``hide``
    (the patient's ID and name when the figure is anonymised)."""
    words = [w for w in hide if w]

    def keep(label: str) -> str:
        return "\n".join(line for line in label.split("\n")
                         if not any(w in line for w in words))

    with changed_labels(comparison.panes(), keep):
        return comparison.render_image()
