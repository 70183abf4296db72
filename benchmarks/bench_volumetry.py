"""Volumetry accuracy of the whole pipeline on phantoms of known lesion and lung volume.

For phantoms across in-plane spacings (0.6–1.0 mm, field of view 340 mm so the matrix grows as the
pixel shrinks, as on a scanner) and slice thicknesses (1–5 mm), `analyze()`
runs with the shipped model (its own lung mask and opacity), and the measured lung volume and LOV
are compared with the phantom's truth. With the true masks the volumetry is exact by construction
(tests/test_quantify.py); this measures the error of the masks themselves.

Usage: python benchmarks/bench_volumetry.py [--weights FILE] [--fov-mm 340] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scoat_core.inference import analyze, load_model
from scoat_core.phantom import make_phantom

CASES = [(0.6, 1.0), (0.7, 2.5), (0.8, 1.25), (0.9, 3.0), (1.0, 5.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--fov-mm", type=float, default=340.0)
    parser.add_argument("--lesion-ml", type=float, default=250.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = load_model(args.weights)
    rows = []
    for k, (inplane, thickness) in enumerate(CASES):
        ph = make_phantom(matrix=round(args.fov_mm / inplane), fov_mm=args.fov_mm,
                          slice_thickness_mm=thickness, slice_spacing_mm=thickness,
                          lesion_ml=args.lesion_ml, seed=10 + k)
        m = analyze(ph.ct, model, device="cpu").metrics
        t = ph.truth
        row = {"inplane_mm": inplane, "slice_mm": thickness,
               "true_lov_ml": round(t.lesion_ml_total, 1), "lov_ml": round(m.lov_ml, 1),
               "lov_error_ml": round(m.lov_ml - t.lesion_ml_total, 1),
               "lov_error_percent": round(100 * (m.lov_ml / t.lesion_ml_total - 1), 1),
               "true_lung_ml": round(t.lung_ml_total, 1), "lung_ml": round(m.lung_volume_ml, 1),
               "lung_error_percent": round(100 * (m.lung_volume_ml / t.lung_ml_total - 1), 2)}
        rows.append(row)
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps({"model": model.info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
