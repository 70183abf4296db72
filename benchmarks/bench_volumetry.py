"""Volumetry accuracy on phantoms of known lesion and lung volume, with true and pipeline masks.

For phantoms across in-plane spacings (0.6–1.0 mm, field of view 340 mm so the matrix grows as the
pixel shrinks, as on a scanner) and slice thicknesses (1–5 mm), each case is measured three ways:

* ``true``: :func:`quantify` on the phantom's true lung and lesion masks. This is pure arithmetic
  from physical spacing, so its error against the truth must be exactly 0 (the run fails otherwise).
* ``pipeline``: `analyze()` with the shipped model (its own lung mask and opacity): the honest
  error a user gets.
* ``true lung + model opacity``: the model's opacity inside the true lung, which separates the
  lung mask's share of the error from the opacity model's.

Usage: python benchmarks/bench_volumetry.py [--weights FILE] [--fov-mm 340] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scoat_core.analysis.pipeline import analyze, load_model
from scoat_core.analysis.quantify import quantify
from scoat_core.phantom import make_phantom
from scoat_core.training.metrics import mask_dice

CASES = [(0.6, 1.0), (0.7, 2.5), (0.8, 1.25), (0.9, 3.0), (1.0, 5.0)]


def pct(measured: float, true: float) -> float:
    return round(100 * (measured / true - 1), 1) if true else float("nan")


def measure(inplane: float, thickness: float, fov_mm: float, lesion_ml: float, seed: int,
            model, z_mm: float = 260.0) -> dict[str, object]:
    ph = make_phantom(matrix=round(fov_mm / inplane), fov_mm=fov_mm, z_extent_mm=z_mm,
                      slice_thickness_mm=thickness, slice_spacing_mm=thickness,
                      lesion_ml=lesion_ml, seed=seed)
    t = ph.truth
    exact = quantify(ph.ct, ph.lung, ph.lesion)
    exact_err = {"lov_ml": exact.lov_ml - t.lesion_ml_total,
                 "lung_ml": exact.lung_volume_ml - t.lung_ml_total,
                 "right_lung_ml": exact.right.lung_volume_ml - t.lung_ml_right,
                 "left_lung_ml": exact.left.lung_volume_ml - t.lung_ml_left,
                 "po_percent": exact.po_percent - t.percent_involved}
    start = time.perf_counter()
    res = analyze(ph.ct, model, device="cpu")
    seconds = time.perf_counter() - start
    m = res.metrics
    opacity = res.opacity.array > 0
    true_lung = ph.lung.array > 0
    mixed = quantify(ph.ct, ph.lung, res.opacity)
    return {
        "inplane_mm": inplane, "slice_mm": thickness, "shape": list(ph.ct.array.shape),
        "true_lov_ml": round(t.lesion_ml_total, 1),
        "true_masks_max_abs_error": max(abs(v) for v in exact_err.values()),
        "lov_ml": round(m.lov_ml, 1),
        "lov_error_ml": round(m.lov_ml - t.lesion_ml_total, 1),
        "lov_error_percent": pct(m.lov_ml, t.lesion_ml_total),
        "lov_true_lung_ml": round(mixed.lov_ml, 1),
        "lov_true_lung_error_percent": pct(mixed.lov_ml, t.lesion_ml_total),
        "true_po_percent": round(t.percent_involved, 2), "po_percent": round(m.po_percent, 2),
        "true_lung_ml": round(t.lung_ml_total, 1), "lung_ml": round(m.lung_volume_ml, 1),
        "lung_error_percent": round(100 * (m.lung_volume_ml / t.lung_ml_total - 1), 2),
        "lung_dice": round(mask_dice(res.lung.array > 0, true_lung), 4),
        "opacity_dice": round(mask_dice(opacity, ph.lesion.array > 0), 4),
        "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--fov-mm", type=float, default=340.0)
    parser.add_argument("--lesion-ml", type=float, default=250.0)
    parser.add_argument("--cases", type=int, default=len(CASES), help="run only the first N cases")
    parser.add_argument("--z-mm", type=float, default=260.0, help="scanned length")
    parser.add_argument("--coarsen", type=float, default=1.0,
                        help="multiply every spacing by this (smoke tests only)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = load_model(args.weights)
    rows = []
    for k, (inplane, thickness) in enumerate(CASES[: args.cases]):
        row = measure(inplane * args.coarsen, thickness * args.coarsen, args.fov_mm,
                      args.lesion_ml, 10 + k, model, args.z_mm)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": model.info, "fov_mm": args.fov_mm,
                                         "coarsen": args.coarsen, "rows": rows}, indent=2) + "\n")
    worst = max(r["true_masks_max_abs_error"] for r in rows)
    if worst > 1e-9:
        print(f"FAIL: volumetry with the true masks is off by {worst}", file=sys.stderr)
        return 1
    print(f"true masks: max |error| {worst:.1e} (mL or %; float rounding only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
