"""Entry script of the PyInstaller bundle: one program, two names.

The executable called ``scoat`` (``scoat.exe``) runs the command line; any other name
(``scoat-app``, the macOS .app) starts the desktop application.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path


def main() -> int:
    multiprocessing.freeze_support()  # a frozen child process must not start the app again
    if Path(sys.executable).stem.lower() == "scoat":
        from scoat_core.cli.main import main as cli_main

        return cli_main()
    from app.main import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
