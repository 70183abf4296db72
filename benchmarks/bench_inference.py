"""Inference speed of the opacity network on 512×512 CT slices (CPU or GPU).

Times `SliceSegmenter.predict` (the code the application runs: resize by the model's input
scale, forward pass, resize back) on a batch of 512² slices taken from the synthetic phantom,
after one warm-up batch (which also does the ONNX export). Reports seconds per slice for each
requested model and backend: ``--backend`` (repeatable) ``torch`` (the plain float32 model, the
default), ``fast`` (torch's fast path: batch norm folded, channels-last, bf16 where the CPU has
it natively), ``onnxruntime`` (ONNX Runtime, float32). The JSON names the CPU class.

Usage: python benchmarks/bench_inference.py [--weights FILE | --width W ...] [--device cpu]
       [--slices N] [--threads T] [--backend torch|fast|onnxruntime ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from scoat_core.analysis.normalization import hu_to_unit
from scoat_core.analysis.slices import SliceSegmenter, cpu_has_bf16
from scoat_core.diagnostics import cpu_class
from scoat_core.phantom import make_phantom

#: SliceSegmenter settings of each --backend value.
BACKENDS: dict[str, dict] = {
    "torch": {},
    "fast": {"optimize": True, "precision": "bf16" if cpu_has_bf16() else "fp32"},
    "onnxruntime": {"optimize": True, "backend": "onnxruntime"},
}


def time_model(model, scale: float, slices: list[np.ndarray], device: str, batch: int,
               backend: str = "torch") -> float:
    seg = SliceSegmenter(model, scale=scale, device=device, **BACKENDS[backend])
    seg.predict(slices[:batch], batch_size=batch)  # warm-up
    t0 = time.perf_counter()
    seg.predict(slices, batch_size=batch)
    return (time.perf_counter() - t0) / len(slices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="a .safetensors file (default: shipped)")
    parser.add_argument("--width", type=int, action="append",
                        help="also time an untrained SCOAT-Net of this width (input scale 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--backend", action="append", choices=list(BACKENDS),
                        help="repeatable; default torch")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backends = args.backend or ["torch"]
    torch.set_num_threads(args.threads)
    ph = make_phantom(matrix=512, z_extent_mm=40, slice_thickness_mm=5, slice_spacing_mm=5)
    slices = [hu_to_unit(s) for s in ph.ct.array]
    slices = (slices * (args.slices // len(slices) + 1))[: args.slices]
    results = {"device": args.device, "threads": args.threads, "n_slices": len(slices),
               "batch": args.batch, "cpu_class": cpu_class()}
    if args.width:
        from scoat_core.models.registry import ModelConfig, create_model

        for w in args.width:
            model = create_model(ModelConfig(arch="scoat_net", width=w))
            for backend in backends:
                key = f"scoat_net-w{w}-scale1" + ("" if backend == "torch" else f"-{backend}")
                results[key] = time_model(model, 1.0, slices, args.device, args.batch, backend)
    else:
        from scoat_core.cli.model import load_for_inference

        model, scale, desc = load_for_inference(args.weights)
        for backend in backends:
            key = f"{desc.get('name')}-scale{scale:g}" + ("" if backend == "torch" else
                                                          f"-{backend}")
            results[key] = time_model(model, scale, slices, args.device, args.batch, backend)
    for key, value in results.items():
        if isinstance(value, float):
            print(f"{key}: {value:.3f} s per 512x512 slice")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
