"""Axial, coronal and sagittal panes of one exam with linked crosshair, reference lines, the
layout (1×1, 1×2, 1×3) and the overlay controls.

The panes hold the state (window, overlay style); the controls follow it, whichever way it
changed (a key, a right-drag, a pane's context menu, the controls themselves).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
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

#: The coronal and sagittal panes are hidden for exams shorter than this along z (mm): one or a
#: few slices make such a view a thin line.
MIN_CORONAL_MM = 20.0
DEFAULT_LAYOUT = "1x2"


class ViewerPanel(QWidget):
    """Axial, coronal and sagittal :class:`SliceView` panes sharing window, overlays and cursor;
    the layout (:data:`scoat_core.display.LAYOUTS`) says which of them show."""

    hover_changed = Signal(str)  # a pane's HU and position under the mouse, "" when off
    layout_changed = Signal(str)  # a name of display.LAYOUTS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.axial, self.coronal = SliceView("axial", measurable=True), SliceView("coronal")
        self.sagittal = SliceView("sagittal")
        self.panes = (self.axial, self.coronal, self.sagittal)
        self._layout = DEFAULT_LAYOUT
        self._thin = False  # the exam is too short along z for coronal and sagittal panes
        self.layout_box = QComboBox()
        for name, title in display.LAYOUT_TITLES.items():  # short: the bar must stay narrow
            self.layout_box.addItem(title.split(" ")[0], name)
            self.layout_box.setItemData(self.layout_box.count() - 1, title,
                                        Qt.ItemDataRole.ToolTipRole)
        self.layout_box.setCurrentIndex(list(display.LAYOUTS).index(DEFAULT_LAYOUT))
        self.layout_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layout_box.setToolTip("Panes shown")
        self.layout_box.activated.connect(
            lambda i: self.set_view_layout(self.layout_box.itemData(i)))
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
        for text, widget in (("Layout", self.layout_box), ("Window", self.preset),
                             ("Overlay", self.mode), ("Opacity", self.alpha)):
            bar.addWidget(QLabel(text))
            bar.addWidget(widget)
        bar.addWidget(self.lung)
        bar.addWidget(self.high)
        self.legend = QLabel(
            "<span style='color:#ffb000'>■</span> opacification &nbsp; "
            "<span style='color:#e62878'>■</span> high opacity &nbsp; "
            "<span style='color:#00beff'>■</span> lung")
        # the legend gives way first when the bar is narrow (the bar sets the panel's minimum)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.legend.setMinimumWidth(0)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.legend, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        for pane in self.panes:
            split.addWidget(pane)
        self._split = split
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        for pane in self.panes:
            pane.cursor_changed.connect(self._cursor)
            pane.window_changed.connect(self._window)
            pane.overlay_style_changed.connect(self._pane_style)
            pane.slice_changed.connect(self._update_references)
            pane.hover_changed.connect(self.hover_changed)
        self._show_window(*self.axial.window_level())
        self._update_panes()

    # ------------------------------------------------------------------ content
    def set_exam(self, volume: Volume | None, lung: np.ndarray | None = None,
                 opacity: np.ndarray | None = None, label: str = "") -> None:
        for pane in self.panes:
            pane.set_volume(volume)
            pane.set_masks(opacity, lung)
            pane.set_label(label)
        z_mm = volume.shape[0] * volume.spacing[2] if volume is not None else MIN_CORONAL_MM
        self._thin = z_mm < MIN_CORONAL_MM
        self._update_panes()
        self._style()
        if volume is not None and opacity is not None and np.any(opacity):
            from scoat_core.display import key_slices

            z, y = key_slices(opacity, lung)
            self.axial.set_slice(z)
            self.coronal.set_slice(y)
            self.sagittal.set_slice(int(np.count_nonzero(opacity, axis=(0, 1)).argmax()))

    # ------------------------------------------------------------------ layout
    def view_layout(self) -> str:
        """The layout's name (a key of :data:`scoat_core.display.LAYOUTS`)."""
        return self._layout

    def set_view_layout(self, name: str) -> None:
        """Show the panes of layout ``name`` (an unknown name: the default 1×2)."""
        name = name if name in display.LAYOUTS else DEFAULT_LAYOUT
        blocker = QSignalBlocker(self.layout_box)
        self.layout_box.setCurrentIndex(list(display.LAYOUTS).index(name))
        blocker.unblock()
        if name == self._layout:
            return
        self._layout = name
        self._update_panes()
        self.layout_changed.emit(name)

    def visible_panes(self) -> tuple[SliceView, ...]:
        """The panes the layout and the exam show (a thin exam: the axial one only)."""
        return tuple(pane for pane in self.panes if not pane.isHidden())

    def _update_panes(self) -> None:
        planes = display.LAYOUTS[self._layout]
        for pane in self.panes:
            pane.setVisible(pane.plane in planes and (pane.plane == "axial" or not self._thin))
        shown = self.visible_panes()
        self._split.setSizes([1000 // len(shown) if not p.isHidden() else 0 for p in self.panes])
        self._update_references()

    def _update_references(self, *_args) -> None:
        """Each shown pane draws the slices of the other shown panes as reference lines."""
        shown = self.visible_panes()
        for pane in self.panes:
            pane.set_reference_slices({other.plane: other.slice_index() for other in shown
                                       if other is not pane} if pane in shown else {})

    def set_overlay(self, mode: str, alpha: float, show_lung: bool) -> None:
        """Apply saved preferences to the controls."""
        self.mode.setCurrentIndex({"fill": 0, "contour": 1, "none": 2}.get(mode, 0))
        self.alpha.setValue(round(alpha * 100))
        self.lung.setChecked(show_lung)

    def apply_preset(self, name: str) -> None:
        self._preset(_PRESET_ORDER.index(name) if name in _PRESET_ORDER else 0)

    def render_image(self) -> QImage:
        """The shown panes side by side (for PNG export)."""
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
