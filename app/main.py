"""``scoat-app``: start the desktop application.

``scoat-app [PATH] [--demo] [--analyse] [--tab NAME] [--screenshot FILE.png]``: with
``--screenshot`` the window is rendered once everything asked for (import, analysis, opening
the latest exam) is done, saved, and the program exits 0 (for tests, docs and CI).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scoat_core import __version__
from scoat_core.diagnostics import version_line

TABS = ("viewer", "compare", "timeline", "3d", "attention")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scoat-app", description="SCOAT Follow-up desktop app")
    p.add_argument("path", nargs="?", type=Path, help="folder or file to import")
    p.add_argument("--demo", action="store_true",
                   help="open the demo phantom patient (four exams) and analyse it")
    p.add_argument("--analyse", "--analyze", action="store_true",
                   help="analyse the imported exams that have no current result")
    p.add_argument("--tab", choices=TABS, default="viewer", help="tab shown first")
    p.add_argument("--screenshot", type=Path, help="render the window to this PNG and exit")
    p.add_argument("--size", default="1500x900", help="window size for --screenshot (WxH)")
    p.add_argument("--version", action="version", version=version_line("scoat-app"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.path is not None and not args.path.exists():
        print(f"scoat-app: {args.path}: no such file or folder", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        previous = _watch_platform_plugin()
        app = QApplication(sys.argv[:1])
        _restore_message_handler(previous)
    app.setOrganizationName("SCOAT")
    app.setApplicationName("SCOAT Follow-up")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("scoat-followup")
    from app.dialogs.about import app_icon

    app.setWindowIcon(app_icon())
    _install_diagnostics()
    from app.jobs.workers import preload_analysis_modules
    from app.main_window import MainWindow

    preload_analysis_modules()  # first-time imports hold the GIL: do them before the window
    window = MainWindow(interactive=args.screenshot is None)
    window.tabs.setCurrentIndex(TABS.index(args.tab))
    if args.demo:
        window.open_demo(analyse=True)
    elif args.path:
        then = (lambda pks: window.analyse_patients(pks)) if args.analyse else None
        window.import_path(args.path.resolve(), then=then)
    elif args.analyse:
        window.analyse_patients([p.id for p in window.store.patients()])
    if args.screenshot:
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
    else:
        window.resize(1500, 900)
    window.show()
    if args.screenshot:
        return _screenshot(app, window, args.screenshot)
    return app.exec()


def _watch_platform_plugin():
    """Until the QApplication exists: Qt's messages go to stderr as before, and when Qt cannot
    load its platform plugin (it then aborts the process) a one-line hint says how to fix it
    (:func:`scoat_core.diagnostics.qt_platform_hint`). Returns the handler it replaced."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, context, message: str) -> None:
        category = getattr(context, "category", "") or ""
        print(f"{category}: {message}" if category and category != "default" else message,
              file=sys.stderr, flush=True)
        if kind == QtMsgType.QtFatalMsg and "platform plugin" in message:
            from scoat_core.diagnostics import qt_platform_hint

            print(f"scoat-app: {qt_platform_hint()}", file=sys.stderr, flush=True)

    return qInstallMessageHandler(handler)


def _restore_message_handler(previous) -> None:
    from PySide6.QtCore import qInstallMessageHandler

    qInstallMessageHandler(previous)


def _install_diagnostics() -> None:
    """Rotating log file and the unhandled-exception dialog, when that module is present."""
    try:
        from app.dialogs.crash import install_app_logging, install_excepthook
    except ImportError:
        return
    from PySide6.QtCore import QStandardPaths
    from PySide6.QtWidgets import QApplication

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    install_app_logging(Path(base) / "logs")
    install_excepthook(QApplication.activeWindow)


def _screenshot(app, window, path: Path) -> int:
    """Wait until the job queue is empty (opening the latest exam first), grab, save, exit."""
    from PySide6.QtCore import QTimer

    state = {"opened": False}

    def on_idle() -> None:
        if not state["opened"]:
            state["opened"] = True
            patient = window.browser.current_patient()
            if patient is None and window.store.patients():
                patient = window.store.patients()[0].id
            exams = window.store.exams(patient) if patient is not None else []
            if exams and window.exam_pk is None:
                window.browser.select(2, exams[-1].id)
                if window.busy():
                    return  # opening: wait for the next idle
        QTimer.singleShot(300, grab)

    def grab() -> None:
        if window.busy():
            QTimer.singleShot(300, grab)
            return
        app.processEvents()
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = window.grab_window().save(str(path))
        app.exit(0 if ok else 1)

    window.idle.connect(on_idle)
    if not window.busy():
        QTimer.singleShot(0, on_idle)
    code = app.exec()
    for error in window.errors:
        print(f"scoat-app: {error}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
