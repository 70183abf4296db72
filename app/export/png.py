"""PNG export of a view (any QWidget) or an image at a chosen DPI, written atomically.

A widget is rendered into an image ``dpi / 96`` times its on-screen size (with that device
pixel ratio, so text, lines and pixmaps are drawn at the higher resolution rather than
enlarged); the PNG records the DPI (its ``pHYs`` dots per metre) so viewers and word processors
print it at the intended size.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QWidget

from scoat_core.atomic import atomic_path

SCREEN_DPI = 96.0
INCH_M = 0.0254


def render_widget(widget: QWidget, dpi: float = 300) -> QImage:
    """The widget drawn at ``dpi`` (``dpi / 96`` times its logical size)."""
    scale = float(dpi) / SCREEN_DPI
    size = widget.size()
    image = QImage(max(1, round(size.width() * scale)), max(1, round(size.height() * scale)),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    image.fill(widget.palette().window().color())
    # QWidget.render explicitly: QGraphicsView (pyqtgraph) overrides render() for its scene.
    QWidget.render(widget, image)
    return image


def save_png(widget_or_image: QWidget | QImage | QPixmap, path: Path | str,
             dpi: float = 300) -> Path:
    """Write a PNG of a widget (rendered at ``dpi``) or of an image (as is, tagged ``dpi``);
    the file is replaced only when complete. Returns the path."""
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    path = Path(path)
    if isinstance(widget_or_image, QWidget):
        image = render_widget(widget_or_image, dpi)
    elif isinstance(widget_or_image, QPixmap):
        image = widget_or_image.toImage()
    else:
        image = QImage(widget_or_image)
    if image.isNull():
        raise ValueError("nothing to save: the image is empty")
    image.setDevicePixelRatio(1.0)
    dots_per_metre = round(dpi / INCH_M)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    with atomic_path(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise OSError(f"cannot write the PNG {path}")
    return path
