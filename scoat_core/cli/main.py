"""The ``scoat`` command line: headless access to everything in ``scoat_core``.

Each command lives in its own module (``info``, ``demo``, ``analysis``, ``model``) and adds its
subparser here; shared exit codes and argument types are in :mod:`scoat_core.cli.common`.
Exit codes: 0 success, 1 bad or unusable input (one line on stderr), 2 usage error, 3 a batch
where some exams could not be analysed, 70 internal error (a bug; one line, the traceback with
``--debug``), 130 cancelled (Ctrl+C). No traceback reaches the user unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from scoat_core.cli.analysis import add_analysis_commands
from scoat_core.cli.common import EXIT_CANCELLED, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from scoat_core.cli.demo import add_phantom_commands
from scoat_core.cli.info import add_info_command
from scoat_core.cli.model import add_model_commands
from scoat_core.diagnostics import version_line
from scoat_core.errors import UserError
from scoat_core.log_setup import configure_cli_logging
from scoat_core.progress import Cancelled

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scoat",
        description="SCOAT Follow-up: COVID-19 lung opacification on serial chest CT "
        "(research use, not for diagnosis).",
    )
    parser.add_argument("--version", action="version", version=version_line("scoat"))
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_info_command(sub)
    add_phantom_commands(sub)
    add_model_commands(sub)
    add_analysis_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded with results (e.g. the training command in a model manifest)
    configure_cli_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or EXIT_OK)
    except (Cancelled, KeyboardInterrupt):
        print("scoat: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except UserError as exc:
        if args.debug:
            raise
        print(f"scoat: {one_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        if args.debug:
            raise
        print(f"scoat: {os_error_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # a bug: one line for the user, the traceback with --debug
        if args.debug:
            raise
        log.debug("internal error", exc_info=True)
        print(f"scoat: internal error ({type(exc).__name__}: {first_line(exc)}); rerun with "
              "--debug for the traceback", file=sys.stderr)
        return EXIT_INTERNAL


def first_line(exc: BaseException) -> str:
    """The first non-blank line of ``exc``'s message (pydicom folds tracebacks into messages)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def os_error_line(exc: OSError) -> str:
    """``FILE: reason`` (``FILE -> OTHER: reason`` for a rename), or the first line of the
    message when the error names no file."""
    reason = exc.strerror or first_line(exc)
    if exc.filename is None:
        return reason
    other = f" -> {exc.filename2}" if exc.filename2 else ""
    return f"{exc.filename}{other}: {reason}"

