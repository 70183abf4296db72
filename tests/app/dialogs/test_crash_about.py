"""The app's log file, the unhandled-exception dialog and the About dialog (offscreen Qt)."""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from logging.handlers import RotatingFileHandler

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QSize, qInstallMessageHandler, qWarning  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402

from app.dialogs import crash  # noqa: E402
from app.dialogs.about import AboutDialog, app_icon, icons_dir  # noqa: E402

FAKE_INFO = {"SCOAT Follow-up": "0.1.0", "Model": "scoat_net-w16 (scoat_net, width 16, "
             "SHA-256 2b65a734e5c5)", "torch": "2.13.0+cpu", "Device in use": "cpu"}


@pytest.fixture
def clean_hooks():
    """Restore the root logger, the exception hooks and Qt's message handler afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    qInstallMessageHandler(None)
    logging.captureWarnings(False)
    crash._state.update(log_path=None, notifier=None)
    dialog = crash._state.get("dialog")
    if dialog is not None:
        dialog.close()


def _read(path) -> str:
    for handler in logging.getLogger().handlers:  # only ours: an earlier test's stream may be
        if isinstance(handler, RotatingFileHandler):  # a closed capture buffer
            handler.flush()
    return path.read_text(encoding="utf-8")


def _exc_info(exc: BaseException):
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


def test_app_log_rotates_and_collects_library_qt_and_warnings(tmp_path, qapp, clean_hooks):
    path = crash.install_app_logging(tmp_path / "logs")
    path_again = crash.install_app_logging(tmp_path / "logs")
    assert path == path_again == tmp_path / "logs" / "scoat-followup.log"
    ours = [h for h in logging.getLogger().handlers if isinstance(h, RotatingFileHandler)
            and h.baseFilename == str(path)]
    assert len(ours) == 1  # installing twice replaces the handler
    assert (ours[0].maxBytes, ours[0].backupCount) == (1_000_000, 5)
    logging.getLogger("scoat_core.analysis.pipeline").info("analysis done")
    qWarning("a Qt warning")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a Python warning", UserWarning, stacklevel=1)
    text = _read(path)
    assert "started" in text and "INFO scoat_core.analysis.pipeline" in text
    assert "analysis done" in text
    assert "WARNING qt" in text and "a Qt warning" in text
    assert "a Python warning" in text
    assert crash.current_log_path() == path


def test_unwritable_log_folder_falls_back_to_temp(tmp_path, qapp, clean_hooks):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = crash.install_app_logging(blocker / "logs")
    assert path.name == "scoat-followup.log" and path.parent != blocker / "logs"
    assert path.parent.is_dir()


def test_excepthook_logs_and_shows_a_non_blocking_dialog(tmp_path, qtbot, clean_hooks,
                                                          monkeypatch):
    monkeypatch.setattr("scoat_core.diagnostics.collect", lambda device="auto": FAKE_INFO)
    log_path = crash.install_app_logging(tmp_path / "logs")
    hook = crash.install_excepthook(lambda: None, modal=False)
    assert sys.excepthook is hook

    sys.excepthook(*_exc_info(ZeroDivisionError("division by zero in a slot")))
    qtbot.waitUntil(lambda: isinstance(crash._state["dialog"], crash.CrashDialog)
                    and crash._state["dialog"].isVisible(), timeout=3000)
    dialog = crash._state["dialog"]
    assert "ZeroDivisionError: division by zero in a slot" in dialog.message.text()
    assert str(log_path) in dialog.log_note.text()
    text = _read(log_path)
    assert "CRITICAL app.dialogs.crash" in text and "unhandled exception: ZeroDivisionError" in text
    assert "Traceback" in text

    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert "Traceback" in copied and "ZeroDivisionError" in copied
    assert "SCOAT Follow-up: 0.1.0" in copied and f"Log file: {log_path}" in copied

    sys.excepthook(*_exc_info(ValueError("second")))  # added to the open dialog
    assert crash._state["dialog"] is dialog and dialog.count == 2
    assert "ValueError" in dialog.details.toPlainText()
    dialog.close()
    qtbot.waitUntil(lambda: crash._state["dialog"] is None, timeout=3000)


def test_exception_in_a_thread_reaches_the_gui_thread(qtbot, clean_hooks, monkeypatch):
    monkeypatch.setattr("scoat_core.diagnostics.collect", lambda device="auto": FAKE_INFO)
    crash.install_excepthook(lambda: None, modal=False)

    def work() -> None:
        raise RuntimeError("worker failed")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: crash._state["dialog"] is not None, timeout=3000)
    assert "RuntimeError: worker failed" in crash._state["dialog"].message.text()


def test_ctrl_c_goes_to_the_previous_hook(qtbot, clean_hooks):
    seen = []
    sys.excepthook = lambda *exc: seen.append(exc[0])
    crash.install_excepthook(lambda: None, modal=False)
    sys.excepthook(*_exc_info(KeyboardInterrupt()))
    qtbot.wait(50)
    assert seen == [KeyboardInterrupt] and crash._state["dialog"] is None


def test_about_dialog_shows_disclaimer_licence_and_copies_details(qtbot):
    dialog = AboutDialog(info=FAKE_INFO)
    qtbot.addWidget(dialog)
    assert "not for diagnostic use" in dialog.disclaimer.text().lower()
    assert "non-commercial" in dialog.model_label.text()
    assert "scoat_net-w16" in dialog.model_label.text()
    assert "model card" in dialog.model_label.text()
    assert dialog.details.isReadOnly()
    assert "torch:" in dialog.details.toPlainText()
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == dialog.details.toPlainText()
    assert "SCOAT Follow-up: 0.1.0" in QGuiApplication.clipboard().text()


def test_about_dialog_with_real_diagnostics(qtbot):
    dialog = AboutDialog(device="cpu")
    qtbot.addWidget(dialog)
    text = dialog.details.toPlainText()
    assert "Device in use:" in text and "cpu" in text and "Qt:" in text


def test_app_icon_has_every_size():
    icon = app_icon()
    assert not icon.isNull()
    sizes = {(s.width(), s.height()) for s in icon.availableSizes()}
    assert {(16, 16), (32, 32), (256, 256), (512, 512)} <= sizes
    assert not icon.pixmap(QSize(48, 48)).isNull()
    assert (icons_dir() / "scoat-followup.svg").is_file()
