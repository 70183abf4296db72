"""``scoat phantom`` and ``scoat demo``: synthetic patients; the demo checked against its truth."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from scoat_core.cli.common import EXIT_OK
from scoat_core.cli.info import cmd_info


def add_phantom_commands(sub: argparse._SubParsersAction) -> None:
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
    from scoat_core.phantom.demo import default_demo_dir, write_demo

    out = args.out or default_demo_dir()
    if not (out / "truth.json").exists() and not any(out.glob("*/truth.json")):
        print(f"Writing the demo patient to {out} ...", file=sys.stderr)
        write_demo(out)
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


def timeline_args(out: Path, analysis: Path) -> argparse.Namespace:
    """What ``scoat timeline`` gets from its command line, for the demo: the shipped model."""
    return argparse.Namespace(path=out, out=analysis, device="auto", weights=None,
                              trust_weights=False)


def _demo_analysis(out: Path) -> int:
    """Analyse the demo timeline with the shipped model and compare LOV with the truth."""
    from scoat_core.cli.analysis import cmd_timeline
    from scoat_core.models.weights import WeightsError, load_default_model

    try:
        load_default_model()
    except WeightsError as exc:
        print(f"\nNo analysis: {exc}", file=sys.stderr)
        return EXIT_OK
    analysis = out.with_name(out.name + "-analysis")
    print(f"\nAnalysing the demo exams into {analysis} (cached after the first run):")
    cmd_timeline(timeline_args(out, analysis))
    truth = {}
    for p in out.glob("*/truth.json"):
        t = json.loads(p.read_text())
        truth[t["study_date"]] = (t, p.parent / "lesion_mask.nii.gz")
    print("\nMeasured against the phantom's truth (found: share of the true lesion voxels "
          "inside the opacity mask):")
    rows = []
    for path in sorted(analysis.glob("*/timeline.json")):
        for e in json.loads(path.read_text())["exams"]:
            t, lesion_file = truth.get(e["study_date"], (None, None))
            if t:
                found = _found(lesion_file, path.parent / e["label"] / "opacity_mask.nii.gz")
                print(f"  {e['study_date']}  LOV measured {e['lov_ml']:6.1f} mL, true "
                      f"{t['lesion_ml_total']:6.1f} mL; lung measured "
                      f"{e['lung_volume_ml']:7.1f} mL, true {t['lung_ml_total']:7.1f} mL{found}")
                rows.append((e, t))
    _print_checks(sorted(rows, key=lambda r: r[0]["study_date"]))
    return EXIT_OK


#: What the demo must show (issue 12): LOV within 15 %, lung volume within 3 % of the truth.
LOV_TOLERANCE, LUNG_TOLERANCE = 0.15, 0.03


def _print_checks(rows: list[tuple[dict, dict]]) -> None:
    """Per exam: LOV and lung-volume error against the truth; per interval: measured and true
    trend labels (:func:`scoat_core.followup.changes.trend_label`)."""
    from scoat_core.followup.changes import trend_label

    if not rows:
        return
    print(f"\n  {'exam':<12}{'LOV error':>11}{'lung error':>12}   "
          f"(targets: within {LOV_TOLERANCE:.0%} and {LUNG_TOLERANCE:.0%})")
    for e, t in rows:
        lov = e["lov_ml"] / t["lesion_ml_total"] - 1 if t["lesion_ml_total"] else float("nan")
        lung = e["lung_volume_ml"] / t["lung_ml_total"] - 1
        ok = abs(lov) <= LOV_TOLERANCE and abs(lung) <= LUNG_TOLERANCE
        print(f"  {e['study_date']:<12}{lov:>+10.1%}{lung:>+12.1%}   {'ok' if ok else 'OUT'}")
    print(f"\n  {'interval':<25}{'measured':>13}{'true':>13}")
    for (e0, t0), (e1, t1) in itertools.pairwise(rows):
        measured = trend_label(e1["lov_ml"] - e0["lov_ml"],
                               e1["po_percent"] - e0["po_percent"])
        true = trend_label(t1["lesion_ml_total"] - t0["lesion_ml_total"],
                           t1["percent_involved"] - t0["percent_involved"])
        mark = "" if measured == true else "   WRONG"
        print(f"  {e0['study_date']} → {e1['study_date']}{measured:>13}{true:>13}{mark}")


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
