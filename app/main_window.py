"""Main window (first version): an exam browser over scoat_core's inventory."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from scoat_core.io.errors import ScoatIOError
from scoat_core.io.exams import Inventory, find_exams

DISCLAIMER = "Research software. Not for diagnostic use."


class MainWindow(QMainWindow):
    """Lists patients → exams → series found in an imported folder."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("SCOAT Follow-up")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Patient / exam / series", "Shape", "Spacing (mm)", "Notes"])
        self.tree.setColumnWidth(0, 400)
        self.tree.setColumnWidth(1, 100)
        self.tree.setColumnWidth(2, 150)
        self.status = QLabel(DISCLAIMER)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.tree)
        layout.addWidget(self.status)
        self.setCentralWidget(central)
        menu = self.menuBar().addMenu("&File")
        menu.addAction("&Import folder…", self._ask_folder)
        menu.addAction("Open &demo patient", self.open_demo)
        menu.addAction("&Quit", self.close)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of exams")
        if folder:
            self.open_path(Path(folder))

    def open_demo(self) -> None:
        from scoat_core.cli import default_demo_dir
        from scoat_core.phantom import make_timeline, write_timeline

        out = default_demo_dir()
        if not any(out.glob("*/truth.json")):
            write_timeline(make_timeline(4, seed=0), out)
        self.open_path(out)

    def open_path(self, path: Path) -> None:
        try:
            inventory = find_exams(path)
        except ScoatIOError as exc:
            QMessageBox.warning(self, "Cannot open", str(exc))
            return
        self.show_inventory(inventory)
        n = len(inventory.usable_series())
        self.status.setText(f"{path}: {n} usable series. {DISCLAIMER}")

    def show_inventory(self, inventory: Inventory) -> None:
        self.tree.clear()
        for patient in inventory.patients:
            name = patient.patient_name if patient.patient_name != patient.patient_id else ""
            p_item = QTreeWidgetItem([f"{patient.patient_id} {name}".strip()])
            self.tree.addTopLevelItem(p_item)
            for exam in patient.exams:
                when = exam.study_date.isoformat() if exam.study_date else "no date"
                e_item = QTreeWidgetItem([f"{when}  {exam.description}"])
                p_item.addChild(e_item)
                for s in exam.series:
                    shape = "×".join(map(str, s.shape)) if s.shape else ""
                    spacing = "×".join(f"{v:.3g}" for v in s.spacing_mm) if s.spacing_mm else ""
                    notes = s.excluded_reason or "; ".join(s.warnings)
                    label = f"{'★ ' if s.selected else ''}{s.info.series_description}"
                    e_item.addChild(QTreeWidgetItem([label, shape, spacing, notes]))
            p_item.setExpanded(True)
        self.tree.expandAll()
