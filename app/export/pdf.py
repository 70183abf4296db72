"""The follow-up report as a PDF (QPdfWriter + QPainter): text stays text, images stay sharp.

A4 portrait at 300 dpi with 15 mm margins. Page 1: header, the per-exam table, the ground-glass /
consolidation and per-lung table, the overall change and the LOV/PO plot (the given image,
rendered for :data:`PLOT_SIZE_MM`, or a vector plot drawn here). Then the image pages of
``app/export/pdf_images.py``: key images at matched levels (one row per exam, one column per
level, one physical scale, LOV/PO as real text), the coronal images; and
``app/export/pdf_changes.py``: one change-map page per interval. Every page ends with the model,
software version, page n/N and the disclaimer. The file is written to a temporary name and
renamed, so a failure never leaves half a PDF.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QPen,
)

from app.export.pdf_changes import change_blocks
from app.export.pdf_images import coronal_blocks, key_image_blocks
from app.export.pdf_layout import (
    DPI,
    FOOTER_MM,
    GAP_MM,
    INK,
    LOV_COLOUR,
    MARGIN_MM,
    MUTED,
    PO_COLOUR,
    RULE,
    TREND_COLOURS,
    WARN,
    Block,
    make_font,
    mm,
    paginate,
)
from scoat_core.atomic import atomic_path
from scoat_core.report.content import (
    ReportData,
    days_from_baseline,
    metric_table,
    nice_ticks,
    split_table,
    summary_lines,
)

#: The size (width, height in mm) the LOV/PO plot is rendered for: the page's text width.
PLOT_SIZE_MM = (210.0 - 2 * MARGIN_MM, 95.0)


# ------------------------------------------------------------------------- text blocks
def _text_block(painter: QPainter, text: str, font: QFont, width: float,
                colour: QColor = INK, space_after: float = 0.0) -> Block:
    fm = QFontMetricsF(font, painter.device())
    flags = int(Qt.TextFlag.TextWordWrap)
    height = fm.boundingRect(QRectF(0, 0, width, 1e6), flags, text).height() + space_after

    def draw(p: QPainter, r: QRectF) -> None:
        p.setFont(font)
        p.setPen(colour)
        p.drawText(QRectF(r.left(), r.top(), r.width(), r.height()), flags, text)

    return Block(height, draw)


def _header_block(painter: QPainter, data: ReportData, width: float) -> Block:
    title, info = make_font(16, True), make_font(9)
    fm_t, fm_i = QFontMetricsF(title, painter.device()), QFontMetricsF(info, painter.device())
    dates = [e.study_date for e in data.exams if e.study_date]
    span = f" ({dates[0]} → {dates[-1]})" if len(dates) > 1 else ""
    if data.anonymised:
        left = [("Patient", data.patient_line)]
    else:
        left = [("Patient", data.patient_name.replace("^", " ").strip() or "—"),
                ("Patient ID", data.patient_id or "—")]
        if data.birth_date:
            left.append(("Birth date", data.birth_date.isoformat()))
    left.append(("Exams", f"{len(data.exams)}{span}"))
    m = data.model or {}
    model = str(m.get("name") or "unknown") + (f" (width {m['width']})" if m.get("width") else "")
    right = [("Report date", data.created.strftime("%Y-%m-%d %H:%M")),
             ("Software", f"SCOAT Follow-up {data.software_version}"),
             ("Model", model), ("Model SHA-256", str(m.get("sha256") or "—")[:12])]
    line_h = fm_i.lineSpacing() * 1.15
    rows = max(len(left), len(right))
    height = fm_t.lineSpacing() * 1.2 + fm_i.lineSpacing() * 1.3 + rows * line_h + mm(3)

    fm_b = QFontMetricsF(make_font(9, True), painter.device())

    def pairs(p: QPainter, x: float, y: float, w: float, items) -> None:
        label_w = max(fm_b.horizontalAdvance(k) for k, _ in items) + mm(3)
        for i, (k, v) in enumerate(items):
            p.setFont(make_font(9, True))
            p.setPen(MUTED)
            p.drawText(QRectF(x, y + i * line_h, label_w, line_h), Qt.AlignmentFlag.AlignLeft, k)
            p.setFont(info)
            p.setPen(INK)
            rect = QRectF(x + label_w, y + i * line_h, w - label_w, line_h)
            p.drawText(rect, Qt.AlignmentFlag.AlignLeft,
                       fm_i.elidedText(v, Qt.TextElideMode.ElideRight, rect.width()))

    def draw(p: QPainter, r: QRectF) -> None:
        p.setFont(title)
        p.setPen(INK)
        p.drawText(QPointF(r.left(), r.top() + fm_t.ascent()), data.title)
        y = r.top() + fm_t.lineSpacing() * 1.2
        p.setFont(make_font(9, True))
        p.setPen(WARN)
        p.drawText(QPointF(r.left(), y + fm_i.ascent()), data.disclaimer)
        y += fm_i.lineSpacing() * 1.3
        split = r.width() * 0.5
        pairs(p, r.left(), y, split - mm(3), left)
        pairs(p, r.left() + split, y, r.width() - split, right)
        p.setPen(QPen(RULE, mm(0.3)))
        p.drawLine(QPointF(r.left(), r.bottom() - mm(1)), QPointF(r.right(), r.bottom() - mm(1)))

    return Block(height, draw)


# ------------------------------------------------------------------------- table
def _table_block(painter: QPainter, header: list[str], rows: list[list[str]],
                 width: float) -> Block:
    head_f, cell_f = make_font(7.5, True), make_font(8)
    fm_h, fm_c = QFontMetricsF(head_f, painter.device()), QFontMetricsF(cell_f, painter.device())
    pad = mm(1.2)
    natural = [max([fm_h.horizontalAdvance(h.split(" (")[0]) * 1.05,
                    fm_h.horizontalAdvance(h) * 0.6]
                   + [fm_c.horizontalAdvance(r[i]) for r in rows]) + 2 * pad
               for i, h in enumerate(header)]
    widths = [w * width / sum(natural) for w in natural]
    head_h = fm_h.lineSpacing() * 2 + 2 * pad
    row_h = fm_c.lineSpacing() + 2 * pad
    numeric = [i for i, h in enumerate(header) if h not in ("Exam", "Date", "Trend")]

    def make(chunk: list[list[str]], first: int) -> Block:
        def draw(p: QPainter, r: QRectF) -> None:
            p.fillRect(QRectF(r.left(), r.top(), r.width(), head_h), QColor(228, 232, 238))
            x = r.left()
            p.setFont(head_f)
            p.setPen(INK)
            for i, (h, w) in enumerate(zip(header, widths, strict=True)):
                align = Qt.AlignmentFlag.AlignRight if i in numeric else Qt.AlignmentFlag.AlignLeft
                p.drawText(QRectF(x + pad, r.top() + pad, w - 2 * pad, head_h - 2 * pad),
                           int(align | Qt.AlignmentFlag.AlignBottom | Qt.TextFlag.TextWordWrap),
                           h)
                x += w
            y = r.top() + head_h
            p.setFont(cell_f)
            for k, row in enumerate(chunk):
                if (first + k) % 2:
                    p.fillRect(QRectF(r.left(), y, r.width(), row_h), QColor(245, 246, 248))
                x = r.left()
                for i, (text, w) in enumerate(zip(row, widths, strict=True)):
                    cell = QRectF(x + pad, y, w - 2 * pad, row_h)
                    p.setPen(TREND_COLOURS.get(text, INK) if header[i] == "Trend" else INK)
                    align = (Qt.AlignmentFlag.AlignRight if i in numeric
                             else Qt.AlignmentFlag.AlignLeft)
                    p.drawText(cell, int(align | Qt.AlignmentFlag.AlignVCenter),
                               fm_c.elidedText(text, Qt.TextElideMode.ElideRight, cell.width()))
                    x += w
                y += row_h
            p.setPen(QPen(RULE, mm(0.25)))
            p.drawLine(QPointF(r.left(), r.top() + head_h), QPointF(r.right(), r.top() + head_h))
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))

        def split(avail: float) -> tuple[Block | None, Block]:
            n = int((avail - head_h) // row_h)
            if n < 1 or n >= len(chunk):
                return None, block
            return make(chunk[:n], first), make(chunk[n:], first + n)

        block = Block(head_h + row_h * len(chunk), draw, split=split)
        return block

    return make(rows, 0)


# ------------------------------------------------------------------------- plot
def _image_block(image: QImage, width: float, max_h: float) -> Block:
    aspect = image.height() / max(image.width(), 1)
    w = min(width, max_h / aspect)
    h = w * aspect

    def draw(p: QPainter, r: QRectF) -> None:
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(QRectF(r.left() + (r.width() - w) / 2, r.top(), w, h), image)

    return Block(h, draw)


def _plot_block(data: ReportData, width: float, height: float) -> Block:
    """Two vector panels over days since baseline: LOV (mL) above, PO (%) below."""
    days = days_from_baseline(data)
    xs = [float(d) if d is not None else float(i) for i, d in enumerate(days)]
    panels = (("lov_ml", "LOV (mL)", LOV_COLOUR, "{:.0f}"),
              ("po_percent", "PO (%)", PO_COLOUR, "{:.1f}"))

    def draw(p: QPainter, r: QRectF) -> None:
        small, tick = make_font(7.5), make_font(7)
        fm = QFontMetricsF(small, p.device())
        left, bottom = mm(16), fm.lineSpacing() * 2.6
        panel_h = (r.height() - bottom - mm(4)) / 2
        x0, x1 = r.left() + left, r.right() - mm(4)
        lo, hi = min(xs), max(xs)
        span = hi - lo or 1.0

        def px(x: float) -> float:
            if hi == lo:
                return (x0 + x1) / 2
            return x0 + (x1 - x0) * (0.04 + 0.92 * (x - lo) / span)

        for k, (key, label, colour, fmt) in enumerate(panels):
            top = r.top() + k * (panel_h + mm(4))
            values = [float(e.metrics.get(key) or 0.0) for e in data.exams]
            ticks = nice_ticks(0.0, max([*values, 1e-6]) * 1.2, 4)
            vmax = ticks[-1]

            def py(v: float, top: float = top, vmax: float = vmax) -> float:
                return top + panel_h - panel_h * v / vmax

            p.setFont(tick)
            for t in ticks:
                p.setPen(QPen(QColor(225, 225, 225), mm(0.2)))
                p.drawLine(QPointF(x0, py(t)), QPointF(x1, py(t)))
                p.setPen(MUTED)
                p.drawText(QRectF(r.left(), py(t) - mm(2), left - mm(1.5), mm(4)),
                           int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                           f"{t:g}")
            p.setPen(QPen(MUTED, mm(0.25)))
            p.drawRect(QRectF(x0, top, x1 - x0, panel_h))
            p.save()
            p.setFont(make_font(8, True))
            p.setPen(colour)
            p.translate(r.left() + fm.ascent() * 0.2, top + panel_h / 2)
            p.rotate(-90)
            p.drawText(QRectF(-panel_h / 2, 0, panel_h, fm.lineSpacing() * 1.2),
                       int(Qt.AlignmentFlag.AlignCenter), label)
            p.restore()
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            path = QPainterPath()
            for i, (x, v) in enumerate(zip(xs, values, strict=True)):
                (path.lineTo if i else path.moveTo)(QPointF(px(x), py(v)))
            p.setPen(QPen(colour, mm(0.6)))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
            p.setBrush(QBrush(colour))
            p.setFont(small)
            last = -1e9
            for x, v in zip(xs, values, strict=True):
                p.setPen(QPen(colour, mm(0.2)))
                p.drawEllipse(QPointF(px(x), py(v)), mm(1.0), mm(1.0))
                if px(x) - last >= mm(9):  # value labels only where they do not collide
                    p.setPen(INK)
                    p.drawText(QRectF(px(x) - mm(12), py(v) - mm(6), mm(24), mm(4)),
                               int(Qt.AlignmentFlag.AlignCenter), fmt.format(v))
                    last = px(x)
            p.setBrush(Qt.BrushStyle.NoBrush)
        p.setFont(tick)
        p.setPen(INK)
        base = r.top() + 2 * panel_h + mm(4) + mm(1)
        last = -1e9
        for exam, x, d in zip(data.exams, xs, days, strict=True):
            if px(x) - last < mm(17):
                continue
            last = px(x)
            text = f"day {d}" if d is not None else exam.label
            if exam.study_date:
                text += f"\n{exam.study_date.isoformat()}"
            p.drawText(QRectF(px(x) - mm(15), base, mm(30), bottom),
                       int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), text)

    return Block(height, draw)


# ------------------------------------------------------------------------- page furniture
def _draw_footer(p: QPainter, data: ReportData, n: int, total: int, r: QRectF) -> None:
    font, bold = make_font(7), make_font(7.5, True)
    fm = QFontMetricsF(font, p.device())
    p.setPen(QPen(RULE, mm(0.25)))
    p.drawLine(QPointF(r.left(), r.top() + mm(1)), QPointF(r.right(), r.top() + mm(1)))
    line = fm.lineSpacing()
    y = r.top() + mm(2)
    p.setFont(font)
    p.setPen(MUTED)
    left = f"{data.title} · {data.patient_line} · {data.created:%Y-%m-%d}"
    p.drawText(QRectF(r.left(), y, r.width() * 0.8, line), int(Qt.AlignmentFlag.AlignLeft),
               fm.elidedText(left, Qt.TextElideMode.ElideRight, r.width() * 0.8))
    p.drawText(QRectF(r.left(), y, r.width(), line), int(Qt.AlignmentFlag.AlignRight),
               f"Page {n}/{total}")
    p.drawText(QRectF(r.left(), y + line, r.width(), line), int(Qt.AlignmentFlag.AlignLeft),
               f"{data.model_line} · SCOAT Follow-up {data.software_version}")
    p.setFont(bold)
    p.setPen(WARN)
    p.drawText(QRectF(r.left(), y + 2 * line, r.width(), line * 1.2),
               int(Qt.AlignmentFlag.AlignHCenter), data.disclaimer)


def _blocks(painter: QPainter, data: ReportData, plot_image: QImage | None, width: float,
            page_h: float) -> list[Block]:
    section = make_font(12, True)
    header, rows = metric_table(data)
    split_header, split_rows = split_table(data)
    if rows and all(r[0] == r[1] for r in rows):  # labels are the dates: no Exam column
        header, rows = header[1:], [r[1:] for r in rows]
        split_header, split_rows = split_header[1:], [r[1:] for r in split_rows]
    blocks = [_header_block(painter, data, width),
              _text_block(painter, "Metrics per exam", section, width, space_after=mm(1)),
              _table_block(painter, header, rows, width),
              _text_block(painter, "Ground glass and consolidation, per lung", section, width,
                          space_after=mm(1)),
              _table_block(painter, split_header, split_rows, width),
              _text_block(painter, "\n".join(summary_lines(data)), make_font(8), width, MUTED),
              _text_block(painter, "LOV and PO over time", section, width, space_after=mm(1))]
    if plot_image is not None and not plot_image.isNull():
        blocks.append(_image_block(plot_image, width, page_h * 0.45))
    else:
        blocks.append(_plot_block(data, width, mm(100)))
    blocks += key_image_blocks(painter, data, width, page_h)
    blocks += coronal_blocks(painter, data, width, page_h)
    blocks += change_blocks(painter, data, width, page_h)
    return blocks


def _render(data: ReportData, target: Path, plot_image: QImage | None) -> int:
    writer = QPdfWriter(str(target))
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait,
                                     QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
                                     QPageLayout.Unit.Millimeter))
    writer.setTitle(data.title)
    writer.setCreator(f"SCOAT Follow-up {data.software_version}")
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write a PDF to {target}")
    try:
        width, height = float(writer.width()), float(writer.height())
        page_h = height - mm(FOOTER_MM)
        gap = mm(GAP_MM)
        pages = paginate(_blocks(painter, data, plot_image, width, page_h), page_h, gap)
        for n, page in enumerate(pages, 1):
            if n > 1:
                writer.newPage()
            y = 0.0
            for block in page:
                painter.save()
                block.draw(painter, QRectF(0, y, width, block.height))
                painter.restore()
                y += block.height + gap
            _draw_footer(painter, data, n, len(pages),
                         QRectF(0, height - mm(FOOTER_MM), width, mm(FOOTER_MM)))
    finally:
        ok = painter.end()
    if not ok:
        raise OSError(f"writing the PDF {target} failed")
    del writer  # closes the file
    return len(pages)


def write_pdf(data: ReportData, path: Path, plot_image: QImage | None = None) -> int:
    """Write the report to ``path`` (atomically); return the number of pages."""
    path = Path(path)
    with atomic_path(path) as tmp:
        pages = _render(data, tmp, plot_image)
    return pages
