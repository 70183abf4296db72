"""Whole-exam analysis speed: stages, slices per second, peak memory, and the naive path.

For each exam (the real RICORD series from the shared data, and a 300-slice phantom) this runs
`analyze()` as the application does (only slices the dilated lung mask touches, an inference
copy of the network: batch norm folded, channels-last, bf16 where the CPU has it, batches) and
then the naive path with the same model: every slice at full 512×512 field, no crop, no
skipping, one slice at a time, the plain float32 model in eager mode. It prints wall seconds per
stage, slices per second, the speed ratio, the Dice agreement of the two opacity masks (the
issue asks for >= 0.99), and the peak RSS of the process during `analyze()` (VmHWM, reset
before each exam where Linux allows it, else resource.getrusage over the whole process).

``--backend`` picks the runtime of `analyze()` (auto, torch, onnxruntime; see
`scoat_core.analysis.slices`). ``--also fp32`` (or bf16: torch at that precision, or onnxruntime:
ONNX Runtime in float32) re-runs the opacity stage that way too and reports its seconds, its
speed ratio against the naive path and its Dice against the naive and the `analyze()` masks; so
``--backend torch --also fp32 --also onnxruntime`` measures the naive torch float32 path, torch's
fast path (bf16 where native), torch fast float32 and ONNX Runtime in one run. The JSON names
the CPU class (`scoat_core.diagnostics.cpu_class`).

Usage: python benchmarks/bench_analysis.py [--weights FILE] [--device cpu] [--json OUT]
       [--precision auto|fp32|bf16] [--backend auto|torch|onnxruntime] [--also fp32]
       [--skip-naive] [--phantom-only] [--phantom-slice-mm 0.5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from scoat_core.analysis.normalization import hu_to_unit
from scoat_core.analysis.pipeline import (
    analyze,
    load_model,
    make_segmenter,
    opacity_in_lungs,
    predict_opacity,
)
from scoat_core.analysis.postprocess import remove_small_components
from scoat_core.analysis.slices import THRESHOLD, SliceSegmenter, cpu_has_bf16
from scoat_core.diagnostics import cpu_class, package_version
from scoat_core.phantom import make_phantom
from scoat_core.shared_data import shared_dataset
from scoat_core.training.metrics import mask_dice


def reset_peak_rss() -> None:
    """Reset the kernel's RSS high-water mark of this process (Linux >= 4.0; else no-op)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def naive_opacity(volume, lungs, model, device) -> tuple[np.ndarray, float]:
    seg = SliceSegmenter(model.model, scale=model.scale_for(volume.spacing[0]), device=device)
    t0 = time.perf_counter()
    out = np.zeros(volume.shape, np.uint8)
    for z in range(volume.shape[0]):
        out[z] = seg.predict([hu_to_unit(volume.array[z])], batch_size=1)[0] > THRESHOLD
    out = remove_small_components(out.astype(bool) & lungs, volume.spacing)
    return out, time.perf_counter() - t0


def bench(name: str, volume, model, args) -> dict:
    reset_peak_rss()
    before = peak_rss_mb()
    t0 = time.perf_counter()
    result = analyze(volume, model, device=args.device, precision=args.precision,
                     backend=args.backend)
    total = time.perf_counter() - t0
    peak = peak_rss_mb()
    n = volume.shape[0]
    lung_slices = int((result.lung.array > 0).any(axis=(1, 2)).sum())
    opacity_s = result.stage_seconds["opacity"]
    row = {"exam": name, "shape": list(volume.shape), "precision": result.model["precision"],
           "backend": result.model["backend"],
           "seconds_total": round(total, 2),
           "stage_seconds": {k: round(v, 2) for k, v in result.stage_seconds.items()},
           "slices": n, "lung_slices": lung_slices,
           "slices_per_second": round(n / total, 2),
           "opacity_slices_per_second": round(n / opacity_s, 2),
           "lov_ml": round(result.metrics.lov_ml, 1), "rss_before_mb": round(before),
           "peak_rss_mb": round(peak)}
    print(json.dumps(row), flush=True)
    if args.skip_naive and not args.also:
        return row
    lungs = result.lung.array > 0
    fast = result.opacity.array
    if not args.skip_naive:
        mask, seconds = naive_opacity(volume, lungs, model, args.device)
        row.update(naive_opacity_seconds=round(seconds, 2),
                   naive_slices_per_second=round(n / seconds, 2),
                   speed_ratio_opacity=round(seconds / opacity_s, 2),
                   dice_fast_vs_naive=round(mask_dice(mask, fast), 4),
                   naive_opacity_ml=round(volume.volume_ml(mask > 0), 1))
    for also in args.also:
        backend = "onnxruntime" if also == "onnxruntime" else "torch"
        precision = "fp32" if also == "onnxruntime" else also
        seg = make_segmenter(model, volume.spacing[0], args.device, precision, backend)
        t0 = time.perf_counter()  # includes the ONNX export, once per exam
        other = opacity_in_lungs(predict_opacity(volume, result.lung.array, seg, lambda f: None),
                                 result.lung.array, volume.spacing)
        seconds = time.perf_counter() - t0
        key = f"fast_{seg.backend}" if seg.backend != "torch" else f"fast_{seg.precision}"
        row[f"{key}_opacity_seconds"] = round(seconds, 2)
        row[f"speed_ratio_{key}_vs_fast"] = round(opacity_s / seconds, 2)
        row[f"dice_{key}_vs_fast"] = round(mask_dice(other, fast), 4)
        if not args.skip_naive:
            row[f"speed_ratio_{key}_vs_naive"] = round(row["naive_opacity_seconds"] / seconds, 2)
            row[f"dice_{key}_vs_naive"] = round(mask_dice(other, mask), 4)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"])
    parser.add_argument("--also", action="append", default=[],
                        choices=["fp32", "bf16", "onnxruntime"],
                        help="also time the opacity stage with torch at this precision, or "
                             "with ONNX Runtime (repeatable)")
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
        from scoat_core.io.dicom import read_dicom  # pydicom only when DICOM is read

        volume = read_dicom(ricord / "dicom")
        print(f"read RICORD in {time.perf_counter() - t0:.1f} s", flush=True)
        rows.append(bench(f"ricord ({volume.shape[0]} slices)", volume, model, args))
        del volume
    ph = make_phantom(matrix=args.phantom_matrix, slice_spacing_mm=args.phantom_slice_mm,
                      slice_thickness_mm=args.phantom_slice_mm,
                      z_extent_mm=args.phantom_z_mm, seed=3)
    rows.append(bench(f"phantom ({ph.ct.shape[0]} slices)", ph.ct, model, args))
    for row in rows:
        print(json.dumps(row))
    if args.json:
        machine = {"cpu": platform.processor() or platform.machine(),
                   "cpu_class": cpu_class(), "cores": os.cpu_count(),
                   "torch_threads": torch.get_num_threads(), "cpu_bf16": cpu_has_bf16(),
                   "load_average": [round(v, 2) for v in os.getloadavg()],
                   "torch": torch.__version__,
                   "onnxruntime": package_version(("onnxruntime",), "onnxruntime")}
        args.json.write_text(json.dumps({"model": model.info, "machine": machine, "rows": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
