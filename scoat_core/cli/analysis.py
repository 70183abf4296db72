"""``scoat analyze``: lung and opacity masks, DICOM SEG and metrics for the exams under a path."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scoat_core.cli.common import EXIT_INPUT, EXIT_PARTIAL, iso_date
from scoat_core.errors import UserError
from scoat_core.io.errors import NoUsableSeriesError
from scoat_core.progress import TerminalProgress

if TYPE_CHECKING:
    from scoat_core.volume import Volume


def add_analysis_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="segment lungs and opacity, write masks and metrics")
    p.add_argument("path", type=Path, help="a DICOM folder or file, or a NIfTI/MHA/NRRD volume")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda or mps")
    p.add_argument("--weights", type=Path, help="a .safetensors model (default: shipped)")
    add_trust_flag(p)
    p.add_argument("--date", help="exam date (YYYY-MM-DD) for volume files that carry none")
    p.add_argument("--tta", action="store_true", help="average with a left-right flip")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("timeline", help="analyse every exam of each patient and plot LOV/PO")
    p.add_argument("path", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--weights", type=Path)
    add_trust_flag(p)
    p.set_defaults(func=cmd_timeline)


def add_trust_flag(p: argparse.ArgumentParser) -> None:
    """``--trust-unverified-weights``: use a ``--weights`` file nothing verifies."""
    p.add_argument("--trust-unverified-weights", action="store_true", dest="trust_weights",
                   help="use a --weights file without a manifest or .sha256 checksum; results "
                        "are marked 'unverified model weights'")


def load_checked_model(args: argparse.Namespace):
    """The model of ``--weights`` (verified, or trusted with the flag), or the shipped one."""
    from scoat_core.analysis.pipeline import load_model

    model = load_model(args.weights, trust_unverified=args.trust_weights)
    if model.info.get("verified") is False:
        print(f"scoat: warning: unverified model weights {args.weights}: results are marked "
              "unverified", file=sys.stderr)
    return model


def report_problems(inventory) -> list[str]:
    """Print one ``scoat: skipped <file>: <why>`` line per file found but not read; returns the
    lines of the volume files among them (each an exam that could not be analysed)."""
    from scoat_core.io.images import is_volume_file

    failures = []
    for problem in inventory.problems:
        line = f"skipped {problem}"
        print(f"scoat: {line}", file=sys.stderr)
        if problem.kind == "error" and is_volume_file(problem.path):
            failures.append(line)
    return failures


class StageBar:
    """``progress(stage, fraction, eta)`` drawn as one bar per stage on stderr."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix, self.bars = prefix, {}

    def __call__(self, stage: str, fraction: float, eta: float | None) -> None:
        if stage == "done":
            return
        bar = self.bars.setdefault(stage, TerminalProgress(f"{self.prefix}{stage:<10}"))
        bar(round(fraction * 1000), 1000)


def exam_folder_name(info) -> str:
    date = info.study_date.strftime("%Y%m%d") if info.study_date else "nodate"
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{info.patient_id or 'patient'}_{date}")
    return label.strip("_")


def cmd_analyze(args: argparse.Namespace) -> int:
    from scoat_core.analysis.output import check_output_dir, write_analysis
    from scoat_core.analysis.pipeline import analyze
    from scoat_core.followup.table import exam_flags
    from scoat_core.io.exams import find_exams, load_series

    check_output_dir(args.out)  # a bad --out fails now, not after the analysis
    inventory = find_exams(args.path, load=False,
                           study_date=iso_date(args.date) if args.date else None)
    selected = [e.selected for p in inventory.patients for e in p.exams if e.selected]
    if not selected:
        raise NoUsableSeriesError.from_inventory(args.path, inventory)
    model = load_checked_model(args)
    summaries, failures = [], report_problems(inventory)
    for entry in selected:
        try:
            volume = load_series(entry)
            out = args.out if len(selected) == 1 else args.out / exam_folder_name(volume.info)
            print(f"{volume.summary()}", file=sys.stderr)
            result = analyze(volume, model, device=args.device, progress=StageBar(),
                             tta=args.tta)
        except UserError as exc:
            if len(selected) == 1:
                raise
            failures.append(skipped(entry, exc))
            continue
        files = (volume.source_files or entry.record.files) if entry.kind == "dicom" else None
        write_analysis(result, volume, out, source_files=files)
        metrics_json = result.to_json()
        warn_partial(entry.source, metrics_json)
        m = result.metrics
        summaries.append(f"{volume.info.patient_id} {volume.info.study_date}: lung "
                         f"{m.lung_volume_ml:.0f} mL, LOV {m.lov_ml:.1f} mL, PO "
                         f"{m.po_percent:.1f} %, {result.seconds:.1f} s on {result.device} -> "
                         f"{out}{flag_text(exam_flags(metrics_json))}")
    print("\n".join(summaries))
    return exit_status(len(summaries), failures)


