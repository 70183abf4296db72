"""Logging set-up for programs (the library itself only logs through ``getLogger(__name__)``).

`configure_cli_logging` is for the ``scoat`` command line: one stderr handler on the root
logger, warnings by default, everything with ``--verbose``. The desktop app's rotating log file
is set up in ``app.dialogs.crash.install_app_logging``.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

CLI_FORMAT = "%(levelname)s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"
#: Third-party loggers that are noisy at DEBUG and say nothing a user needs.
QUIET_LOGGERS = ("matplotlib", "PIL", "fsspec", "urllib3", "numexpr")

_HANDLER_MARK = "_scoat_cli_handler"


def configure_cli_logging(verbose: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Send log records to stderr (or `stream`): DEBUG and up when `verbose`, else WARNING.

    Idempotent: calling it again replaces the handler it added before (tests and repeated
    ``main()`` calls do not stack handlers). Returns the handler.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(CLI_FORMAT))
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    quiet_third_party()
    return handler


def quiet_third_party(level: int = logging.WARNING) -> None:
    """Raise the level of chatty third-party loggers (see `QUIET_LOGGERS`)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
