"""``scoat info``: the patients, exams and series found in a file or folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scoat_core.cli.common import EXIT_OK, iso_date
from scoat_core.io.errors import NoUsableSeriesError
from scoat_core.progress import TerminalProgress


def add_info_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="list patients, exams and series found in a file or folder")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--date", type=iso_date, help="exam date for volume files that carry none")
    p.add_argument(
        "--headers-only", action="store_true", help="do not decode pixels (faster, less checked)"
    )
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    from scoat_core.io.exams import find_exams

    inventory = find_exams(
        args.path,
        load=not args.headers_only,
        study_date=args.date,
        progress=TerminalProgress("scanning"),
    )
    if args.json:
        print(json.dumps(inventory_json(inventory), indent=2))
    else:
        print(format_inventory(inventory))
    if not inventory.usable_series():  # one line: the error names every problem
        raise NoUsableSeriesError.from_inventory(args.path, inventory)
    for problem in inventory.problems:
        print(f"scoat: skipped {problem}", file=sys.stderr)
    return EXIT_OK


def inventory_json(inventory) -> dict[str, object]:
    return {
        "patients": [
            {
                "patient_id": p.patient_id,
                "patient_name": p.patient_name,
                "exams": [
                    {
                        "study_date": e.study_date.isoformat() if e.study_date else None,
                        "description": e.description,
                        "series": [s.to_json() for s in e.series],
                    }
                    for e in p.exams
                ],
            }
            for p in inventory.patients
        ],
        "series": [s.to_json() for s in inventory.series()],
        "problems": [{"path": q.path, "message": q.message} for q in inventory.problems],
    }


def format_inventory(inventory) -> str:
    """A human-readable listing: patients, their exams by date, and each series."""
    lines: list[str] = []
    for p in inventory.patients:
        name = f" ({p.patient_name})" if p.patient_name else ""
        lines.append(f"Patient {p.patient_id or '?'}{name}: {len(p.exams)} exam(s)")
        for e in p.exams:
            when = e.study_date.isoformat() if e.study_date else "no date"
            lines.append(f"  Exam {when}  {e.description}")
            for s in e.series:
                lines.append("    " + _series_line(s))
                lines += [f"        ! {w}" for w in s.warnings]
    if not inventory.patients:
        lines.append("Nothing found.")
    return "\n".join(lines)


def _series_line(s) -> str:
    mark = "*" if s.selected else ("-" if s.usable else "x")
    info = s.info
    shape = "×".join(str(n) for n in s.shape) if s.shape else "?"
    spacing = "×".join(f"{v:.3g}" for v in s.spacing_mm) + " mm" if s.spacing_mm else ""
    scanner = " ".join(x for x in (info.manufacturer, info.model) if x)
    kernel = f"kernel {info.kernel}" if info.kernel else ""
    hu = "" if s.hu is None else ("HU" if s.hu else "NOT HU")
    parts = [info.modality, info.series_description, shape, spacing, scanner, kernel, hu]
    text = f"{mark} " + " | ".join(x for x in parts if x)
    return text + (f"  (excluded: {s.excluded_reason})" if s.excluded_reason else "")
