"""The ``scoat`` command line: headless access to everything in ``scoat_core``.

Exit codes: 0 success, 1 bad or unusable input (one line on stderr), 2 usage error,
70 internal error (a bug; one line, the traceback with ``--debug``), 130 cancelled (Ctrl+C).
No traceback reaches the user unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from scoat_core import __version__
from scoat_core.diagnostics import version_line
from scoat_core.errors import UserError
from scoat_core.io.errors import NoUsableSeriesError
from scoat_core.log_setup import configure_cli_logging
from scoat_core.progress import Cancelled, TerminalProgress

log = logging.getLogger(__name__)

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL, EXIT_CANCELLED = 0, 1, 2, 70, 130


def _iso_date(text: str) -> date:
    digits = text.replace("-", "")
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError(text)
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD or YYYYMMDD): {text}") from exc


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

    p = sub.add_parser("info", help="list patients, exams and series found in a file or folder")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--date", type=_iso_date, help="exam date for volume files that carry none")
    p.add_argument(
        "--headers-only", action="store_true", help="do not decode pixels (faster, less checked)"
    )
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("phantom", help="write a synthetic chest CT patient (DICOM + NIfTI)")
    p.add_argument("out", type=Path)
    p.add_argument("--timeline", type=int, metavar="N", help="write N dated exams of one patient")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--matrix", type=int, help="in-plane matrix (default: 256, timeline 512)")
    p.add_argument("--no-dicom", action="store_true", help="write NIfTI only")
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser("demo", help="make the demo patient (4 phantom exams), list and analyse it")
    p.add_argument("--out", type=Path, help="folder for the demo patient (default: a cache folder)")
    p.add_argument("--no-analysis", action="store_true", help="only write and list the exams")
    p.set_defaults(func=cmd_demo)

    from scoat_core.cli_analysis import add_analysis_commands
    from scoat_core.cli_model import add_model_commands

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
        print(f"scoat: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        if args.debug:
            raise
        print(f"scoat: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # a bug: one line for the user, the traceback with --debug
        if args.debug:
            raise
        log.debug("internal error", exc_info=True)
        print(f"scoat: internal error ({type(exc).__name__}: {exc}); rerun with --debug "
              "for the traceback", file=sys.stderr)
        return EXIT_INTERNAL


# -------------------------------------------------------------------------------- info
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
    for problem in inventory.problems:
        print(f"scoat: skipped {problem}", file=sys.stderr)
    if not inventory.usable_series():
        raise NoUsableSeriesError(args.path, "no usable CT image series or volume found")
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


# ----------------------------------------------------------------------------- phantom
def cmd_phantom(args: argparse.Namespace) -> int:
    from scoat_core.phantom import make_phantom, make_timeline, write_phantom, write_timeline

    nifti_dicom = {"dicom": not args.no_dicom, "nifti": True}
    overrides = {"matrix": args.matrix} if args.matrix else {}
    if args.timeline:
        phantoms = make_timeline(args.timeline, seed=args.seed, **overrides)
        write_timeline(phantoms, args.out, **nifti_dicom)
    else:
        phantoms = [make_phantom(seed=args.seed, **overrides)]
        write_phantom(phantoms[0], args.out, **nifti_dicom)
    for ph in phantoms:
        t = ph.truth
        print(
            f"{ph.ct.info.study_date}  {ph.ct.summary()}  lesion {t.lesion_ml_total:.1f} mL "
            f"({t.percent_involved:.1f} % of lung)"
        )
    print(f"written to {args.out}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from scoat_core.phantom import make_timeline, write_timeline

    out = args.out or default_demo_dir()
    if not (out / "truth.json").exists() and not any(out.glob("*/truth.json")):
        print(f"Writing the demo patient to {out} ...", file=sys.stderr)
        write_timeline(make_timeline(4, seed=0), out)
    ns = argparse.Namespace(path=out, json=False, date=None, headers_only=False)
    status = cmd_info(ns)
    print("\nTrue lesion volumes of the phantom exams (from its masks):")
    for truth_file in sorted(out.glob("*/truth.json")):
        t = json.loads(truth_file.read_text())
        print(f"  {t['study_date']}  lung {t['lung_ml_total']:7.1f} mL  lesions "
              f"{t['lesion_ml_total']:6.1f} mL ({t['percent_involved']:.1f} % of lung; "
              f"ground-glass {t['lesion_ml_ggo']:.1f} mL, consolidation "
              f"{t['lesion_ml_consolidation']:.1f} mL)")
    if args.no_analysis:
        return status
    return _demo_analysis(out)


def _demo_analysis(out: Path) -> int:
    """Analyse the demo timeline with the shipped model and compare LOV with the truth."""
    from scoat_core.cli_analysis import cmd_timeline
    from scoat_core.models.weights import WeightsError, load_default_model

    try:
        load_default_model()
    except WeightsError as exc:
        print(f"\nNo analysis: {exc}", file=sys.stderr)
        return EXIT_OK
    analysis = out.with_name(out.name + "-analysis")
    print(f"\nAnalysing the demo exams into {analysis} (cached after the first run):")
    cmd_timeline(argparse.Namespace(path=out, out=analysis, device="auto", weights=None))
    truth = {}
    for p in out.glob("*/truth.json"):
        t = json.loads(p.read_text())
        truth[t["study_date"]] = (t, p.parent / "lesion_mask.nii.gz")
    print("\nMeasured against the phantom's truth (found: share of the true lesion voxels "
          "inside the opacity mask):")
    for path in sorted(analysis.glob("*/timeline.json")):
        for e in json.loads(path.read_text())["exams"]:
            t, lesion_file = truth.get(e["study_date"], (None, None))
            if t:
                found = _found(lesion_file, path.parent / e["label"] / "opacity_mask.nii.gz")
                print(f"  {e['study_date']}  LOV measured {e['lov_ml']:6.1f} mL, true "
                      f"{t['lesion_ml_total']:6.1f} mL; lung measured "
                      f"{e['lung_volume_ml']:7.1f} mL, true {t['lung_ml_total']:7.1f} mL{found}")
    return EXIT_OK


def _found(lesion_file: Path, opacity_file: Path) -> str:
    """``"; found: ground glass 90 %, consolidation 9 %"`` (empty when a mask is missing)."""
    from scoat_core.io.images import read_image
    from scoat_core.phantom.scoring import lesion_recall

    if not (lesion_file.exists() and opacity_file.exists()):
        return ""
    recall = lesion_recall(read_image(lesion_file).array, read_image(opacity_file).array)
    names = {"ggo": "ground glass", "consolidation": "consolidation"}
    parts = [f"{names[k]} {100 * v:.0f} %" for k, v in recall.items() if v is not None]
    return f"; found: {', '.join(parts)}" if parts else ""


def default_demo_dir() -> Path:
    """A per-user cache folder for the demo patient."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scoat-followup" / f"demo-{__version__}"


if __name__ == "__main__":
    sys.exit(main())
