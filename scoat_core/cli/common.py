"""What every ``scoat`` command shares: exit codes and argument types."""

from __future__ import annotations

import argparse
from datetime import date

#: 0 done; 1 bad or unusable input (one line on stderr); 2 usage error; 3 some exams of a batch
#: were analysed and others not (each named on stderr); 70 internal error; 130 cancelled.
EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERNAL, EXIT_CANCELLED = 0, 1, 2, 3, 70, 130


def iso_date(text: str) -> date:
    """``YYYY-MM-DD`` or ``YYYYMMDD`` as a date (an argparse type: a usage error otherwise)."""
    digits = text.replace("-", "")
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError(text)
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD or YYYYMMDD): {text}") from exc
