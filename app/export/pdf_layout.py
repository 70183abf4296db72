"""Page primitives of the PDF report: units, fonts, colours, blocks and their pagination.

A page is a column of :class:`Block` (a height in dots and a draw function); :func:`paginate`
puts them on A4 pages. ``app/export/pdf.py`` (text, tables, plot) and
``app/export/pdf_images.py`` (key images, change maps) build the blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter

DPI = 300
MARGIN_MM = 15.0
FOOTER_MM = 13.0
GAP_MM = 4.0
INK = QColor(20, 20, 20)
MUTED = QColor(90, 90, 90)
RULE = QColor(170, 170, 170)
WARN = QColor(150, 20, 20)
WHITE = QColor(255, 255, 255)
LOV_COLOUR = QColor("#c0392b")
PO_COLOUR = QColor("#2471a3")
TREND_COLOURS = {"progression": QColor(170, 30, 30), "absorption": QColor(20, 120, 50)}


def mm(value: float) -> float:
    """Millimetres → device dots."""
    return value * DPI / 25.4


def make_font(size_pt: float, bold: bool = False) -> QFont:
    """DejaVu Sans at ``size_pt`` (bold when asked), without ligatures."""
    f = QFont("DejaVu Sans")
    f.setStyleHint(QFont.StyleHint.SansSerif)
    f.setPointSizeF(size_pt)
    f.setBold(bold)
    # No "fi"/"fl" ligatures: the PDF's text is then found by a plain search ("opacification").
    for tag in ("liga", "clig"):
        f.setFeature(QFont.Tag(tag), 0)
    return f


def to_qimage(rgb: np.ndarray) -> QImage:
    """An RGB uint8 array as a QImage (copied)."""
    a = np.ascontiguousarray(rgb, np.uint8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


@dataclass
class Block:
    """A piece of a page: its height (dots) and how to draw it in a rectangle."""

    height: float
    draw: Callable[[QPainter, QRectF], None]
    new_page: bool = False
    split: Callable[[float], tuple[Block | None, Block]] | None = None
    """For a block taller than what is left: (part that fits or None, rest)."""


def paginate(blocks: list[Block], page_h: float, gap: float) -> list[list[Block]]:
    """Blocks per page: a block goes to the next page when it does not fit (a splittable
    block, the table, fills the page first); a block taller than a page gets a page alone."""
    pages: list[list[Block]] = [[]]
    used = 0.0
    queue = list(blocks)
    while queue:
        block = queue.pop(0)
        if pages[-1] and block.new_page:
            pages.append([])
        start = used + gap if pages[-1] else 0.0
        if start + block.height > page_h:
            head, rest = block.split(page_h - start) if block.split else (None, block)
            if head is not None or pages[-1]:
                if head is not None:
                    pages[-1].append(head)
                pages.append([])
                used = 0.0
                queue.insert(0, rest)
                continue
        pages[-1].append(block)
        used = start + block.height
    return [p for p in pages if p]


def overlay_text(p: QPainter, rect: QRectF, text: str, corner: Qt.AlignmentFlag,
                 font: QFont, colour: QColor = WHITE) -> None:
    """``text`` on a dark backing in a corner (``AlignLeft|AlignTop``...) of ``rect``."""
    fm = QFontMetricsF(font, p.device())
    pad = mm(0.8)
    w, h = max(fm.horizontalAdvance(line) for line in text.split("\n")) + 2 * pad, \
        fm.lineSpacing() * (text.count("\n") + 1) + pad
    x = rect.left() + mm(1) if corner & Qt.AlignmentFlag.AlignLeft else (
        rect.right() - w - mm(1) if corner & Qt.AlignmentFlag.AlignRight
        else rect.center().x() - w / 2)
    y = rect.top() + mm(1) if corner & Qt.AlignmentFlag.AlignTop else (
        rect.bottom() - h - mm(1) if corner & Qt.AlignmentFlag.AlignBottom
        else rect.center().y() - h / 2)
    p.fillRect(QRectF(x, y, w, h), QColor(0, 0, 0, 165))
    p.setFont(font)
    p.setPen(colour)
    p.drawText(QRectF(x + pad, y + pad / 2, w - 2 * pad, h - pad),
               int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), text)
