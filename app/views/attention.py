"""SCOAT-Net spatial attention maps of the current axial slice, as heat maps over the CT.

The maps x_M^{i,j} (eq. 1 of the paper, each in [0, 1]) gate the decoder nodes X^{i,j}; the
panel shows those of the paper's Fig. 5 (x_M^{1,1}, x_M^{2,2}, x_M^{1,3}) or all six, computed
in a background job for the slice shown. :func:`heatmap_rgba` gives the same colours as an RGBA
overlay for the slice view.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.jobs.workers import Job, run_job
from scoat_core.display import PRESETS, pixel_size_mm, window_to_uint8

if TYPE_CHECKING:
    from scoat_core.analysis.pipeline import LoadedModel

#: The maps of the paper's Fig. 5, in its order.
FIG5_KEYS = ("x_M^{1,1}", "x_M^{2,2}", "x_M^{1,3}")
THUMBNAIL_PX = 200
DEBOUNCE_MS = 150

@functools.cache
def _turbo_lut() -> np.ndarray:
    from matplotlib import colormaps

    return np.round(colormaps["turbo"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def turbo(values: np.ndarray) -> np.ndarray:
    """RGB uint8 (…, 3) of the Turbo colour map (Google's improved jet, as in matplotlib) for
    values in [0, 1] (clipped; NaN as 0)."""
    t = np.clip(np.nan_to_num(np.asarray(values, np.float32)), 0.0, 1.0)
    return _turbo_lut()[np.round(t * 255).astype(np.intp)]


def heatmap_rgba(map2d: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """RGBA uint8 (H, W, 4) heat map of a [0, 1] map: Turbo colours, constant ``alpha``
    (transparent where the map is NaN). Draw it over the slice as an overlay."""
    m = np.asarray(map2d, np.float32)
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {m.shape}")
    out = np.empty((*m.shape, 4), np.uint8)
    out[..., :3] = turbo(m)
    out[..., 3] = round(255 * min(max(float(alpha), 0.0), 1.0))
    out[np.isnan(m), 3] = 0
    return out


def blend_heatmap(gray: np.ndarray, map2d: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """RGB uint8: the grey slice with the heat map blended on top."""
    rgba = heatmap_rgba(map2d, alpha).astype(np.float32)
    a = rgba[..., 3:] / 255.0
    grey = np.repeat(np.asarray(gray, np.float32)[..., None], 3, axis=2)
    return np.round(grey * (1 - a) + rgba[..., :3] * a).astype(np.uint8)


def node_label_html(key: str) -> str:
    """'x_M^{1,1}' → 'x<sub>M</sub><sup>1,1</sup>' (as the paper writes it)."""
    match = re.fullmatch(r"x_M\^\{(\d+),(\d+)\}", key)
    if not match:
        return key
    return f"<i>x</i><sub>M</sub><sup>{match[1]},{match[2]}</sup>"


def _pixmap(rgb: np.ndarray, size: tuple[int, int] | None = None) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image)
    if size is not None:
        pixmap = pixmap.scaled(size[0], size[1], Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    return pixmap


class ColourBar(QWidget):
    """Vertical Turbo bar (1 at the top, 0 at the bottom) with tick labels, as tall as the
    thumbnails."""

    def __init__(self, height: int = THUMBNAIL_PX, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar_width = 14
        self.set_bar_height(height)

    def set_bar_height(self, height: int) -> None:
        values = np.linspace(1.0, 0.0, max(height, 2))[:, None].repeat(self.bar_width, axis=1)
        self.gradient = _pixmap(turbo(values))
        self.setFixedSize(self.bar_width + 34, height)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self.gradient)
        painter.setPen(self.palette().color(self.foregroundRole()))
        metrics = painter.fontMetrics()
        h = self.height()
        for value in (1.0, 0.5, 0.0):
            y = round((1 - value) * (h - 1))
            painter.drawLine(self.bar_width, y, self.bar_width + 3, y)
            baseline = min(max(y + metrics.ascent() // 2, metrics.ascent()), h - metrics.descent())
            painter.drawText(self.bar_width + 6, baseline, f"{value:g}")
        painter.end()


#: A LoadedModel, a callable returning one (called in the background), or None: the shipped model.
ModelSource = Union["LoadedModel", Callable[[], "LoadedModel"], None]


class AttentionPanel(QWidget):
    """Attention heat maps of the current axial slice; computed in the background."""

    maps_ready = Signal(int)
    """Axial slice index whose maps are now shown."""
    failed = Signal(str)

    def __init__(self, model: ModelSource = None, parent: QWidget | None = None,
                 alpha: float = 0.5) -> None:
        super().__init__(parent)
        self._model_source = model
        self._model: Any = None
        self.alpha = alpha
        self.volume: Any = None
        self.z = 0
        self.maps: dict[str, np.ndarray] = {}
        self.maps_z: int | None = None
        self._job: Job | None = None
        self._pending = False
        self._generation = 0
        self._cells: list[QWidget] = []
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._start)

        self.title = QLabel("SCOAT-Net spatial attention")
        self.title.setStyleSheet("font-weight: bold")
        self.status = QLabel("No exam loaded.")
        self.status.setStyleSheet("color: gray")
        self.all_nodes = QCheckBox("All six nodes")
        self.all_nodes.setToolTip("Show every attention node, not only those of the paper's "
                                  "Fig. 5")
        self.all_nodes.toggled.connect(lambda _checked: self._show_maps())
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        self.bar = ColourBar()
        maps_row = QHBoxLayout()
        maps_row.addLayout(self.grid)
        maps_row.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignTop)
        maps_row.addStretch(1)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.all_nodes)
        note = QLabel("Where the network looks when it segments opacity (1 = strongest "
                      "attention). Not a segmentation; for research.")
        note.setWordWrap(True)
        note.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(maps_row)
        layout.addWidget(self.status)
        layout.addWidget(note)
        layout.addStretch(1)
        self.bar.setVisible(False)

    # -- public -----------------------------------------------------------------------------
    def set_volume(self, volume: Any, z: int | None = None) -> None:
        """Follow ``volume`` (a HU Volume) from slice ``z`` (default: the middle)."""
        self.volume = volume
        self._generation += 1  # results for the previous volume are dropped
        self.maps, self.maps_z = {}, None
        self._show_maps()
        self.set_slice(volume.shape[0] // 2 if z is None else z)

    def set_slice(self, z: int) -> None:
        """Show the maps of axial slice ``z`` (computed after a short pause while scrolling)."""
        if self.volume is None:
            return
        self.z = int(np.clip(z, 0, self.volume.shape[0] - 1))
        self.status.setText(f"Computing attention maps of slice {self.z + 1}…")
        self._debounce.start()

    def busy(self) -> bool:
        """True while maps are being computed or about to be."""
        running = self._job is not None and not self._job.is_done()
        return running or self._pending or self._debounce.isActive()

    def map_rgba(self, key: str) -> np.ndarray | None:
        """Heat-map overlay of one shown map (for the slice view), or None."""
        return heatmap_rgba(self.maps[key], self.alpha) if key in self.maps else None

    def shown_keys(self) -> list[str]:
        keys = list(self.maps)
        if self.all_nodes.isChecked():
            return sorted(keys, key=_node_order)
        fig5 = [k for k in FIG5_KEYS if k in self.maps]
        return fig5 or sorted(keys, key=_node_order)

    # -- background job ---------------------------------------------------------------------
    def _start(self) -> None:
        if self._job is not None and not self._job.is_done():
            self._pending = True  # one at a time: the latest slice follows
            return
        self._pending = False
        volume, z, model, source = self.volume, self.z, self._model, self._model_source
        generation = self._generation

        def work(progress, cancel) -> tuple[Any, int, int, dict[str, np.ndarray]]:
            from scoat_core.analysis.pipeline import attention_maps, load_model

            loaded = model
            if loaded is None:
                progress(0.1, "Loading the model")
                loaded = source() if callable(source) else source or load_model()
            if cancel():
                from scoat_core.progress import Cancelled

                raise Cancelled("attention maps cancelled")
            progress(0.3, "Computing attention maps")
            device = str(next(loaded.model.parameters()).device)
            return loaded, generation, z, attention_maps(volume, z, loaded, device=device)

        job = run_job(work, self)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self._job = job

    def _on_finished(self, result: tuple[Any, int, int, dict[str, np.ndarray]]) -> None:
        loaded, generation, z, maps = result
        self._model = loaded
        if self._pending:
            self._start()
        if generation != self._generation or z != self.z:
            return  # the user has moved on; the next job is queued
        self.maps, self.maps_z = maps, z
        name = (loaded.info or {}).get("name", "")
        self.status.setText(f"Slice {z + 1} of {self.volume.shape[0]}"
                            + (f" · model {name}" if name else ""))
        self._show_maps()
        self.maps_ready.emit(z)

    def _on_failed(self, message: str, _details: str) -> None:
        self.status.setText(f"Attention maps unavailable: {message}")
        self.failed.emit(message)
        if self._pending:
            self._start()

    def _on_cancelled(self) -> None:
        if self._pending:
            self._start()

    # -- drawing ----------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if self.maps:
            self._show_maps()

    def _show_maps(self) -> None:
        for widget in self._cells:
            widget.setParent(None)  # gone at once (not deleteLater): the grid only holds these
        self._cells = []
        if not self.maps or self.volume is None or self.maps_z is None:
            self.bar.setVisible(False)
            return
        width, level = PRESETS["lung"]
        gray = window_to_uint8(self.volume.array[self.maps_z], width, level)
        row_mm, col_mm = pixel_size_mm(self.volume.spacing, "axial")
        h, w = gray.shape
        # thumbnails fill the panel's width (three per row), never smaller than THUMBNAIL_PX
        side = max(THUMBNAIL_PX, min((self.width() - 120) // 3, self.height() - 160))
        scale = side / max(h * row_mm, w * col_mm)
        size = (max(1, round(w * col_mm * scale)), max(1, round(h * row_mm * scale)))
        keys = self.shown_keys()
        columns = 3
        for i, key in enumerate(keys):
            image = QLabel()
            image.setPixmap(_pixmap(blend_heatmap(gray, self.maps[key], self.alpha), size))
            image.setFixedSize(*size)
            image.setToolTip(f"Spatial attention map of decoder node X^{key[4:]}")
            caption = QLabel(node_label_html(key))
            caption.setTextFormat(Qt.TextFormat.RichText)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setStyleSheet("font-size: 12pt")
            r, c = divmod(i, columns)
            self.grid.addWidget(image, 2 * r, c)
            self.grid.addWidget(caption, 2 * r + 1, c)
            self._cells += [image, caption]
        self.bar.set_bar_height(size[1])
        self.bar.setVisible(True)


def _node_order(key: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", key)) or (99,)

