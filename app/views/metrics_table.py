"""Per-exam metrics and changes as a table; copy as tab-separated text, export CSV.

The columns, formatting and units come from :mod:`scoat_core.followup.table`, so the table, the
clipboard text and the CSV file show the same numbers. Changes are coloured by their trend; the
severity cell's tooltip lists each zone's involvement. Numbers an older result lacks show "—";
the severity of a partial exam (the scan cuts the lungs) shows "n/a".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from scoat_core.followup.table import (
    COLUMNS,
    TREND_COLOURS,
    TimelineEntry,
    as_text,
    cell_text,
    rows,
    write_csv,
    zone_text,
)

MISSING = "—"
#: Header tooltips for the abbreviations.
HELP: dict[str, str] = {
    "lov_ml": "Lung opacification volume",
    "po_percent": "Percentage of the lung volume that is opacified",
    "pho_percent": "Percentage of the lung volume with high opacity (HU > −200)",
    "severity_score": "Sum of six zone scores (0 none or under 1 mL … 5 over 75 % "
                      "opacified); n/a when the scan covers only part of the lungs; "
                      "hover a cell for each zone",
    "ggo_ml": "Ground-glass opacity: the part of the LOV at or below −200 HU",
    "consolidation_ml": "Consolidation: the part of the LOV above −200 HU",
    "mean_opacity_hu": "Mean CT number of the opacified voxels",
    "right_lov_ml": "Lung opacification volume of the right lung",
    "left_lov_ml": "Lung opacification volume of the left lung",
    "right_po_percent": "Percentage of the right lung that is opacified",
    "left_po_percent": "Percentage of the left lung that is opacified",
    "relative_lov_percent": "Not given when the earlier LOV is below 10 mL",
    "baseline_relative_lov_percent": "Not given when the baseline LOV is below 10 mL",
}
_Index = QModelIndex | QPersistentModelIndex


def _trend_key(column_key: str) -> str | None:
    """The row key of the trend that colours this column (None: not coloured)."""
    if column_key.startswith("baseline_"):
        return "baseline_trend"
    if column_key.startswith(("delta_", "relative_")) or column_key == "trend":
        return "trend"
    return None


class MetricsModel(QAbstractTableModel):
    """Read-only model over :func:`scoat_core.followup.table.rows`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    def set_rows(self, rows_: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = list(rows_)
        self.endResetModel()

    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            text = cell_text(row, column)
            return text if text or not column.numeric else MISSING
        if role == Qt.ItemDataRole.TextAlignmentRole:
            align = Qt.AlignmentFlag
            return int((align.AlignRight if column.numeric else align.AlignLeft)
                       | align.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            trend = row.get(_trend_key(column.key) or "")
            return QBrush(QColor(*TREND_COLOURS[trend])) if trend in TREND_COLOURS else None
        if role == Qt.ItemDataRole.FontRole and column.key in ("trend", "baseline_trend"):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and column.key == "severity_score":
            zones = zone_text(row)
            why = ("No severity score: the scan covers only part of the lungs, so its zones "
                   "are not the lungs' thirds\n" if row.get("partial") else "")
            text = f"{why}Zone involvement (PO of the zone):\n{zones}" if zones else why.strip()
            return text or None
        if role == Qt.ItemDataRole.UserRole:
            return row["key"]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        column = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header.replace(" (", "\n(").replace(" vs ", "\nvs ", 1)
        if role == Qt.ItemDataRole.ToolTipRole:
            return HELP.get(column.key)
        return None


class MetricsTable(QWidget):
    """The patient's exams with volumetry and changes; double-click opens an exam."""

    exam_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = MetricsModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.view.doubleClicked.connect(self._on_double_click)

        self.copy_button = QPushButton("Copy as text")
        self.copy_button.setToolTip("Copy the table, tab-separated, for Excel or Word (Ctrl+C)")
        self.copy_button.clicked.connect(self.copy_as_text)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(self._ask_export_csv)
        self.copy_action = QAction("Copy as text", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy_as_text)
        self.addAction(self.copy_action)

        self.note = QLabel("LOV: lung opacification volume · PO: percentage of opacification · "
                           "pp: percentage points")
        self.note.setStyleSheet("color: #666;")
        bar = QHBoxLayout()
        bar.addWidget(self.note, 1)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.csv_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)
        self._update_buttons()

    def set_entries(self, entries: list[TimelineEntry]) -> None:
        """Show the analysed exams among ``entries``."""
        self.model.set_rows(rows(entries))
        self._update_buttons()

    def rows(self) -> list[dict[str, Any]]:
        return self.model.rows()

    def text(self) -> str:
        """The table as tab-separated text with a header."""
        return as_text(self.model.rows())

    def copy_as_text(self) -> None:
        QGuiApplication.clipboard().setText(self.text())

    def export_csv(self, path: Path | str) -> Path:
        return write_csv(self.model.rows(), path)

    def select_key(self, key: int | None) -> None:
        """Select the row of exam ``key`` (None: clear the selection)."""
        self.view.clearSelection()
        for i, row in enumerate(self.model.rows()):
            if row["key"] == key:
                self.view.selectRow(i)

    def _update_buttons(self) -> None:
        has_rows = bool(self.model.rows())
        for widget in (self.copy_button, self.csv_button):
            widget.setEnabled(has_rows)
        self.copy_action.setEnabled(has_rows)

    def _on_double_click(self, index: QModelIndex) -> None:
        key = self.model.data(index, Qt.ItemDataRole.UserRole)
        if key is not None:
            self.exam_activated.emit(int(key))

    def _ask_export_csv(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export CSV", "timeline.csv",
                                              "CSV files (*.csv)")
        if not name:
            return
        path = Path(name) if name.lower().endswith(".csv") else Path(name + ".csv")
        try:
            self.export_csv(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export CSV", f"Could not write {path}:\n{exc.strerror}")