def warn_partial(source: str, metrics: dict) -> None:
    """One ``scoat: warning: <source>: partial exam ...: <reason>`` line on stderr for an exam
    whose volumes are not the whole lungs'."""
    from scoat_core.followup.table import partial_reason

    reason = partial_reason(metrics)
    if reason is not None:
        print(f"scoat: warning: {source}: partial exam, its volumes are not comparable with "
              f"other exams: {reason}", file=sys.stderr)


def flag_text(flags: list[str]) -> str:
    """The flags of an exam's summary line (``PARTIAL (...)``, ``UNVERIFIED weights``), each
    after two spaces; empty without flags."""
    return "".join(f"  {flag}" for flag in flags)


def skipped(entry, exc: Exception) -> str:
    """Print and return the one line that names an exam that could not be analysed."""
    line = f"skipped {entry.source}: {exc}"
    print(f"scoat: {line}", file=sys.stderr)
    return line


def exit_status(done: int, failures: list[str]) -> int:
    """0 when every exam was analysed, else EXIT_PARTIAL (some done) or 1 (none)."""
    if not failures:
        return 0
    print(f"scoat: {len(failures)} of {done + len(failures)} exams could not be analysed "
          "(named above)", file=sys.stderr)
    return EXIT_PARTIAL if done else EXIT_INPUT


def cmd_timeline(args: argparse.Namespace) -> int:
    import json

    from scoat_core.analysis.output import check_output_dir, write_analysis
    from scoat_core.analysis.pipeline import analyze
    from scoat_core.followup.table import summary_flags
    from scoat_core.followup.timeline import run_timeline
    from scoat_core.io.exams import find_exams, load_series

    check_output_dir(args.out)  # a bad --out fails now, not after the analysis
    inventory = find_exams(args.path, load=False)
    if not any(e.selected for p in inventory.patients for e in p.exams):
        raise NoUsableSeriesError.from_inventory(args.path, inventory)
    model = load_checked_model(args)
    failures = report_problems(inventory)

    def analyze_exam(entry, folder: Path, volume: Volume | None = None) -> dict:
        volume = volume if volume is not None else load_series(entry)
        print(f"analysing {volume.summary()}", file=sys.stderr)
        result = analyze(volume, model, device=args.device, progress=StageBar("  "))
        files = (volume.source_files or entry.record.files) if entry.kind == "dicom" else None
        written = write_analysis(result, volume, folder, source_files=files)
        metrics = json.loads(written["metrics.json"].read_text())
        warn_partial(entry.source, metrics)
        return metrics

    def on_error(entry, exc: Exception) -> str:
        line = skipped(entry, exc)
        failures.append(line)
        return str(exc)

    timelines = run_timeline(args.path, args.out, analyze_exam, model.info["sha256"], inventory,
                             on_error=on_error)
    for patient_id, timeline in timelines.items():
        print(f"Patient {patient_id}")
        for e in timeline["exams"]:
            print(f"  {e['study_date']}  LOV {e['lov_ml']:8.1f} mL  PO {e['po_percent']:5.1f} %  "
                  f"lung {e['lung_volume_ml']:7.0f} mL  ({e['scanner']})"
                  + flag_text(summary_flags(e["partial_reason"], e["weights_verified"])))
        for c in timeline["changes"]["consecutive"]:
            rel = (f", {c['relative_lov_percent']:+.0f} %" if c["relative_lov_percent"]
                   is not None else "")
            print(f"  {c['from_label']} -> {c['to_label']}: {c['days']} days, "
                  f"dLOV {c['delta_lov_ml']:+.1f} mL{rel}, dPO {c['delta_po_pp']:+.1f} pp: "
                  f"{c['trend']}")
        for f in timeline.get("not_analysed", []):
            print(f"  {f['study_date']}  not analysed: {f['reason']}")
    print(f"written to {args.out}")
    done = sum(len(t["exams"]) for t in timelines.values())
    return exit_status(done, failures)
