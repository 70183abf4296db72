"""Axial and coronal panes of one exam with linked crosshair and the overlay controls.

The panes hold the state (window, overlay style); the controls follow it, whichever way it
changed (a key, a right-drag, a pane's context menu, the controls themselves).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.views.slice_view import OVERLAY_MODES, SliceView
from scoat_core import display
from scoat_core.volume import Volume

#: The presets of the Window box, in its order; an item after them shows any other window.
_PRESET_ORDER = ("lung", "mediastinum")
_MODE_TITLES = {"fill": "Fill", "contour": "Contour", "none": "Off"}

#: The coronal pane is hidden for exams shorter than this along z (mm): one or a few slices
#: make a coronal view a thin line.
MIN_CORONAL_MM = 20.0


class ViewerPanel(QWidget):
    """Two :class:`SliceView` panes (axial, coronal) sharing window, overlays and cursor."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.axial, self.coronal = SliceView("axial"), SliceView("coronal")
        self.panes = (self.axial, self.coronal)
        self.preset = QComboBox()
        self.preset.addItems([display.window_title(*display.PRESETS[n]) for n in _PRESET_ORDER])
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.preset.activated.connect(self._preset)
        self.mode = QComboBox()
        self.mode.addItems([_MODE_TITLES[m] for m in OVERLAY_MODES])
        self.mode.currentIndexChanged.connect(self._style)
        self.alpha = QSlider(Qt.Orientation.Horizontal)
        self.alpha.setRange(10, 90)
        self.alpha.setValue(45)
        self.alpha.setMaximumWidth(120)
        self.alpha.setToolTip("Overlay opacity")
        self.alpha.valueChanged.connect(self._style)
        self.lung = QCheckBox("Lung contour")
        self.lung.setChecked(True)
        self.high = QCheckBox("High opacity (> −200 HU)")
        self.high.setChecked(True)
        for box in (self.lung, self.high):
            box.toggled.connect(self._style)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for text, widget in (("Window", self.preset), ("Overlay", self.mode),
                             ("Opacity", self.alpha)):
            bar.addWidget(QLabel(text))
            bar.addWidget(widget)
        bar.addWidget(self.lung)
        bar.addWidget(self.high)
        bar.addStretch(1)
        self.legend = QLabel(
            "<span style='color:#ffb000'>■</span> opacification &nbsp; "
            "<span style='color:#e62878'>■</span> high opacity &nbsp; "
            "<span style='color:#00beff'>■</span> lung")
        bar.addWidget(self.legend)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.axial)
        split.addWidget(self.coronal)
        split.setSizes([600, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        for pane in self.panes:
            pane.cursor_changed.connect(self._cursor)
            pane.window_changed.connect(self._window)
            pane.overlay_style_changed.connect(self._pane_style)
        self._show_window(*self.axial.window_level())

    # ------------------------------------------------------------------ content
    def set_exam(self, volume: Volume | None, lung: np.ndarray | None = None,
                 opacity: np.ndarray | None = None, label: str = "") -> None:
        for pane in self.panes:
            pane.set_volume(volume)
            pane.set_masks(opacity, lung)
            pane.set_label(label)
        z_mm = volume.shape[0] * volume.spacing[2] if volume is not None else MIN_CORONAL_MM
        self.coronal.setVisible(z_mm >= MIN_CORONAL_MM)
        self._style()
        if volume is not None and opacity is not None and np.any(opacity):
            from scoat_core.display import key_slices

            z, y = key_slices(opacity, lung)
            self.axial.set_slice(z)
            self.coronal.set_slice(y)

    def set_overlay(self, mode: str, alpha: float, show_lung: bool) -> None:
        """Apply saved preferences to the controls."""
        self.mode.setCurrentIndex({"fill": 0, "contour": 1, "none": 2}.get(mode, 0))
        self.alpha.setValue(round(alpha * 100))
        self.lung.setChecked(show_lung)

    def apply_preset(self, name: str) -> None:
        self._preset(_PRESET_ORDER.index(name) if name in _PRESET_ORDER else 0)

    def render_image(self) -> QImage:
        """Both panes side by side (for PNG export)."""
        images = [pane.grab().toImage() for pane in self.panes if not pane.isHidden()]
        width = sum(i.width() for i in images)
        height = max(i.height() for i in images)
        out = QImage(width, height, QImage.Format.Format_RGB32)
        out.fill(QColor("black"))
        painter = QPainter(out)
        x = 0
        for image in images:
            painter.drawImage(x, 0, image)
            x += image.width()
        painter.end()
        return out

    # ------------------------------------------------------------------ linking
    def _preset(self, index: int) -> None:
        if index >= len(_PRESET_ORDER):  # the "Custom" item: the window stays as it is
            return
        for pane in self.panes:
            pane.blockSignals(True)  # one update of the controls below, not one per pane
            pane.apply_preset(_PRESET_ORDER[index])
            pane.blockSignals(False)
        self._show_window(*self.axial.window_level())

    def _show_window(self, width: float, level: float) -> None:
        """The Window box shows the panes' window: its preset, or "Custom (W… L…)"."""
        name = display.preset_of(width, level)
        blocker = QSignalBlocker(self.preset)
        while self.preset.count() > len(_PRESET_ORDER):
            self.preset.removeItem(len(_PRESET_ORDER))
        if name in _PRESET_ORDER:
            self.preset.setCurrentIndex(_PRESET_ORDER.index(name))
        else:
            self.preset.addItem(display.window_title(width, level))
            self.preset.setCurrentIndex(len(_PRESET_ORDER))
        blocker.unblock()

    def _style(self, *_args) -> None:
        mode = OVERLAY_MODES[self.mode.currentIndex()]
        for pane in self.panes:
            pane.set_overlay_style(mode, self.alpha.value() / 100, self.lung.isChecked(),
                                   self.high.isChecked())

    def _pane_style(self, mode: str, alpha: float, show_lung: bool, show_high: bool) -> None:
        """A pane's style changed (its context menu): the controls and the other panes follow."""
        controls = (self.mode, self.alpha, self.lung, self.high)
        blockers = [QSignalBlocker(w) for w in controls]
        self.mode.setCurrentIndex(OVERLAY_MODES.index(mode))
        self.alpha.setValue(round(alpha * 100))
        self.lung.setChecked(show_lung)
        self.high.setChecked(show_high)
        for blocker in blockers:
            blocker.unblock()
        for pane in self.panes:
            if pane is not self.sender():
                pane.set_overlay_style(mode, alpha, show_lung, show_high)

    def _cursor(self, point: tuple) -> None:
        for pane in self.panes:
            if pane is not self.sender():
                pane.set_cursor_lps(point)

    def _window(self, width: float, level: float) -> None:
        for pane in self.panes:
            if pane is not self.sender() and pane.window_level() != (width, level):
                pane.blockSignals(True)
                pane.set_window(width, level)
                pane.blockSignals(False)
        self._show_window(width, level)
