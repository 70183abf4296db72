"""`MeasureTools`: the Tools menu's ruler and ellipse actions, and the store behind them.

The actions follow the axial pane's :class:`~app.views.measure_layer.MeasureLayer` (its keys
change the tool too). Each measurement drawn is saved with the shown exam and the series it was
drawn on; deleting one deletes its row; opening an exam shows its stored measurements.
"""

from __future__ import annotations

import logging
import sqlite3

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.views.measure_layer import MeasureLayer
from scoat_core.analysis.measure import ELLIPSE, RULER, Measurement
from scoat_core.store import Store, StoreError

log = logging.getLogger(__name__)


class MeasureTools(QObject):
    """Ruler (M), ellipse ROI (E), delete (Delete) and leave (Esc) for ``layer``, saved in
    ``store``; ``scope`` is the widget within which Delete acts (the viewer)."""

    chosen = Signal(str)  # a tool was turned on from an action ("ruler" / "ellipse")
    failed = Signal(str, str)  # title, message: a measurement could not be saved or deleted

    def __init__(self, parent: QWidget, scope: QWidget, layer: MeasureLayer, store: Store
                 ) -> None:
        super().__init__(parent)
        self.layer, self.store = layer, store
        self._exam: tuple[int, int | None] | None = None  # (exam, series) shown on the layer
        self.ruler = self._action(parent, "&Ruler (mm)", "M", True)
        self.ellipse = self._action(parent, "&Ellipse ROI (mean/SD HU, mm²)", "E", True)
        self.ruler.triggered.connect(lambda on: self._choose(RULER if on else ""))
        self.ellipse.triggered.connect(lambda on: self._choose(ELLIPSE if on else ""))
        self.delete = self._action(parent, "&Delete selected measurement", "Delete")
        self.delete.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        scope.addAction(self.delete)
        self.delete.setEnabled(False)
        self.delete.triggered.connect(lambda _=False: self.layer.delete_selected())
        self.leave = self._action(parent, "&Leave measurement tool\tEsc")
        self.leave.triggered.connect(lambda _=False: self.layer.set_tool(""))
        self.actions = [self.ruler, self.ellipse, self.delete, self.leave]
        layer.tool_changed.connect(self._show_tool)
        layer.selection_changed.connect(lambda m: self.delete.setEnabled(m is not None))
        layer.added.connect(self._save)
        layer.removed.connect(self._forget)
        self._show_tool(layer.tool())

    @staticmethod
    def _action(parent: QWidget, text: str, shortcut: str | None = None,
                checkable: bool = False) -> QAction:
        act = QAction(text, parent)
        act.setCheckable(checkable)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        return act

    def show_exam(self, exam_pk: int, series_pk: int | None) -> None:
        """The layer's pane now shows this exam's series: show its stored measurements."""
        self._exam = (exam_pk, series_pk)
        self.layer.set_measurements(self.store.measurements(exam_pk, series_pk))

    def _choose(self, kind: str) -> None:
        self.layer.set_tool(kind)
        if kind:
            self.chosen.emit(kind)
            self.layer.parent().setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _show_tool(self, kind: str) -> None:
        self.ruler.setChecked(kind == RULER)
        self.ellipse.setChecked(kind == ELLIPSE)
        self.leave.setEnabled(bool(kind))

    def _save(self, m: Measurement) -> None:
        if self._exam is None:
            return
        try:
            saved = self.store.add_measurement(self._exam[0], m, self._exam[1])
        except (StoreError, KeyError, sqlite3.Error) as exc:
            log.error("measurement not saved: %s", exc)
            self.layer.replace(m, None)
            self.failed.emit("Measurement not saved", str(exc))
            return
        self.layer.replace(m, saved)

    def _forget(self, m: Measurement) -> None:
        if m.id is None:
            return
        try:
            self.store.delete_measurement(m.id)
        except KeyError:
            pass  # already gone (another window deleted it)
        except (StoreError, sqlite3.Error) as exc:
            log.error("measurement %s not deleted: %s", m.id, exc)
            self.failed.emit("Measurement not deleted", str(exc))
