"""The desktop app's log file and its answer to unhandled exceptions.

`install_app_logging(log_dir)` adds a rotating log file (1 MB × 5) to the root logger and routes
Qt's own messages and Python warnings into it. `install_excepthook(parent_getter)` turns an
unhandled exception (in the main code, a Qt slot, or a thread) into a log record and a
non-blocking dialog with the message and a "Copy details" button: the app keeps running.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QtMsgType, QUrl, Signal, Slot, qInstallMessageHandler
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from scoat_core import __version__
from scoat_core.log_setup import FILE_FORMAT, quiet_third_party

log = logging.getLogger(__name__)

LOG_NAME = "scoat-followup.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
_HANDLER_MARK = "_scoat_app_log"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_state: dict[str, object] = {"log_path": None, "dialog": None, "notifier": None}


# -- log file ----------------------------------------------------------------------------------
def install_app_logging(log_dir: str | Path, level: int = logging.INFO) -> Path:
    """Log to ``log_dir/scoat-followup.log`` (rotating, 1 MB × 5 backups); returns the file.

    When `log_dir` cannot be created the log goes to the temporary folder instead. Calling it
    again replaces the handler. Qt messages (logger ``qt``) and ``warnings`` go to the log too.
    """
    folder = Path(log_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / LOG_NAME, maxBytes=MAX_BYTES,
                                      backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        folder = Path(tempfile.gettempdir()) / "scoat-followup-logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / LOG_NAME, maxBytes=MAX_BYTES,
                                      backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.setLevel(level)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    quiet_third_party()
    logging.captureWarnings(False)  # re-installs even if an earlier call left it on but a
    logging.captureWarnings(True)  # warnings.catch_warnings() since replaced showwarning
    qInstallMessageHandler(_qt_message)
    path = folder / LOG_NAME
    _state["log_path"] = path
    log.info("SCOAT Follow-up %s started (Python %s, %s)", __version__,
             sys.version.split()[0], sys.platform)
    return path


def current_log_path() -> Path | None:
    """The log file `install_app_logging` set up, if any."""
    path = _state["log_path"]
    return path if isinstance(path, Path) else None


_QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}


def _qt_message(kind: QtMsgType, _context: object, message: str) -> None:
    logging.getLogger("qt").log(_QT_LEVELS.get(kind, logging.WARNING), "%s", message)


# -- unhandled exceptions ----------------------------------------------------------------------
def details_text(exc_info: ExcInfo, *, diagnostics: str | None = None) -> str:
    """Traceback plus the diagnostics (`scoat_core.diagnostics.as_text`): "Copy details"."""
    trace = "".join(traceback.format_exception(*exc_info)).rstrip()
    if diagnostics is None:
        try:
            from scoat_core.diagnostics import as_text

            diagnostics = as_text()
        except Exception as exc:  # the report must never fail
            diagnostics = f"(diagnostics unavailable: {exc})"
    path = current_log_path()
    where = f"\nLog file: {path}" if path else ""
    return f"{trace}\n\n{diagnostics}{where}\n"


class CrashDialog(QDialog):
    """Tells the user an action failed, without closing the app; "Copy details" for a report."""

    def __init__(self, message: str, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unexpected error")
        self.setMinimumWidth(560)
        self.count = 1
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(40, 40))
        self.headline = QLabel("<b>SCOAT Follow-up ran into an unexpected error.</b><br>"
                               "The last action may not have finished. You can keep working; "
                               "if something looks wrong, restart the app.")
        self.headline.setWordWrap(True)
        self.message = QLabel(message)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        path = current_log_path()
        self.log_note = QLabel(f"Details were written to the log file {path}." if path else
                               "No log file is set up.")
        self.log_note.setWordWrap(True)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setMinimumHeight(220)
        self.details.setVisible(False)

        buttons = QDialogButtonBox()
        self.copy_button = QPushButton("Copy details")
        self.copy_button.clicked.connect(self.copy_details)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.toggle_button = QPushButton("Show details")
        self.toggle_button.clicked.connect(self._toggle_details)
        buttons.addButton(self.toggle_button, QDialogButtonBox.ButtonRole.ActionRole)
        if path:
            folder = QPushButton("Open log folder")
            folder.clicked.connect(lambda: QDesktopServices.openUrl(
                QUrl.fromLocalFile(str(path.parent))))
            buttons.addButton(folder, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.headline, 1)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.log_note)
        layout.addWidget(self.details)
        layout.addWidget(buttons)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details.toPlainText())
        self.copy_button.setText("Copied")

    def add_error(self, message: str, details: str) -> None:
        """Another error while the dialog is open: count it and append its details."""
        self.count += 1
        self.message.setText(f"{message}\n({self.count} errors since this window opened.)")
        self.details.appendPlainText("\n" + "=" * 72 + "\n" + details)

    def _toggle_details(self) -> None:
        show = not self.details.isVisible()
        self.details.setVisible(show)
        self.toggle_button.setText("Hide details" if show else "Show details")
        self.adjustSize()


def show_crash_dialog(exc_info: ExcInfo, parent: QWidget | None = None, *, modal: bool = True,
                      diagnostics: str | None = None) -> CrashDialog:
    """Show (never block on) the error dialog for `exc_info`; returns it.

    `modal` makes it window-modal (``open()``); otherwise it is a plain window (``show()``).
    While one is open, further errors are added to it instead of opening more.
    """
    message = f"{exc_info[0].__name__}: {exc_info[1]}"
    details = details_text(exc_info, diagnostics=diagnostics)
    current = _state["dialog"]
    if isinstance(current, CrashDialog) and current.isVisible():
        current.add_error(message, details)
        return current
    dialog = CrashDialog(message, details, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.destroyed.connect(lambda *_: _state.update(dialog=None))
    _state["dialog"] = dialog
    if modal:
        dialog.open()
    else:
        dialog.show()
    return dialog


class _Notifier(QObject):
    """Carries an exception from any thread to the dialog in the GUI thread (queued signal)."""

    raised = Signal(object)

    def __init__(self, parent_getter: Callable[[], QWidget | None], modal: bool) -> None:
        super().__init__()
        self.parent_getter = parent_getter
        self.modal = modal
        self.raised.connect(self.deliver)

    @Slot(object)
    def deliver(self, exc_info: ExcInfo) -> None:
        try:
            show_crash_dialog(exc_info, self.parent_getter(), modal=self.modal)
        except Exception:  # never let the error report raise again
            log.exception("could not show the error dialog")


def install_excepthook(parent_getter: Callable[[], QWidget | None] = lambda: None, *,
                       modal: bool = True) -> Callable[..., None]:
    """Route unhandled exceptions to the log and to `show_crash_dialog`; returns the hook.

    Covers ``sys.excepthook`` (the main thread and exceptions raised in Qt slots) and
    ``threading.excepthook``. `parent_getter` gives the dialog's parent when it is shown
    (e.g. ``QApplication.activeWindow``). Ctrl+C still goes to the previous hook.
    """
    previous = sys.excepthook
    notifier = _Notifier(parent_getter, modal)
    app = QApplication.instance()
    if app is not None:
        notifier.moveToThread(app.thread())
    _state["notifier"] = notifier  # keep it alive

    def hook(exc_type: type[BaseException], exc: BaseException,
             tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        log.critical("unhandled exception: %s: %s", exc_type.__name__, exc,
                     exc_info=(exc_type, exc, tb))
        if QApplication.instance() is None:
            previous(exc_type, exc, tb)
            return
        notifier.raised.emit((exc_type, exc, tb))  # direct in the GUI thread, else queued

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook
    return hook
