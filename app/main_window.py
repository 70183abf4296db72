"""The main window: patient browser, viewer / comparison / timeline / 3-D / attention tabs,
background jobs (one at a time, queued) with progress and cancel, exports and preferences."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from PySide6.QtCore import QByteArray, QRectF, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QPainter,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.preferences import Preferences, PreferencesDialog
from app.jobs.workers import (
    Job,
    ProgressPanel,
    analysis_progress,
    limit_torch_threads,
    run_job,
)
from app.views.measure_tools import MeasureTools
from app.views.metrics_table import MetricsTable
from app.views.patient_browser import PatientBrowser, exam_count, short_reason
from app.views.timeline_plot import TimelinePlot
from app.views.viewer_panel import ViewerPanel
from scoat_core import __version__
from scoat_core.display import LAYOUT_TITLES
from scoat_core.followup.comparison import (
    comparison_message,
    comparison_title,
    exam_title,
    no_exam_text,
    patient_label,
    timeline_title,
)
from scoat_core.followup.table import TimelineEntry
from scoat_core.store import AnalysisRow, SameExam, Store

log = logging.getLogger(__name__)
DISCLAIMER = "Research software — not for diagnostic use."
#: The patient list never gets narrower than this (px): names and dates must stay readable.
BROWSER_MIN_WIDTH = 160
SHORTCUTS = [
    ("Ctrl+O", "Import a folder"), ("Ctrl+A", "Analyse the selected exam"),
    ("Ctrl+Shift+A", "Analyse all exams of the patient"), ("Ctrl+E", "Export the view as PNG"),
    ("Ctrl+P", "Export the PDF report"), ("Ctrl+,", "Preferences"),
    ("Up / Down, wheel", "Next / previous slice"), ("Page Up / Page Down", "10 slices"),
    ("Home / End", "First / last slice"), ("Right drag", "Window / level"),
    ("1 / 2", "Lung / mediastinum window"), ("Ctrl+wheel, + / −", "Zoom"),
    ("Middle drag, Shift+left drag", "Pan"), ("Left click", "Crosshair (links the panes)"),
    ("Mouse over a pane", "HU and position (mm) in the status bar"),
    ("M / E", "Ruler / ellipse ROI on the axial pane (drag to draw)"),
    ("Delete", "Delete the selected measurement"), ("Esc", "Leave the measurement tool"),
    ("R, double-click", "Reset zoom and pan"), ("Ctrl+1 … Ctrl+5", "Viewer, Compare, Timeline, "
                                                                  "3-D, Attention tabs"),
]


def app_data_dir() -> Path:
    """Where the database and the cache live (``SCOAT_APP_DATA`` overrides, for tests)."""
    override = os.environ.get("SCOAT_APP_DATA")
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".scoat-followup")


def _titled_host(text: str) -> tuple[QWidget, QLabel]:
    """A tab's page: a bold title line (patient, exam) above what is added to its layout."""
    host = QWidget()
    layout = QVBoxLayout(host)
    title = QLabel(text)
    title.setStyleSheet("font-weight: bold")
    title.setWordWrap(True)
    title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    layout.addWidget(title)
    return host, title


def current_model_sha() -> str | None:
    """SHA-256 of the shipped default model, from its manifest (no weights loaded)."""
    from scoat_core.models.weights import (
        MANIFEST_NAME,
        find_entry,
        read_manifest,
        shipped_models_dir,
    )

    try:
        return find_entry(read_manifest(shipped_models_dir() / MANIFEST_NAME))["sha256"]
    except Exception:
        return None


