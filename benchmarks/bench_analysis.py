"""Whole-exam analysis speed: stages, slices per second, peak memory, and the naive path.

For each exam (the real RICORD series from the shared data, and a 300-slice phantom) this runs
`analyze()` as the application does (lung crop, slices without lung skipped, batches) and then the
naive path with the same model: every slice at full 512×512 field, no crop, no skipping, one
slice at a time. It prints wall seconds per stage, slices per second, the speed ratio, the Dice
agreement of the two opacity masks, and the peak RSS of the process (resource.getrusage).

Usage: python benchmarks/bench_analysis.py [--weights FILE] [--device cpu] [--json OUT]
       [--skip-naive] [--phantom-only]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from scoat_core.inference import analyze, load_model, postprocess
from scoat_core.io.dicom import read_dicom
from scoat_core.normalization import hu_to_unit
from scoat_core.phantom import make_phantom
from scoat_core.segment import THRESHOLD, SliceSegmenter
from scoat_core.shared_data import shared_dataset


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def naive_opacity(volume, lungs, model, device) -> tuple[np.ndarray, float]:
    seg = SliceSegmenter(model.model, scale=model.scale_for(volume.spacing[0]), device=device)
    t0 = time.perf_counter()
    out = np.zeros(volume.shape, np.uint8)
    for z in range(volume.shape[0]):
        out[z] = seg.predict([hu_to_unit(volume.array[z])], batch_size=1)[0] > THRESHOLD
    out = postprocess(out, lungs, volume.spacing)
    return out, time.perf_counter() - t0


def bench(name: str, volume, model, device: str, naive: bool) -> dict:
    t0 = time.perf_counter()
    result = analyze(volume, model, device=device)
    total = time.perf_counter() - t0
    lung_slices = int((result.lung.array > 0).any(axis=(1, 2)).sum())
    row = {"exam": name, "shape": list(volume.shape), "seconds_total": round(total, 2),
           "stage_seconds": {k: round(v, 2) for k, v in result.stage_seconds.items()},
           "slices": volume.shape[0], "lung_slices": lung_slices,
           "slices_per_second": round(volume.shape[0] / total, 2),
           "lov_ml": round(result.metrics.lov_ml, 1), "peak_rss_mb": round(peak_rss_mb())}
    if naive:
        mask, seconds = naive_opacity(volume, result.lung.array > 0, model, device)
        a, b = mask > 0, result.opacity.array > 0
        dice = 2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b))
        row.update(naive_opacity_seconds=round(seconds, 2),
                   speed_ratio_opacity=round(seconds / result.stage_seconds["opacity"], 2),
                   dice_fast_vs_naive=round(dice, 4))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--phantom-only", action="store_true")
    parser.add_argument("--phantom-matrix", type=int, default=512)
    parser.add_argument("--phantom-z-mm", type=float, default=300.0)
    parser.add_argument("--phantom-slice-mm", type=float, default=1.0,
                        help="0.5 gives a 600-slice exam for the memory check")
    args = parser.parse_args()
    model = load_model(args.weights)
    rows = []
    ricord = shared_dataset("ricord-covid-chest-ct")
    if ricord and not args.phantom_only:
        t0 = time.perf_counter()
        volume = read_dicom(ricord / "dicom")
        print(f"read RICORD in {time.perf_counter() - t0:.1f} s")
        rows.append(bench("ricord (255 slices)", volume, model, args.device,
                          not args.skip_naive))
    ph = make_phantom(matrix=args.phantom_matrix, slice_spacing_mm=args.phantom_slice_mm,
                      slice_thickness_mm=args.phantom_slice_mm,
                      z_extent_mm=args.phantom_z_mm, seed=3)
    rows.append(bench(f"phantom ({ph.ct.shape[0]} slices)", ph.ct, model, args.device,
                      not args.skip_naive))
    for row in rows:
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps({"model": model.info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
