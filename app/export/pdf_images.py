"""The key-image pages of the PDF report, and the image drawing the change-map pages share.

* Key images: a row per exam, a column per level (the axial levels chosen on the baseline and
  mapped to each exam through the registration, :mod:`scoat_core.report.levels`), all at one
  physical scale; an exam that could not be matched shows its own key slice and says why.
* Coronal images: one per exam at the matched coronal level, two per row, one scale.

The change-map pages, one per interval, are in ``app/export/pdf_changes.py``. Nothing but the
orientation letters is drawn over the lungs: the level and the slice (InstanceNumber) are under
each image, with a 50 mm scale bar where there is room; each page's header carries the bar of
its common scale.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

from app.export.pdf_layout import (
    GAP_MM,
    INK,
    MUTED,
    WARN,
    Block,
    make_font,
    mm,
    overlay_text,
    to_qimage,
)
from scoat_core import display
from scoat_core.report.content import (
    KeyImage,
    ReportData,
    ReportExam,
    days_from_baseline,
    exam_caption,
    image_label,
)

#: Exam rows of key images per page, and of coronal images (two exams per row).
KEY_ROWS_PER_PAGE = 4
CORONAL_ROWS_PER_PAGE = 2
SCALE_BAR_MM = 50.0
#: The strip under each image: level, slice and scale bar (nothing is drawn over the lungs).
STRIP_MM = 4.5
ALIGN = Qt.AlignmentFlag


def size_mm(image: KeyImage) -> tuple[float, float]:
    """(width, height) in mm of a key image (0 without pixels)."""
    if image.rgb is None:
        return 0.0, 0.0
    row_mm, col_mm = image.pixel_mm
    return image.rgb.shape[1] * col_mm, image.rgb.shape[0] * row_mm


def fit_scale(images: list[KeyImage], cell_w: float, cell_h: float) -> float:
    """Dots per mm at which every image fits a ``cell_w`` × ``cell_h`` cell (one scale for all,
    so that sizes compare across exams)."""
    scale = float("inf")
    for image in images:
        w, h = size_mm(image)
        if w > 0 and h > 0:
            scale = min(scale, cell_w / w, cell_h / h)
    return scale if scale != float("inf") else mm(1)


def draw_key_image(p: QPainter, image: KeyImage, target: QRectF, scale: float,
                   tag: str = "", tag_colour: QColor = INK) -> None:
    """The image in ``target`` with only the orientation letters on it (nothing hides the
    lungs), and under it, in a strip of :data:`STRIP_MM`: the level ``tag`` and the slice on
    the left, a 50 mm scale bar on the right."""
    strip = QRectF(target.left(), target.bottom(), target.width(), mm(STRIP_MM))
    if image.rgb is None:
        p.fillRect(target, QColor(235, 235, 235))
        p.setPen(MUTED)
        p.setFont(make_font(8))
        p.drawText(target, int(ALIGN.AlignCenter | Qt.TextFlag.TextWordWrap),
                   image.note or "no image")
        _strip_text(p, strip, tag, "", tag_colour)
        return
    qimage = to_qimage(image.rgb)
    # Resample once to the target resolution so every viewer and printer shows the same
    # smoothly interpolated image (with its overlay) instead of its own interpolation.
    sized = qimage.scaled(round(target.width()), round(target.height()),
                          Qt.AspectRatioMode.IgnoreAspectRatio,
                          Qt.TransformationMode.SmoothTransformation)
    p.drawImage(target, sized)
    for side, align in (("left", ALIGN.AlignLeft | ALIGN.AlignVCenter),
                        ("right", ALIGN.AlignRight | ALIGN.AlignVCenter)):
        if image.letters.get(side):
            overlay_text(p, target, image.letters[side], align, make_font(9, True))
    text = f"{tag} · {image.caption}" if tag and image.caption else tag or image.caption
    text_w = QFontMetricsF(make_font(7.5, True), p.device()).horizontalAdvance(text)
    bar_w = _bar_width(p, scale)
    if text_w + bar_w + mm(2) <= strip.width():  # else the page header carries the bar
        scale_bar(p, strip, scale)
    _strip_text(p, strip, tag, image.caption, tag_colour)


def _strip_text(p: QPainter, rect: QRectF, tag: str, caption: str, colour: QColor) -> None:
    """"Level 2 · Im 93 (slice 93/260)" under an image: the tag bold in ``colour``."""
    bold, plain = make_font(7.5, True), make_font(7.5)
    fm_b, fm = QFontMetricsF(bold, p.device()), QFontMetricsF(plain, p.device())
    x = rect.left()
    flags = int(ALIGN.AlignLeft | ALIGN.AlignVCenter)
    if tag:
        p.setFont(bold)
        p.setPen(colour)
        p.drawText(QRectF(x, rect.top(), rect.width(), rect.height()), flags, tag)
        x += fm_b.horizontalAdvance(tag + " · ")
        if caption:
            p.setPen(MUTED)
            p.drawText(QRectF(x - fm_b.horizontalAdvance("· "), rect.top(), rect.width(),
                              rect.height()), flags, "·")
    if caption:
        p.setFont(plain)
        p.setPen(INK)
        room = QRectF(x, rect.top(), max(rect.right() - x, 0.0), rect.height())
        p.drawText(room, flags, fm.elidedText(caption, Qt.TextElideMode.ElideRight,
                                              room.width()))


def scale_bar(p: QPainter, strip: QRectF, scale: float, prefix: str = "") -> float:
    """A 50 mm scale bar at the right of ``strip`` (left out when it would take more than half
    of it); returns the width it took."""
    bar = SCALE_BAR_MM * scale
    font = make_font(7.5)
    fm = QFontMetricsF(font, p.device())
    label = f"{prefix}{SCALE_BAR_MM:.0f} mm"
    total = bar + fm.horizontalAdvance(label) + mm(3)
    if total >= strip.width() / 2:
        return 0.0
    y = strip.center().y()
    x1 = strip.right() - mm(0.5)
    x0 = x1 - bar
    p.setPen(QPen(INK, mm(0.4)))
    p.drawLine(QPointF(x0, y), QPointF(x1, y))
    for x in (x0, x1):
        p.drawLine(QPointF(x, y - mm(0.9)), QPointF(x, y + mm(0.9)))
    p.setFont(font)
    p.drawText(QRectF(x0 - fm.horizontalAdvance(label) - mm(1.5), strip.top(),
                      fm.horizontalAdvance(label) + mm(1), strip.height()),
               int(ALIGN.AlignRight | ALIGN.AlignVCenter), label)
    return total + mm(2)


def _bar_width(p: QPainter, scale: float) -> float:
    """Width (dots) :func:`_scale_bar` takes with its label."""
    fm = QFontMetricsF(make_font(7.5), p.device())
    return SCALE_BAR_MM * scale + fm.horizontalAdvance(f"{SCALE_BAR_MM:.0f} mm") + mm(5)


def level_tag(image: KeyImage, k: int) -> tuple[str, QColor]:
    """"Level 2" for a matched image, "Own key slice" (in red) for a fallback."""
    if image.baseline_index is None:
        return "Own key slice", WARN
    return f"Level {k + 1}", INK


def draw_row(p: QPainter, images: list[KeyImage], top: float, left: float, cell_w: float,
              scale: float) -> None:
    """Images side by side in cells of ``cell_w`` (each centred in its cell), from ``top``."""
    for k, image in enumerate(images):
        w, h = size_mm(image)
        x = left + k * (cell_w + mm(GAP_MM))
        if image.rgb is None:
            w, h = cell_w / scale, _placeholder_h(cell_w) / scale
        target = QRectF(x + (cell_w - w * scale) / 2, top, w * scale, h * scale)
        tag, colour = level_tag(image, k)
        draw_key_image(p, image, target, scale, tag, colour)


def _placeholder_h(cell_w: float) -> float:
    """Height (dots) of the grey box standing for a level outside an exam."""
    return cell_w * 0.6


def caption_line(p: QPainter, rect: QRectF, text: str, right: str = "") -> None:
    """A caption in bold, ``right`` (LOV and PO) at its right end."""
    bold = make_font(9, True)
    fm = QFontMetricsF(bold, p.device())
    p.setFont(bold)
    p.setPen(INK)
    end = rect.right()
    if right:
        p.drawText(rect, int(ALIGN.AlignRight | ALIGN.AlignVCenter), right)
        end -= fm.horizontalAdvance(right) + mm(4)
    head = QRectF(rect.left(), rect.top(), end - rect.left(), rect.height())
    p.drawText(head, int(ALIGN.AlignLeft | ALIGN.AlignVCenter),
               fm.elidedText(text, Qt.TextElideMode.ElideRight, head.width()))


def _section_block(painter: QPainter, title: str, text: str, width: float,
                   legend: list[tuple[str, str]], scale: float | None = None) -> Block:
    """A new page's title, its explanation, a colour legend (overlay key → text) and, at
    ``scale`` (dots per mm), the 50 mm bar of the page's images at the legend's right end."""
    font = make_font(8)
    fm = QFontMetricsF(font, painter.device())
    flags = int(Qt.TextFlag.TextWordWrap)
    text_h = fm.boundingRect(QRectF(0, 0, width, 1e6), flags, text).height()
    legend_h = fm.lineSpacing() * 1.4 if legend else 0.0

    def draw(p: QPainter, r: QRectF) -> None:
        p.setFont(make_font(12, True))
        p.setPen(INK)
        p.drawText(QPointF(r.left(), r.top() + mm(5)), title)
        p.setFont(font)
        p.drawText(QRectF(r.left(), r.top() + mm(7), r.width(), text_h), flags, text)
        _legend(p, r.left(), r.top() + mm(7) + text_h + mm(1), legend, font)
        if scale is not None:  # at the right end of the title line
            scale_bar(p, QRectF(r.left(), r.top() + mm(2), r.width(), mm(4)), scale,
                       "scale of all images: ")

    return Block(mm(8) + text_h + legend_h, draw, new_page=True)


def _legend(p: QPainter, x: float, y: float, items: list[tuple[str, str]],
            font: QFont) -> None:
    fm = QFontMetricsF(font, p.device())
    p.setFont(font)
    for key, name in items:
        p.fillRect(QRectF(x, y + mm(0.5), mm(4), mm(2.5)), QColor(*display.COLOURS[key]))
        p.setPen(INK)
        p.drawText(QPointF(x + mm(5.5), y + fm.ascent()), name)
        x += mm(5.5) + fm.horizontalAdvance(name) + mm(6)


OPACITY_LEGEND = [("opacity", "opacity (ground glass and consolidation)"),
                  ("high", "high-opacity part (> −200 HU)"), ("lung", "lung contour")]


def _levels_text(data: ReportData) -> str:
    matched = any(e.levels for e in data.exams)
    if not matched:
        return ("Slices with the most opacity in each exam, lung window (W 1500 / L −600), "
                "radiological orientation, one scale for all images.")
    return ("The same anatomical levels in every exam: chosen on the baseline where the series "
            "has the most opacity, and found in each follow-up through the lung registration "
            "(Compare tab); levels left to right = head to feet. Lung window (W 1500 / L −600), "
            "radiological orientation, one scale for all images. An exam that cannot be "
            "registered in 3-D shows its own key slice instead (\u201cOwn key slice\u201d).")


def key_image_blocks(painter: QPainter, data: ReportData, width: float,
                     page_h: float) -> list[Block]:
    """The key-image pages: a section header, then one row of levels per exam."""
    title = "Key images at matched levels" if any(e.levels for e in data.exams) else "Key images"
    head_h = _section_block(painter, title, _levels_text(data), width, OPACITY_LEGEND).height
    rows = [e.axial_images() for e in data.exams]
    cols = max([len(r) for r in rows] + [1])
    caption_h = mm(6)
    cell_w = (width - mm(GAP_MM) * (cols - 1)) / cols
    room = page_h - head_h - KEY_ROWS_PER_PAGE * (caption_h + mm(STRIP_MM) + mm(GAP_MM) * 1.5)
    scale = fit_scale([i for r in rows for i in r], cell_w, room / KEY_ROWS_PER_PAGE)
    blocks = [_section_block(painter, title, _levels_text(data), width, OPACITY_LEGEND, scale)]
    for exam, images, day in zip(data.exams, rows, days_from_baseline(data), strict=True):
        blocks.append(_exam_row(exam, images, day, scale, cell_w, caption_h))
    return blocks


def row_height(images: list[KeyImage], scale: float, cell_w: float) -> float:
    """Height (dots) of a row of images with the strips under them."""
    heights = [size_mm(i)[1] * scale for i in images if i.rgb is not None]
    if any(i.rgb is None for i in images):
        heights.append(_placeholder_h(cell_w))
    return max(heights, default=mm(10)) + mm(STRIP_MM)


def _exam_row(exam: ReportExam, images: list[KeyImage], day: int | None, scale: float,
              cell_w: float, caption_h: float) -> Block:
    note = (f"Own key slice, not at the matched levels: {exam.level_note}"
            if exam.level_note else "")
    note_h = mm(4.5) if note else 0.0
    height = caption_h + note_h + row_height(images, scale, cell_w)

    def draw(p: QPainter, r: QRectF) -> None:
        caption_line(p, QRectF(r.left(), r.top(), r.width(), caption_h),
                      exam_caption(exam, day), right=image_label(exam))
        top = r.top() + caption_h
        if note:
            font = make_font(8)
            p.setFont(font)
            p.setPen(WARN)
            p.drawText(QRectF(r.left(), top - mm(0.8), r.width(), note_h),
                       int(ALIGN.AlignLeft | ALIGN.AlignTop),
                       QFontMetricsF(font, p.device()).elidedText(
                           note, Qt.TextElideMode.ElideRight, r.width()))
            top += note_h
        if not images:
            p.setFont(make_font(8))
            p.setPen(INK)
            p.drawText(QPointF(r.left(), top + mm(4)), "No key images.")
            return
        draw_row(p, images, top, r.left(), cell_w, scale)

    return Block(height, draw)


def coronal_blocks(painter: QPainter, data: ReportData, width: float,
                   page_h: float) -> list[Block]:
    """The coronal page(s): one image per exam at the matched coronal level, two per row."""
    pairs = [(e, e.coronal_image(), d) for e, d in zip(data.exams, days_from_baseline(data),
                                                       strict=True)]
    pairs = [(e, i, d) for e, i, d in pairs if i is not None]
    if not pairs:
        return []
    matched = any(e.coronal_level is not None for e in data.exams)
    title = "Coronal key images" + (" at a matched level" if matched else "")
    text = ("One coronal slice per exam" + (" at the same anatomy (chosen on the baseline where "
                                            "the series has the most opacity, found in each "
                                            "exam through the registration)"
                                            if matched else ", with the most opacity")
            + ". Lung window, radiological orientation, one scale for the images of this page.")
    head_h = _section_block(painter, title, text, width, OPACITY_LEGEND).height
    caption_h = mm(12)
    cell_w = (width - mm(GAP_MM)) / 2
    room = page_h - head_h - CORONAL_ROWS_PER_PAGE * (caption_h + mm(STRIP_MM)
                                                      + mm(GAP_MM) * 1.5)
    scale = fit_scale([i for _, i, _ in pairs], cell_w, room / CORONAL_ROWS_PER_PAGE)
    blocks = [_section_block(painter, title, text, width, OPACITY_LEGEND, scale)]
    for k in range(0, len(pairs), 2):
        blocks.append(_coronal_row(pairs[k:k + 2], scale, cell_w, caption_h))
    missing = [e for e in data.exams if e.coronal_image() is None]
    if missing:
        names = ", ".join(str(e.study_date or e.label) for e in missing)
        blocks.append(_text(painter, f"No coronal image of {names}: the exam covers too little "
                                     "of the lungs along the body axis (single or few slices).",
                            width))
    return blocks


def _text(painter: QPainter, text: str, width: float) -> Block:
    """A wrapped line of 8 pt text in the warning colour."""
    font = make_font(8)
    fm = QFontMetricsF(font, painter.device())
    flags = int(Qt.TextFlag.TextWordWrap)
    height = fm.boundingRect(QRectF(0, 0, width, 1e6), flags, text).height()

    def draw(p: QPainter, r: QRectF) -> None:
        p.setFont(font)
        p.setPen(WARN)
        p.drawText(r, flags, text)

    return Block(height, draw)


def _coronal_row(items, scale: float, cell_w: float, caption_h: float) -> Block:
    height = caption_h + max(size_mm(i)[1] * scale for _, i, _ in items) + mm(STRIP_MM)

    def draw(p: QPainter, r: QRectF) -> None:
        for k, (exam, image, day) in enumerate(items):
            x = r.left() + k * (cell_w + mm(GAP_MM))
            p.setFont(make_font(8, True))
            p.setPen(INK)
            p.drawText(QRectF(x, r.top(), cell_w, caption_h - mm(1)),
                       int(ALIGN.AlignLeft | ALIGN.AlignBottom | Qt.TextFlag.TextWordWrap),
                       f"{exam_caption(exam, day)}\n{image_label(exam)}")
            w, h = size_mm(image)
            target = QRectF(x + (cell_w - w * scale) / 2, r.top() + caption_h, w * scale,
                            h * scale)
            own = image.baseline_index is None and exam.coronal_level is not None
            draw_key_image(p, image, target, scale, "Own key slice" if own else "",
                           WARN if own else INK)

    return Block(height, draw)