class MainWindow(QMainWindow):
    """The application window (see the module docstring)."""

    idle = Signal()
    """Emitted when the job queue runs empty."""

    def __init__(self, store: Store | None = None, interactive: bool = True,
                 model_loader: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("SCOAT Follow-up")
        self.setAcceptDrops(True)
        self.interactive = interactive
        """False for --screenshot runs and tests: no modal dialogs, problems go to the log."""
        data = app_data_dir()
        data.mkdir(parents=True, exist_ok=True)
        self.store = store or self._open_store(data / "scoat.db")
        self.prefs = Preferences()
        self.model_sha = current_model_sha()
        self._model_loader = model_loader
        self._model = None
        self._queue: list[tuple[str, Callable[[], Job], Callable[[Any], None]]] = []
        self.job: Job | None = None
        self.errors: list[str] = []
        self.exam_pk: int | None = None
        self.exam_data: dict[str, Any] | None = None
        self._hover_shown = ""  # the hover text last put in the status line

        self.browser = PatientBrowser(self.store)
        self.browser.model_sha = self.model_sha
        self.browser.exam_selected.connect(self.open_exam)
        self.browser.patient_selected.connect(self._patient_changed)
        self.browser.action_requested.connect(self._browser_action)
        self.viewer = ViewerPanel()
        self.viewer.set_overlay(self.prefs.overlay_mode, self.prefs.overlay_alpha,
                                self.prefs.show_lung_contour)
        self.viewer.apply_preset(self.prefs.window_preset)
        self.viewer.axial.slice_changed.connect(self._axial_slice)
        self.viewer.set_view_layout(self.prefs.viewer_layout)
        self.viewer.layout_changed.connect(self._viewer_layout)
        self.viewer.hover_changed.connect(self._hover)
        self.measure_tools = MeasureTools(self, self.viewer, self.viewer.axial.measures,
                                          self.store)
        self.measure_tools.chosen.connect(lambda _kind: self.tabs.setCurrentWidget(self.viewer))
        self.measure_tools.failed.connect(self._error)
        self.plot = TimelinePlot()
        self.plot.set_x_mode(self.prefs.x_axis)
        self.plot.exam_clicked.connect(self._select_exam)
        self.table = MetricsTable()
        self.table.exam_activated.connect(self._select_exam)
        timeline = QSplitter(Qt.Orientation.Vertical)
        timeline.addWidget(self.plot)
        timeline.addWidget(self.table)
        timeline.setSizes([420, 260])
        self.timeline = timeline
        # each tab names the patient and exam it shows (a title line above the view)
        nothing = no_exam_text(None)
        self.compare_host, self.compare_title = _titled_host(nothing)
        self.comparison = None
        self._compare_note = QLabel(comparison_message(None, 0, 0))
        self._compare_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._compare_note.setWordWrap(True)
        self.compare_host.layout().addWidget(self._compare_note, 1)
        self.view3d = None
        self.view3d_host, self.view3d_title = _titled_host(nothing)
        self.attention = None
        self.attention_host, self.attention_title = _titled_host(nothing)
        self.tabs = QTabWidget()
        for widget, title in ((self.viewer, "Viewer"), (self.compare_host, "Compare"),
                              (self.timeline, "Timeline"), (self.view3d_host, "3-D"),
                              (self.attention_host, "Attention")):
            self.tabs.addTab(widget, title)
        self.tabs.currentChanged.connect(self._tab_changed)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.browser)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        self.browser.setMinimumWidth(BROWSER_MIN_WIDTH)
        split.setSizes([430, 1100])
        self.split = split
        self.progress = ProgressPanel()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(split, 1)
        layout.addWidget(self.progress)
        self.setCentralWidget(central)
        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().showMessage(DISCLAIMER)
        self._update_device_label()
        self._build_menus()
        self._restore_layout()
        self.refresh()

    def _open_store(self, db_path: Path) -> Store:
        """Open the app's database. A damaged one: ask to move it aside (kept, with its -wal,
        -shm and cache) and start a new one, or quit; any other problem: say it and quit."""
        from scoat_core.store import StoreDamagedError, StoreError, damaged_name, move_aside

        try:
            return Store.open(db_path)
        except StoreDamagedError as exc:
            log.error("%s", exc)
            if not self.interactive:
                raise
            target = damaged_name(exc.path)
            box = QMessageBox(QMessageBox.Icon.Critical, "SCOAT Follow-up: damaged database",
                              f"The database {exc.path} is damaged ({exc.reason}). Move it aside"
                              f" to {target} and start a new one?")
            box.setInformativeText(
                f"Nothing is deleted: its -wal and -shm files go with it, and its cache folder "
                f"to {target}.cache. The exams must then be imported again. Quit leaves "
                "everything as it is.")
            box.setStandardButtons(QMessageBox.StandardButton.Yes)
            quit_button = box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
            box.setDefaultButton(quit_button)
            box.exec()
            if box.clickedButton() is not box.button(QMessageBox.StandardButton.Yes):
                raise SystemExit(1) from exc
            try:
                moved = move_aside(exc.path, target)
                store = Store.open(db_path)
            except StoreError as again:
                self._fatal_store_error(again)
            log.warning("damaged database kept as %s; a new one started at %s", moved, db_path)
            return store
        except StoreError as exc:
            self._fatal_store_error(exc)

    def _fatal_store_error(self, exc: Exception) -> NoReturn:
        """Say why the database cannot be used (when interactive) and exit 1."""
        log.error("%s", exc)
        if not self.interactive:
            raise exc
        QMessageBox.critical(None, "SCOAT Follow-up: cannot open the database", str(exc))
        raise SystemExit(1) from exc

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        bar = self.menuBar()
        tools = self.addToolBar("Main")
        tools.setObjectName("main-toolbar")

        def action(menu, text, slot, shortcut=None, toolbar=False) -> QAction:
            act = QAction(text, self)

            def run(_checked: bool = False, slot=slot) -> None:
                slot()  # triggered(checked) must never land in a slot's optional first parameter

            act.triggered.connect(run)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            menu.addAction(act)
            if toolbar:
                tools.addAction(act)
            return act

        file = bar.addMenu("&File")
        action(file, "&Import folder…", self.ask_import_folder, "Ctrl+O", True)
        action(file, "Import &file (NIfTI, MHA, NRRD)…", self.ask_import_file)
        action(file, "Open &demo patient", lambda: self.open_demo(analyse=True))
        file.addSeparator()
        action(file, "&Export current view as PNG…", self.export_png, "Ctrl+E", True)
        action(file, "Export &PDF report…", self.export_pdf, "Ctrl+P", True)
        action(file, "Export &masks (NIfTI + DICOM SEG)…", self.export_masks)
        file.addSeparator()
        action(file, "&Quit", self.close, "Ctrl+Q")
        analysis = bar.addMenu("&Analysis")
        action(analysis, "&Analyse selected exam", self.analyse_selected, "Ctrl+A", True)
        action(analysis, "Analyse &all exams of the patient", self.analyse_patient,
               "Ctrl+Shift+A", True)
        action(analysis, "&Cancel running job", self.cancel_jobs, "Esc")
        view = bar.addMenu("&View")
        for i, name in enumerate(("Viewer", "Compare", "Timeline", "3-D", "Attention")):
            action(view, name, lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
        view.addSeparator()
        action(view, "Lung window", lambda: self.viewer.apply_preset("lung"))
        action(view, "Mediastinum window", lambda: self.viewer.apply_preset("mediastinum"))
        view.addSeparator()
        group = QActionGroup(self)
        self.layout_actions: dict[str, QAction] = {}
        for name, title in LAYOUT_TITLES.items():
            act = action(view, f"Layout {title}", lambda n=name: self.viewer.set_view_layout(n))
            act.setCheckable(True)
            act.setChecked(name == self.viewer.view_layout())
            group.addAction(act)
            self.layout_actions[name] = act
        bar.addMenu("&Tools").addActions(self.measure_tools.actions)
        settings = bar.addMenu("&Settings")
        action(settings, "&Preferences…", self.show_preferences, "Ctrl+,")
        help_menu = bar.addMenu("&Help")
        action(help_menu, "&Keyboard shortcuts", self.show_shortcuts, "F1")
        action(help_menu, "&About SCOAT Follow-up", self.show_about)

    # ------------------------------------------------------------------ layout state
    def _restore_layout(self) -> None:
        s = self.prefs.settings
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        sizes = s.value("window/split")
        if isinstance(sizes, list) and len(sizes) == 2 and int(sizes[0]) >= BROWSER_MIN_WIDTH:
            self.split.setSizes([int(x) for x in sizes])

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self.interactive:  # a screenshot or test run must not change the user's layout
            s = self.prefs.settings
            s.setValue("window/geometry", self.saveGeometry())
            s.setValue("window/state", self.saveState())
            s.setValue("window/split", self.split.sizes())
            self.prefs.sync()
        self.cancel_jobs()
        super().closeEvent(event)

    # ------------------------------------------------------------------ job queue
    def enqueue(self, title: str, make_job: Callable[[], Job],
                on_done: Callable[[Any], None],
                on_fail: Callable[[str], None] | None = None) -> None:
        """Run ``make_job()`` after the jobs before it; ``on_done(result)`` on success.

        A failure is shown in a dialog, or handed to ``on_fail(message)`` when given.
        """
        self._queue.append((title, make_job, on_done, on_fail))
        QTimer.singleShot(0, self._pump)

    def busy(self) -> bool:
        """True while a job runs or waits (the attention maps included)."""
        attention = self.attention is not None and self.attention.busy()
        return self.job is not None or bool(self._queue) or attention

    def _pump(self) -> None:
        if self.job is not None:
            return
        if not self._queue:
            self.idle.emit()
            return
        title, make_job, on_done, on_fail = self._queue.pop(0)
        job = make_job()
        self.job = job
        self.progress.bind(job, title)
        job.finished.connect(lambda result: self._job_done(on_done, result))
        job.failed.connect(lambda message, details: self._job_failed(title, message, details,
                                                                     on_fail))
        job.cancelled.connect(self._job_cancelled)

    def _job_done(self, on_done, result) -> None:
        self.job = None
        try:
            on_done(result)
        except Exception as exc:
            log.exception("after job")
            self._error("Could not show the result", str(exc))
        QTimer.singleShot(0, self._pump)

    def _job_failed(self, title: str, message: str, details: str,
                    on_fail: Callable[[str], None] | None = None) -> None:
        self.job = None
        if on_fail is None:
            self._error(f"{title} failed", message, details)
        else:
            self.errors.append(f"{title} failed: {message}")
            log.error("%s failed: %s %s", title, message, details)
            on_fail(message)
        QTimer.singleShot(0, self._pump)

    def _job_cancelled(self) -> None:
        self.job = None
        self._queue.clear()
        self.statusBar().showMessage("Cancelled. Nothing was saved for the unfinished job.", 8000)
        QTimer.singleShot(0, self._pump)

    def cancel_jobs(self) -> None:
        self._queue.clear()
        if self.job is not None:
            self.job.cancel()

    def _error(self, title: str, message: str, details: str = "") -> None:
        self.errors.append(f"{title}: {message}")
        log.error("%s: %s %s", title, message, details)
        if not self.interactive:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self)
        if details:
            box.setDetailedText(details)
        box.exec()

    # ------------------------------------------------------------------ import
    def ask_import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of exams",
                                                  self.prefs.last_import_folder)
        if folder:
            self.prefs.last_import_folder = folder
            self.import_path(Path(folder))

    def ask_import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a CT volume", self.prefs.last_import_folder,
            "CT volumes (*.nii *.nii.gz *.mha *.mhd *.nrrd *.nhdr);;All files (*)")
        if path:
            self.import_path(Path(path))

    def import_path(self, path: Path, then: Callable[[list[int]], None] | None = None) -> None:
        """Scan ``path`` in the background and add what it holds to the database."""
        from app.jobs.workers import import_job

        def done(inventory) -> None:
            skipped = [same.entry for same in self.store.same_exam_candidates(inventory)
                       if not self._import_same_exam(same)]
            inventory = inventory.without_exams(skipped)
            touched = self.store.import_inventory(inventory)
            for problem in inventory.problems[:3]:
                self.statusBar().showMessage(f"Skipped: {problem}", 10000)
            self.refresh()
            if not touched and skipped:
                self.statusBar().showMessage("Nothing imported: the exam is already in the "
                                             "list.", 10000)
                return
            if not touched:
                from scoat_core.io.errors import NoUsableSeriesError

                reason = NoUsableSeriesError.from_inventory(path, inventory)
                self._error("Nothing imported", str(reason))
                return
            self.browser.select(1, touched[0])
            self._ask_missing_dates(touched)
            if then:
                then(touched)

        self.enqueue(f"Importing {path.name}", lambda: import_job(path), done)

    def _import_same_exam(self, same: SameExam) -> bool:
        """Ask whether to import an exam that looks like one already stored (same patient, date
        and geometry); True: import it as another exam. Without dialogs it is imported."""
        text = (f"The exam of {same.study_date.isoformat()} in {Path(same.new_source).name} looks"
                f" like one already imported (same patient, date and geometry), from "
                f"{same.stored_source}.")
        if not self.interactive:
            log.warning("%s Imported as another exam.", text)
            return True
        box = QMessageBox(QMessageBox.Icon.Question, "Already imported?", text, parent=self)
        box.setInformativeText("Importing it again makes a second exam of the same day in the "
                               "timeline.")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Import anyway as another exam")
        box.button(QMessageBox.StandardButton.No).setText("Skip")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.exec()
        return box.clickedButton() is box.button(QMessageBox.StandardButton.Yes)

    def _ask_missing_dates(self, patient_pks: list[int]) -> None:
        for pk in patient_pks:
            for exam in self.store.exams(pk):
                if exam.study_date is None and self.interactive:
                    self._set_date(exam.id)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.import_path(Path(url.toLocalFile()))

    def open_demo(self, analyse: bool = True) -> None:
        """The phantom demo patient (four exams, two scanners), written once, then imported."""
        from scoat_core.phantom.demo import default_demo_dir, write_demo

        out = default_demo_dir()
        if not any(out.glob("*/truth.json")):
            self.statusBar().showMessage("Writing the demo patient…")

            def work(progress, cancel):
                progress(0.1, "Generating four phantom exams")
                write_demo(out)
                return out

            self.enqueue("Demo patient", lambda: run_job(work), lambda _: None)
        self.import_path(out, then=(lambda pks: self.analyse_patients(pks)) if analyse else None)

    # ------------------------------------------------------------------ browser
    def refresh(self) -> None:
        self.browser.refresh()
        pk = self.browser.current_patient()
        if pk is None:
            shown = getattr(self, "_shown_patient", None)
            pk = shown if shown in {p.id for p in self.store.patients()} else None
        if pk is not None:
            self._patient_changed(pk)

    def _select_exam(self, exam_pk: int) -> None:
        self.browser.select(2, exam_pk)
        self.tabs.setCurrentWidget(self.viewer)

    def _browser_action(self, action: str, pk: int) -> None:
        handlers = {"analyse": lambda: self.analyse_exams([pk]),
                    "analyse_patient": lambda: self.analyse_patients([pk]),
                    "choose_series": lambda: self._choose_series(pk),
                    "set_date": lambda: self._set_date(pk),
                    "locate": lambda: self._locate(pk),
                    "merge": lambda: self._merge(pk),
                    "delete_patient": lambda: self._delete_patient(pk)}
        handlers[action]()

    def _choose_series(self, exam_pk: int) -> None:
        series = [s for s in self.store.series(exam_pk) if s.usable]
        if len(series) < 2:
            self._error("Choose series", "This exam has only one usable series.")
            return
        labels = [f"{s.description or s.series_uid} — {s.kernel} — "
                  f"{s.slice_thickness_mm or '?'} mm — {s.shape}" for s in series]
        current = next((i for i, s in enumerate(series) if s.selected), 0)
        text, ok = QInputDialog.getItem(self, "Choose series", "Series analysed for this exam:",
                                        labels, current, False)
        if ok:
            self.store.select_series(exam_pk, series[labels.index(text)].id)
            self.refresh()
            self.open_exam(exam_pk)

    def _set_date(self, exam_pk: int) -> None:
        exam = self.store.exam(exam_pk)
        source = exam.selected.source.name if exam.selected else ""
        default = exam.study_date.isoformat() if exam.study_date else ""
        text, ok = QInputDialog.getText(self, "Exam date",
                                        f"Date of the exam {source} (YYYY-MM-DD):", text=default)
        if not ok or not text.strip():
            return
        try:
            when = date.fromisoformat(text.strip())
        except ValueError:
            self._error("Exam date", f"'{text}' is not a date like 2020-03-14.")
            return
        self.store.set_exam_date(exam_pk, when)
        self.refresh()

    def _locate(self, exam_pk: int) -> None:
        exam = self.store.exam(exam_pk)
        if exam.selected is None:
            return
        old = exam.selected.source
        folder = QFileDialog.getExistingDirectory(self, f"Where is {old.name} now?")
        if folder:
            n = self.store.locate(exam.selected.id, Path(folder))
            self.statusBar().showMessage(f"{n} source path(s) updated.", 8000)
            self.refresh()

    def _merge(self, keep_pk: int) -> None:
        others = [p for p in self.store.patients() if p.id != keep_pk]
        if not others:
            return
        labels = [f"{p.patient_id} {p.name} ({exam_count(p.n_exams)})" for p in others]
        text, ok = QInputDialog.getItem(self, "Merge patients",
                                        "Move the exams of this patient into the selected one:",
                                        labels, 0, False)
        if ok:
            self.store.merge_patients(keep_pk, others[labels.index(text)].id)
            self.refresh()

    def _delete_patient(self, pk: int) -> None:
        answer = QMessageBox.question(self, "Remove patient", "Remove this patient and its "
                                      "cached results from the list? The source files stay.")
        if answer == QMessageBox.StandardButton.Yes:
            self.store.delete_patient(pk)
            self.refresh()

    # ------------------------------------------------------------------ exam display
    def open_exam(self, exam_pk: int) -> None:
        """Load the exam's CT (cache first) and its masks in the background, then show them."""
        exam = self.store.exam(exam_pk)
        if exam.selected is None:
            reasons = "; ".join(dict.fromkeys(s.excluded_reason for s in
                                              self.store.series(exam_pk) if s.excluded_reason))
            self._error("Cannot open", "This exam has no usable CT series"
                        + (f": {reasons}" if reasons else "."))
            return
        self.exam_pk = exam_pk
        if exam.patient_pk != getattr(self, "_shown_patient", None):
            self._patient_changed(exam.patient_pk)
        series = exam.selected
        patient = self.store.patient(exam.patient_pk)

        def work(progress, cancel):
            progress(0.1, "Reading the CT")
            volume = self.store.load_volume(series)
            row = self.store.analysis(series.id)
            lung = opacity = None
            if row is not None:
                progress(0.8, "Reading the masks")
                lung_v, opacity_v = self.store.load_masks(row)
                lung, opacity = lung_v.array, opacity_v.array
            return {"exam": exam, "volume": volume, "lung": lung, "opacity": opacity,
                    "analysis": row, "patient": patient}

        self.enqueue(f"Opening {exam.study_date or 'exam'}", lambda: run_job(work),
                     self._show_exam)

    def _show_exam(self, data: dict[str, Any]) -> None:
        if data["exam"].id != self.exam_pk:
            return  # another exam was selected meanwhile
        self.exam_data = data
        self.viewer.set_exam(data["volume"], data["lung"], data["opacity"], self.exam_label(data))
        exam = data["exam"]
        self.measure_tools.show_exam(exam.id, exam.selected.id if exam.selected else None)
        title = exam_title(self.patient_text(exam.patient_pk), exam.study_date)
        self.view3d_title.setText(title if data["lung"] is not None
                                  else f"{title}: not analysed, no 3-D view")
        self.attention_title.setText(title)
        self._update_3d()
        self._update_attention()

    def exam_label(self, data: dict[str, Any]) -> str:
        exam, volume, row = data["exam"], data["volume"], data["analysis"]
        info = volume.info
        scanner = " ".join(x for x in (info.manufacturer, info.model) if x)
        lines = [self.patient_text(exam.patient_pk) or "",
                 f"{exam.study_date or 'date unknown'} · {scanner or 'scanner unknown'}"
                 f"{' · ' + info.kernel if info.kernel else ''}"]
        if row is not None:
            m = row.metrics
            stale = " (out of date)" if self.model_sha and row.is_stale(self.model_sha) else ""
            lines.append(f"LOV {m['lov_ml']:.1f} mL · PO {m['po_percent']:.1f} %{stale}")
        else:
            series = exam.selected
            failure = series and self.store.failure(series.id, self.model_sha or "")
            lines.append(f"analysis failed: {short_reason(failure)}" if failure
                         else "not analysed")
        return "\n".join(lines)

    def _viewer_layout(self, name: str) -> None:
        """The viewer's layout changed (its box or the View menu): check it, remember it."""
        self.layout_actions[name].setChecked(True)
        self.prefs.viewer_layout = name

    def _hover(self, text: str) -> None:
        """HU and position under the mouse in the status line; the disclaimer when it leaves."""
        if text:
            self.statusBar().showMessage(text)
        elif self.statusBar().currentMessage() == self._hover_shown:
            self.statusBar().showMessage(DISCLAIMER)
        self._hover_shown = text

    def _axial_slice(self, z: int) -> None:
        if self.attention is not None and self.tabs.currentWidget() is self.attention_host:
            self.attention.set_slice(z)

    def _tab_changed(self, _index: int) -> None:
        current = self.tabs.currentWidget()
        if current is self.view3d_host:
            self._update_3d()
        elif current is self.attention_host:
            self._update_attention()
        elif current is self.compare_host:
            self.update_comparison()

    def _update_3d(self) -> None:
        if self.tabs.currentWidget() is not self.view3d_host or not self.exam_data:
            return
        if self.view3d is None:
            from app.views.view3d import View3D

            self.view3d = View3D()
            self.view3d_host.layout().addWidget(self.view3d)
        d = self.exam_data
        if d["lung"] is not None:
            v = d["volume"]
            self.view3d.set_masks(d["lung"], d["opacity"], v.spacing, v.direction, v.origin)
        else:  # never the masks of the exam shown before
            self.view3d.clear()

    def _update_attention(self) -> None:
        if self.tabs.currentWidget() is not self.attention_host or not self.exam_data:
            return
        if self.attention is None:
            from app.views.attention import AttentionPanel

            self.attention = AttentionPanel(model=self.loaded_model)
            self.attention_host.layout().addWidget(self.attention)
        self.attention.show()
        self.attention.set_volume(self.exam_data["volume"], self.viewer.axial.slice_index())

    # ------------------------------------------------------------------ patient views
    def _patient_changed(self, patient_pk: int) -> None:
        """Every view follows the selected patient: timeline, table, comparison, and the
        viewer, 3-D and attention drop an exam of another patient."""
        self._shown_patient = patient_pk
        entries = self.timeline_entries(patient_pk)
        self.plot.set_entries(entries)
        self.plot.set_title(timeline_title(self.patient_text(patient_pk),
                                           [e.study_date for e in entries]))
        self.table.set_entries(entries)
        if self._exam_patient(self.exam_pk) != patient_pk:
            self.exam_pk = None  # an exam of another patient still opening is not shown
        if self.exam_data is None or self.exam_data["exam"].patient_pk != patient_pk:
            self._clear_exam(patient_pk)
        self._compare_patient = None
        if self.tabs.currentWidget() is self.compare_host:
            self.update_comparison()

    def patient_text(self, patient_pk: int | None) -> str | None:
        """'ID · name' of a patient of the store (None for None)."""
        if patient_pk is None:
            return None
        try:
            patient = self.store.patient(patient_pk)
        except KeyError:
            return f"patient {patient_pk} (removed)"
        return patient_label(patient.patient_id, patient.name)

    def _exam_patient(self, exam_pk: int | None) -> int | None:
        try:
            return None if exam_pk is None else self.store.exam(exam_pk).patient_pk
        except KeyError:
            return None

    def _clear_exam(self, patient_pk: int | None) -> None:
        """No exam shown (or one opening): the exam views say so, naming the patient."""
        self.exam_data = None
        opening = None
        if self.exam_pk is not None:
            exam = self.store.exam(self.exam_pk)
            opening = exam.study_date or f"exam {exam.id}"
        text = no_exam_text(self.patient_text(patient_pk), opening)
        self.viewer.set_exam(None, label=text)
        if self.view3d is not None:
            self.view3d.clear()
        if self.attention is not None:
            self.attention.hide()
        for title in (self.view3d_title, self.attention_title):
            title.setText(text)

    def timeline_entries(self, patient_pk: int) -> list[TimelineEntry]:
        out = []
        for exam, row in self.store.analyses_for_patient(patient_pk):
            s = exam.selected
            scanner = " ".join(x for x in (s.manufacturer, s.model) if x) if s else ""
            label = exam.study_date.isoformat() if exam.study_date else f"exam {exam.id}"
            out.append(TimelineEntry(exam.id, exam.study_date, label, scanner,
                                     row.metrics if row else None))
        return out

    def update_comparison(self) -> None:
        """Load up to four analysed exams of the selected patient and register them to the
        first (registrations stored, so computed once per pair of analyses). Until they are
        shown, and when the patient cannot be compared, the tab says why, naming the patient:
        never the comparison of another patient."""
        patient_pk = self.browser.current_patient()
        if patient_pk is not None and getattr(self, "_compare_patient", None) == patient_pk:
            return
        patient = self.patient_text(patient_pk)
        exams = self.store.analyses_for_patient(patient_pk) if patient_pk is not None else []
        pairs = [(e, r) for e, r in exams if r]
        message = comparison_message(patient, len(exams), len(pairs))
        if message:
            self._compare_patient = None
            self._show_compare_note(patient, message)
            return
        pairs = pairs[:1] + pairs[1:][-3:]  # the baseline and the three latest
        self._compare_patient = patient_pk
        self._show_compare_note(patient, f"Preparing the comparison of {patient}…")

        def work(progress, cancel):
            from app.views.comparison import TimePoint

            points = []
            for i, (exam, row) in enumerate(pairs):
                progress(0.5 * i / len(pairs), f"Reading exam {i + 1} of {len(pairs)}")
                volume = self.store.load_volume(exam.selected)
                lung, opacity = self.store.load_masks(row)
                points.append(TimePoint(exam.id, str(exam.study_date or ""), volume,
                                        lung.array, opacity.array, row.metrics, patient or ""))

            def reg_progress(done, total):
                progress(0.5 + 0.5 * done / max(total, 1), "Registering to the first exam")

            problems: dict[int, str] = {}
            registrations = self.store.registrations_for(
                points, {exam.id: row.id for exam, row in pairs}, progress=reg_progress,
                cancel=cancel, problems=problems)
            return patient_pk, points, registrations, problems

        self.enqueue("Preparing the comparison", lambda: run_job(work), self._show_comparison,
                     lambda message, pk=patient_pk: self._comparison_failed(pk, message))

    def _show_compare_note(self, patient: str | None, message: str) -> None:
        """The Compare tab without panes: its title names the patient, the note says why."""
        self.compare_title.setText(patient or no_exam_text(None))
        self._compare_note.setText(message)
        self._compare_note.show()
        if self.comparison is not None:
            self.comparison.hide()

    def _comparison_failed(self, patient_pk: int, message: str) -> None:
        if getattr(self, "_compare_patient", None) == patient_pk:
            self._compare_patient = None  # tried again on the next visit of the tab
        if patient_pk == self.browser.current_patient():
            patient = self.patient_text(patient_pk)
            self._show_compare_note(patient, f"Cannot compare the exams of {patient}: {message}")
        self.statusBar().showMessage(f"Comparison failed: {message}", 15000)

    def _show_comparison(self, result) -> None:
        from app.views.comparison import ComparisonView

        patient_pk, points, registrations, problems = result
        if patient_pk != self.browser.current_patient():
            return  # another patient was selected meanwhile: their comparison follows
        if self.comparison is None:
            self.comparison = ComparisonView()
            self.compare_host.layout().addWidget(self.comparison, 1)
        self._compare_note.hide()
        self.comparison.show()
        self.compare_title.setText(comparison_title(points))
        self.comparison.set_time_points(points, registrations, problems)

    # ------------------------------------------------------------------ analysis
    def loaded_model(self):
        """The opacity model, loaded once (in whichever thread asks first)."""
        if self._model is None:
            from scoat_core.analysis.pipeline import load_model

            self._model = (self._model_loader or load_model)()
        return self._model

    def analyse_selected(self) -> None:
        pk = self.browser.current_exam()
        if pk is None:
            self._error("Analyse", "Select an exam first.")
            return
        self.analyse_exams([pk])

    def analyse_patient(self) -> None:
        pk = self.browser.current_patient()
        if pk is not None:
            self.analyse_patients([pk])

    def analyse_patients(self, patient_pks: list[int], only_missing: bool = True) -> None:
        pks = []
        for patient_pk in patient_pks:
            for exam, row in self.store.analyses_for_patient(patient_pk):
                fresh = row is not None and not (self.model_sha and row.is_stale(self.model_sha))
                if exam.selected is not None and not (only_missing and fresh):
                    pks.append(exam.id)
        self.analyse_exams(pks)

    def analyse_exams(self, exam_pks: list[int]) -> None:
        """Queue the analysis of each exam; each result is saved as soon as it is done."""
        device = self.prefs.usable_device()
        for i, exam_pk in enumerate(exam_pks):
            exam = self.store.exam(exam_pk)
            if exam.selected is None:
                continue
            title = f"Analysing {exam.study_date or 'exam'} ({i + 1} of {len(exam_pks)})"
            self.enqueue(title, lambda s=exam.selected: self._analysis_job(s, device),
                         lambda row, pk=exam_pk: self._analysis_saved(pk, row),
                         lambda message, pk=exam_pk, t=title: self._analysis_failed(pk, t,
                                                                                    message))

    def _analysis_job(self, series, device: str) -> Job:
        from scoat_core.analysis.pipeline import STAGE_SHARES, analyze
        from scoat_core.progress import shares_from_history

        # the time left follows the stage rates measured by the analyses on this machine
        shares = shares_from_history(self.store.recent_stage_seconds(), STAGE_SHARES)

        def work(progress, cancel):
            limit_torch_threads()
            on_stage = analysis_progress(progress)
            on_stage("model", 0.0, None)
            volume = self.store.load_volume(series)
            model = self.loaded_model()
            result = analyze(volume, model, device=device, progress=on_stage, cancel=cancel,
                             stage_shares=shares)
            if cancel():
                from scoat_core.progress import Cancelled

                raise Cancelled()
            return self.store.save_analysis(series.id, result, __version__)

        return run_job(work)

    def _analysis_failed(self, exam_pk: int, title: str, message: str) -> None:
        """Shown in the patient list (reason in its tooltip) and the status bar, not a dialog:
        a batch with several exams that cannot be analysed must not stack dialogs."""
        series = self.store.exam(exam_pk).selected
        if series is not None:
            self.store.save_failure(series.id, message, self.model_sha or "")
        self.browser.refresh()
        self.statusBar().showMessage(f"{title} failed: {message}", 15000)

    def _analysis_saved(self, exam_pk: int, row: AnalysisRow) -> None:
        self.refresh()
        self._compare_patient = None
        if self.exam_pk in (None, exam_pk):
            self.browser.select(2, exam_pk)
            self.open_exam(exam_pk)
        m = row.metrics
        self.statusBar().showMessage(
            f"Analysed in {row.seconds:.0f} s on {row.device}: LOV {m['lov_ml']:.1f} mL, "
            f"PO {m['po_percent']:.1f} %. {DISCLAIMER}", 15000)

    # ------------------------------------------------------------------ export
    def export_png(self) -> None:
        """The current tab as a PNG at the preferences' DPI; the Viewer as a figure (header,
        legend, scale bars), Compare and Timeline under a header (app/export/figure.py)."""
        from app.export.figure import render_comparison, render_viewer_figure, with_header
        from app.export.png import SCREEN_DPI, save_png

        current = self.tabs.currentWidget()
        header, name = self._png_header(current)
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", name, "PNG images (*.png)")
        if not path:
            return
        dpi = self.prefs.export_dpi
        try:
            if current is self.viewer and self.exam_data is not None:
                image = render_viewer_figure(self.viewer, header, self._png_legend(), dpi).image
            elif current is self.compare_host and self.comparison is not None \
                    and not self.comparison.isHidden():  # hidden: it shows another patient
                patient = self.store.patient(self.browser.current_patient())
                hide = (patient.patient_id, patient.name) if self.prefs.anonymise_reports else ()
                image = with_header(render_comparison(self.comparison, hide), header)
            elif current is self.timeline:  # the plot's title names the patient: the header
                image = with_header(self.plot.export_image(dpi, title=False), header,
                                    dpi / SCREEN_DPI)
            elif current is self.view3d_host and self.view3d is not None \
                    and self.view3d.snapshot():
                image = self.view3d.snapshot()
            else:
                image = current
            save_png(image, Path(path), dpi=dpi)
        except (OSError, ValueError) as exc:
            self._error("Export PNG", f"Could not write {path}: {exc}")
            return
        self.statusBar().showMessage(f"Saved {path}", 8000)

    def _png_header(self, current: QWidget) -> tuple[list[str], str]:
        """Header lines and default file name (patient_date_view.png) of a PNG of a tab."""
        from scoat_core.report.figure import exam_header, figure_file_name, series_header

        anonymise = self.prefs.anonymise_reports
        if current in (self.compare_host, self.timeline):
            patient_pk = self.browser.current_patient()
            if patient_pk is None:
                return [], "scoat-view.png"
            patient = self.store.patient(patient_pk)
            if current is self.compare_host and self.comparison is not None:
                dates = [self.store.exam(p.key).study_date for p in self.comparison.time_points()]
            else:
                dates = [e.study_date for e in self.timeline_entries(patient_pk)]
            view = "Comparison" if current is self.compare_host else "Timeline"
            last = max((d for d in dates if d is not None), default=None)
            return (series_header(patient.patient_id, patient.name, dates, view, anonymise),
                    figure_file_name(patient.patient_id, last, view.lower(), anonymise))
        data = self.exam_data
        if data is None:
            return [], "scoat-view.png"
        exam, patient, row = data["exam"], data["patient"], data["analysis"]
        series = data["volume"].info.series_description or (
            exam.selected.description if exam.selected else "")
        header = exam_header(patient.patient_id, patient.name, exam.study_date, series,
                             row.metrics if row else None, anonymise)
        view = "3d" if current is self.view3d_host else "attention" \
            if current is self.attention_host else "-".join(
                p.plane for p in self.viewer.visible_panes())
        return header, figure_file_name(patient.patient_id, exam.study_date, view, anonymise)

    def _png_legend(self) -> list:
        """The legend of the overlays the viewer draws now."""
        from scoat_core.report.figure import legend_entries

        mode, _alpha, show_lung, show_high = self.viewer.axial.overlay_style()
        data = self.exam_data or {}
        volume = data.get("volume")
        return legend_entries(mode, show_high and bool(volume is not None and volume.is_hu),
                              show_lung, has_opacity=data.get("opacity") is not None,
                              has_lung=data.get("lung") is not None)

    def export_masks(self) -> None:
        """File › Export masks: the shown exam's analysis written as ``scoat analyze`` writes
        it (lung and opacity NIfTI, DICOM SEG, metrics.json and .csv) into a chosen folder."""
        from scoat_core.store.mask_export import export_analysis

        data = self.exam_data
        if data is None or data["analysis"] is None:
            self._error("Export masks", "Open an analysed exam first: the masks of the exam "
                        "shown in the Viewer are exported." if data is None else
                        "This exam is not analysed yet: analyse it first (Analysis menu).")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the masks into a folder",
                                                  self.prefs.last_import_folder)
        if not folder:
            return
        exam, row, volume = data["exam"], data["analysis"], data["volume"]

        def work(progress, cancel):
            progress(0.1, "Writing the masks")
            return export_analysis(self.store, exam.selected, row, Path(folder), volume)

        def done(export) -> None:
            names = ", ".join(sorted(export.files))
            self.statusBar().showMessage(f"Saved {names} in {folder}", 10000)
            if export.notes and self.interactive:
                QMessageBox.information(self, "Export masks", f"Saved {names} in {folder}."
                                        "\n\n" + "\n".join(export.notes))

        self.enqueue("Exporting the masks", lambda: run_job(work), done)

    def export_pdf(self, path: Path | None = None, anonymise: bool | None = None) -> None:
        """The PDF report of the selected patient (asks where unless ``path`` is given)."""
        patient_pk = self.browser.current_patient()
        if patient_pk is None:
            self._error("Report", "Select a patient first.")
            return
        pairs = [(e, r) for e, r in self.store.analyses_for_patient(patient_pk) if r]
        if not pairs:
            self._error("Report", "No analysed exam for this patient yet.")
            return
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export PDF report", "scoat-report.pdf",
                                                    "PDF (*.pdf)")
            if not chosen:
                return
            path = Path(chosen)
            if anonymise is None:
                answer = QMessageBox.question(
                    self, "Anonymise?", "Leave the patient name and ID out of the report?",
                    defaultButton=QMessageBox.StandardButton.Yes
                    if self.prefs.anonymise_reports else QMessageBox.StandardButton.No)
                anonymise = answer == QMessageBox.StandardButton.Yes
        anonymise = self.prefs.anonymise_reports if anonymise is None else anonymise
        patient = self.store.patient(patient_pk)
        model = self.model_info()

        def work(progress, cancel):
            from scoat_core.followup.comparison import TimePoint
            from scoat_core.progress import Cancelled
            from scoat_core.report.content import build_report
            from scoat_core.report.series import report_series

            points = []
            for i, (exam, row) in enumerate(pairs):
                if cancel():
                    raise Cancelled("report cancelled")
                progress(0.3 * i / len(pairs), f"Reading exam {i + 1} of {len(pairs)}")
                volume = self.store.load_volume(exam.selected)
                lung, opacity = self.store.load_masks(row)
                label = str(exam.study_date or f"exam {exam.id}")
                points.append(TimePoint(exam.id, label, volume, lung.array, opacity.array,
                                        row.metrics))
            problems: dict[int, str] = {}
            # the Compare tab's registrations onto the first exam, stored once per pair
            registrations = self.store.registrations_for(
                points, {exam.id: row.id for exam, row in pairs}, cancel=cancel,
                problems=problems, progress=lambda done, total: progress(
                    0.3 + 0.3 * done / max(total, 1), "Registering to the first exam"))
            exams, intervals, _ = report_series(
                points, registrations, problems=problems, cancel=cancel,
                progress=lambda f, text: progress(0.6 + 0.4 * f, text))
            return build_report(patient.patient_id, patient.name, exams, model, __version__,
                                anonymise=anonymise, intervals=intervals)

        def write(data) -> None:
            from app.export.pdf import PLOT_SIZE_MM, write_pdf
            from app.views.timeline_plot import TimelinePlot

            # this patient's curve (whichever patient the Timeline tab shows now), laid out
            # off-screen at the page's size; without the title (the patient: the report has
            # its own header), LOV and PO whichever curve the tab shows
            figure = TimelinePlot()
            figure.set_x_mode(self.plot.x_mode())
            figure.set_entries(self.timeline_entries(patient_pk))
            plot = figure.export_image(300, title=False, curve="lov_po", size_mm=PLOT_SIZE_MM)
            figure.deleteLater()
            pages = write_pdf(data, path, plot)
            self.statusBar().showMessage(f"Saved {path} ({pages} pages)", 10000)

        self.enqueue("Building the report", lambda: run_job(work), write)

    def model_info(self) -> dict[str, Any]:
        from scoat_core.models.weights import (
            MANIFEST_NAME,
            find_entry,
            read_manifest,
            shipped_models_dir,
        )

        try:
            entry = find_entry(read_manifest(shipped_models_dir() / MANIFEST_NAME))
        except Exception:
            return {"name": "unknown"}
        return {"name": entry["name"], "width": entry["config"].get("width"),
                "arch": entry["config"].get("arch"), "sha256": entry["sha256"]}

    # ------------------------------------------------------------------ dialogs
    def show_preferences(self) -> None:
        dialog = PreferencesDialog(self.prefs, self)
        if dialog.exec():
            self.viewer.set_overlay(self.prefs.overlay_mode, self.prefs.overlay_alpha,
                                    self.prefs.show_lung_contour)
            self.plot.set_x_mode(self.prefs.x_axis)
            self._update_device_label()

    def _update_device_label(self) -> None:
        self.device_label.setText(f"Device: {self.prefs.usable_device()}")

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def show_about(self) -> None:
        try:
            from app.dialogs.about import AboutDialog
        except ImportError:
            QMessageBox.about(self, "About", f"SCOAT Follow-up {__version__}\n{DISCLAIMER}")
            return
        AboutDialog(self, device=self.prefs.usable_device()).exec()

    def grab_window(self) -> QImage:
        """The whole window as an image, with the 3-D scene painted in (OpenGL is not grabbed)."""
        image = self.grab().toImage()
        if self.view3d is not None and self.view3d.isVisible():
            scene = self.view3d.snapshot()
            if scene is not None:
                painter = QPainter(image)
                top_left = self.view3d.mapTo(self, self.view3d.rect().topLeft())
                painter.drawImage(QRectF(top_left.x(), top_left.y(), self.view3d.width(),
                                         self.view3d.height()), scene,
                                  QRectF(0, 0, scene.width(), scene.height()))
                painter.end()
        return image

    def exam_arrays(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The displayed exam's (lung, opacity) masks, for tests."""
        d = self.exam_data or {}
        return d.get("lung"), d.get("opacity")
