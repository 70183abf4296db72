"""``scoat-app``: start the desktop application.

Until the viewer lands this window lists what was found under PATH (or the demo patient) with
the same inventory the ``scoat info`` command prints.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scoat_core import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scoat-app", description="SCOAT Follow-up desktop app")
    p.add_argument("path", nargs="?", type=Path, help="folder or file to import")
    p.add_argument("--demo", action="store_true", help="open the demo phantom patient")
    p.add_argument("--screenshot", type=Path, help="render the window to this PNG and exit")
    p.add_argument("--version", action="version", version=f"scoat-app {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SCOAT Follow-up")
    window = MainWindow()
    if args.demo:
        window.open_demo()
    elif args.path:
        window.open_path(args.path)
    window.resize(1100, 700)
    window.show()
    if args.screenshot:
        app.processEvents()
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        ok = window.grab().save(str(args.screenshot))
        return 0 if ok else 1
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
