"""The change-map pages of the PDF report: one page per interval between consecutive exams.

Each page shows the interval (dates, days), the new / resolved / persistent volumes (mL) with
their colours (the legend), how the exams were registered, the earlier exam at the report's
levels and the later exam at the same levels and in coronal with the change colours burnt in
(:class:`~scoat_core.report.images.IntervalChange`). An interval without a change map (an exam
registered only in 2-D or not at all) gets a short page saying why.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter

from app.export.pdf_images import (
    STRIP_MM,
    caption_line,
    draw_key_image,
    draw_row,
    fit_scale,
    row_height,
    scale_bar,
    size_mm,
)
from app.export.pdf_layout import GAP_MM, INK, MUTED, WARN, Block, make_font, mm
from scoat_core import display
from scoat_core.report.content import (
    IntervalChange,
    KeyImage,
    ReportData,
    days_from_baseline,
)

CHANGE_TEXT = {"new": "new", "resolved": "resolved", "persistent": "persistent"}


def change_blocks(painter: QPainter, data: ReportData, width: float,
                  page_h: float) -> list[Block]:
    """One page per interval: the earlier exam at the levels, the later one with the change
    colours at the same levels, and the later one's coronal change map."""
    if not data.intervals:
        return []
    exams = {e.label: e for e in data.exams}
    before = {c.first_label: exams[c.first_label].axial_images() for c in data.intervals
              if c.first_label in exams}
    rows = [*before.values(), *(c.images for c in data.intervals)]
    cols = max([len(r) for r in rows] + [1])
    cell_w = (width - mm(GAP_MM) * (cols - 1)) / cols
    row_h = mm(52)
    axial_scale = fit_scale([i for r in rows for i in r], cell_w, row_h)
    coronal = [c.coronal for c in data.intervals if c.coronal is not None]
    room = page_h - mm(40) - 2 * (row_h + mm(7) + mm(STRIP_MM)) - 3 * mm(GAP_MM) - mm(STRIP_MM)
    coronal_scale = fit_scale(coronal, width * 0.62, room)
    days = dict(zip((e.label for e in data.exams), days_from_baseline(data), strict=True))
    return [_change_page(painter, c, before.get(c.first_label, []), days, width, cell_w,
                         axial_scale, coronal_scale) for c in data.intervals]


def _day_text(label: str, when: date | None, days: dict[str, int | None]) -> str:
    """"2020-02-06 (day 5)" (the label without a date; no day without one)."""
    day = days.get(label)
    text = when.isoformat() if when else label
    return text + (f" (day {day})" if day is not None else "")


def _change_page(painter: QPainter, change: IntervalChange, before: list[KeyImage],
                 days: dict[str, int | None], width: float, cell_w: float, axial_scale: float,
                 coronal_scale: float) -> Block:
    font = make_font(8)
    fm = QFontMetricsF(font, painter.device())
    first = _day_text(change.first_label, change.first_date, days)
    second = _day_text(change.second_label, change.second_date, days)
    span = f", {change.days} days" if change.days is not None else ""
    title = f"Change {first} → {second}{span}"
    text = ("Top: the earlier exam at the report's levels. Below: the later exam at the same "
            "levels (and in coronal) with the opacity that is new since the earlier exam (red), "
            "resolved (green: the earlier opacity, brought onto the later exam, no longer "
            "there) and persistent (amber). Volumes are measured on the later exam's grid; the "
            "registration is rigid + affine, so thin rims at lesion edges are expected.")
    flags = int(Qt.TextFlag.TextWordWrap)
    text_h = fm.boundingRect(QRectF(0, 0, width, 1e6), flags, text).height()
    note_h = fm.boundingRect(QRectF(0, 0, width, 1e6), flags, change.note).height()
    head_h = mm(8) + fm.lineSpacing() * 1.6 + note_h + text_h + mm(3)
    caption_h = mm(6)
    rows = [r for r in (before, change.images) if r]
    rows_h = [caption_h + row_height(r, axial_scale, cell_w) for r in rows]
    coronal_h = (size_mm(change.coronal)[1] * coronal_scale + mm(STRIP_MM)
                 if change.coronal else 0.0)
    height = head_h + sum(h + mm(GAP_MM) for h in rows_h) + coronal_h
    if not change.available:
        bold = QFontMetricsF(make_font(9, True), painter.device())
        note_h = bold.boundingRect(QRectF(0, 0, width, 1e6), flags, change.note).height()
        height = mm(9) + note_h

    def draw(p: QPainter, r: QRectF) -> None:
        p.setFont(make_font(12, True))
        p.setPen(INK)
        p.drawText(QPointF(r.left(), r.top() + mm(5)), title)
        y = r.top() + mm(8)
        if not change.available:
            p.setFont(make_font(9, True))
            p.setPen(WARN)
            p.drawText(QRectF(r.left(), y, r.width(), note_h), flags,
                       change.note[:1].upper() + change.note[1:])
            return
        _volumes_line(p, r.left(), y, change, make_font(9, True))
        y += fm.lineSpacing() * 1.6
        p.setFont(font)
        p.setPen(MUTED)
        p.drawText(QRectF(r.left(), y, r.width(), note_h), flags, change.note)
        y += note_h + mm(1)
        p.setPen(INK)
        p.drawText(QRectF(r.left(), y, r.width(), text_h), flags, text)
        y = r.top() + head_h
        captions = [f"{first}: opacity", f"{second}: change since {first}"]
        for row, row_h, caption in zip(rows, rows_h, captions[-len(rows):], strict=True):
            line = QRectF(r.left(), y, r.width(), caption_h)
            caption_line(p, line, caption)
            scale_bar(p, line, axial_scale, "images of this row: ")
            draw_row(p, row, y + caption_h, r.left(), cell_w, axial_scale)
            y += row_h + mm(GAP_MM)
        if change.coronal is not None:
            w, h = size_mm(change.coronal)
            target = QRectF(r.left() + (r.width() - w * coronal_scale) / 2, y,
                            w * coronal_scale, h * coronal_scale)
            own = change.coronal.baseline_index is None
            draw_key_image(p, change.coronal, target, coronal_scale,
                           "Own key slice" if own else "", WARN if own else INK)

    return Block(height, draw, new_page=True)


def _volumes_line(p: QPainter, x: float, y: float, change: IntervalChange,
                  font: QFont) -> None:
    """■ new 12.3 mL   ■ resolved 4.5 mL   ■ persistent 67.8 mL (the legend and the numbers)."""
    fm = QFontMetricsF(font, p.device())
    p.setFont(font)
    for key, value in (("new", change.new_ml), ("resolved", change.resolved_ml),
                       ("persistent", change.persistent_ml)):
        p.fillRect(QRectF(x, y + mm(0.6), mm(4.5), mm(3)), QColor(*display.COLOURS[key]))
        text = f"{CHANGE_TEXT[key]} {value:.1f} mL"
        p.setPen(INK)
        p.drawText(QPointF(x + mm(6), y + fm.ascent()), text)
        x += mm(6) + fm.horizontalAdvance(text) + mm(8)
    p.fillRect(QRectF(x, y + mm(1.6), mm(4.5), mm(0.6)), QColor(*display.COLOURS["lung"]))
    p.setFont(make_font(8))
    p.drawText(QPointF(x + mm(6), y + fm.ascent()), "lung contour")
