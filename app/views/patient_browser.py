"""The patient browser: patients → exams from the database, with scanner, kernel and status."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QMenu, QTreeWidget, QTreeWidgetItem, QWidget

from scoat_core.store import ExamRow, Store

PATIENT, EXAM = 1, 2
ROLE_KIND, ROLE_PK = Qt.ItemDataRole.UserRole, Qt.ItemDataRole.UserRole + 1
#: Columns are sized to their contents, within these widths (px); a cut text has its tooltip.
COLUMN_MIN, COLUMN_MAX = 48, 320


def exam_count(n: int) -> str:
    """``1 exam``, ``2 exams``."""
    return f"{n} exam" if n == 1 else f"{n} exams"


def exam_status(store: Store, exam: ExamRow, model_sha: str | None,
                failure: str | None = None) -> tuple[str, str]:
    """(status text, colour name) of an exam: its LOV/PO, 'stale', why its last analysis
    failed, or 'not analysed'."""
    if exam.selected is None:
        return "no usable series", "#b0b0b0"
    row = store.analysis(exam.selected.id)
    if row is None and failure:
        return f"analysis failed: {short_reason(failure)}", "#e0685a"
    if row is None:
        return "not analysed", "#9aa0a6"
    m = row.metrics
    text = f"LOV {m['lov_ml']:.1f} mL · PO {m['po_percent']:.1f} %"
    if model_sha and row.is_stale(model_sha):
        return text + " (out of date: re-analyse)", "#e0a030"
    return text, "#7fd17f"


def unusable_reason(store: Store, exam: ExamRow) -> str:
    """Why an exam has no usable series: each excluded series (folder or file, description)
    with its reason as the import found it (a read error, a modality), ``; ``-joined."""
    reasons = []
    for s in store.series(exam.id):
        if s.excluded_reason:
            label = " ".join(x for x in (s.source.name, s.description) if x)
            reasons.append(f"{label}: {s.excluded_reason}" if label else s.excluded_reason)
    return "; ".join(dict.fromkeys(reasons)) or "no CT image series"


def short_reason(message: str) -> str:
    """The gist of an error message, without the file path it names (that is in the tooltip)."""
    head, _, tail = message.partition(" in ")
    if not ("/" in tail or "\\" in tail):
        return message
    detail = tail.rpartition(": ")[2] if ": " in tail else ""
    return f"{head} ({detail})" if detail else head


class PatientBrowser(QTreeWidget):
    """Tree of patients and their dated exams; emits the selected patient / exam."""

    patient_selected = Signal(int)
    exam_selected = Signal(int)
    action_requested = Signal(str, int)
    """(action, pk): 'analyse', 'analyse_patient', 'choose_series', 'set_date', 'locate',
    'merge', 'delete_patient'."""

    COLUMNS = ("Patient / exam", "Result", "Scanner", "Kernel", "Slice (mm)")

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.model_sha: str | None = None
        self.setHeaderLabels(list(self.COLUMNS))
        for i, width in enumerate((150, 215, 150, 60, 60)):
            self.setColumnWidth(i, width)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.currentItemChanged.connect(self._changed)

    # ------------------------------------------------------------------ content
    def refresh(self) -> None:
        """Rebuild from the database, keeping the selection."""
        keep = self.current()
        self.blockSignals(True)
        self.clear()
        for patient in self.store.patients():
            name = patient.name if patient.name and patient.name != patient.patient_id else ""
            label = f"{patient.patient_id}  {name}".strip() or "(no ID)"
            p_item = QTreeWidgetItem([f"{label}   ({exam_count(patient.n_exams)})"])
            p_item.setToolTip(0, p_item.text(0))
            p_item.setData(0, ROLE_KIND, PATIENT)
            p_item.setData(0, ROLE_PK, patient.id)
            font = p_item.font(0)
            font.setBold(True)
            p_item.setFont(0, font)
            self.addTopLevelItem(p_item)
            p_item.setFirstColumnSpanned(True)
            for exam in self.store.exams(patient.id):
                p_item.addChild(self._exam_item(exam))
            p_item.setExpanded(True)
        self.blockSignals(False)
        self._fit_columns()
        if keep:
            self.select(*keep)

    def _fit_columns(self) -> None:
        """Each column as wide as its exam rows' texts and its title, within
        :data:`COLUMN_MIN`..:data:`COLUMN_MAX` (patient rows span the columns: not counted)."""
        if not self.topLevelItemCount():
            return
        header, metrics = self.header(), self.fontMetrics()
        patients = [self.topLevelItem(i) for i in range(self.topLevelItemCount())]
        items = [p.child(j) for p in patients for j in range(p.childCount())]
        for column in range(self.columnCount()):
            title = header.sectionSizeHint(column)
            texts = [metrics.horizontalAdvance(item.text(column)) for item in items]
            # exam rows sit one level in, after the root decoration: two indentations
            indent = 2 * self.indentation() if column == 0 else 0
            wanted = max([title, *(t + indent + 16 for t in texts)])
            self.setColumnWidth(column, min(max(wanted, COLUMN_MIN), COLUMN_MAX))

    def _exam_item(self, exam: ExamRow) -> QTreeWidgetItem:
        s = exam.selected
        when = exam.study_date.isoformat() if exam.study_date else "date unknown"
        scanner = " ".join(x for x in (s.manufacturer, s.model) if x) if s else ""
        thickness = f"{s.slice_thickness_mm:.2g}" if s and s.slice_thickness_mm else ""
        failure = self.store.failure(s.id, self.model_sha or "") if s is not None else None
        status, colour = exam_status(self.store, exam, self.model_sha, failure)
        item = QTreeWidgetItem([when, status, scanner, s.kernel if s else "", thickness])
        item.setData(0, ROLE_KIND, EXAM)
        item.setData(0, ROLE_PK, exam.id)
        item.setForeground(1, QBrush(QColor(colour)))
        for column in range(1, len(self.COLUMNS)):  # the full text, for a column cut short
            item.setToolTip(column, item.text(column))
        if failure:
            item.setToolTip(1, failure)
        notes = [exam.description] if exam.description else []
        if s is not None:
            notes += [f"{s.kind.upper()} {s.source}", *s.warnings]
        else:
            why = unusable_reason(self.store, exam)
            item.setToolTip(1, f"no usable series: {why}")
            notes.append(f"No usable series: {why}")
        if exam.n_series > 1:
            notes.append(f"{exam.n_series} series (right-click → Choose series…)")
        item.setToolTip(0, "\n".join(notes))
        if s is not None and s.warnings:
            item.setText(0, f"{when}  ⚠")
        return item

    # ---------------------------------------------------------------- selection
    def current(self) -> tuple[int, int] | None:
        item = self.currentItem()
        if item is None:
            return None
        return int(item.data(0, ROLE_KIND)), int(item.data(0, ROLE_PK))

    def current_patient(self) -> int | None:
        item = self.currentItem()
        if item is None:
            return None
        if item.data(0, ROLE_KIND) == EXAM:
            item = item.parent()
        return int(item.data(0, ROLE_PK))

    def current_exam(self) -> int | None:
        cur = self.current()
        return cur[1] if cur and cur[0] == EXAM else None

    def select(self, kind: int, pk: int) -> bool:
        for i in range(self.topLevelItemCount()):
            p = self.topLevelItem(i)
            candidates = [p] + [p.child(j) for j in range(p.childCount())]
            for item in candidates:
                if item.data(0, ROLE_KIND) == kind and item.data(0, ROLE_PK) == pk:
                    self.setCurrentItem(item)
                    return True
        return False

    def exam_keys(self, patient_pk: int) -> list[int]:
        return [e.id for e in self.store.exams(patient_pk)]

    def _changed(self, item: QTreeWidgetItem | None, _previous) -> None:
        if item is None:
            return
        pk = int(item.data(0, ROLE_PK))
        if item.data(0, ROLE_KIND) == EXAM:
            self.exam_selected.emit(pk)
        else:
            self.patient_selected.emit(pk)

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        pk = int(item.data(0, ROLE_PK))
        menu = QMenu(self)
        if item.data(0, ROLE_KIND) == EXAM:
            entries = [("Analyse this exam", "analyse"), ("Choose series…", "choose_series"),
                       ("Set exam date…", "set_date"), ("Locate source folder…", "locate")]
        else:
            entries = [("Analyse all exams", "analyse_patient"),
                       ("Merge another patient into this one…", "merge"),
                       ("Remove patient from the list…", "delete_patient")]
        for text, action in entries:
            menu.addAction(text, lambda a=action: self.action_requested.emit(a, pk))
        menu.exec(self.viewport().mapToGlobal(pos))
