"""Training speed of the opacity network: samples per second, float32 against the fast CPU path.

Times forward + backward + Adam steps of SCOAT-Net on random 256² batches (the training patch
size) for each setting: float32, channels-last, bfloat16 autocast, both (what ``scoat train``
uses on a CPU with native bf16), and on CUDA float16 autocast when a GPU is present. The best of
``--steps`` timed steps after one warm-up step is reported, with the CPU class.

Usage: python benchmarks/bench_training.py [--width 16] [--batch 8] [--steps 3] [--size 256]
       [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from scoat_core.analysis.slices import cpu_has_bf16
from scoat_core.diagnostics import cpu_class
from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.training.losses import get_loss, supervised


def samples_per_s(width: int, batch: int, size: int, steps: int, device: str,
                  channels_last: bool, dtype: torch.dtype | None) -> float:
    torch.manual_seed(0)
    model = create_model(ModelConfig(arch="scoat_net", width=width, deep_supervision="mean"))
    model = model.to(device)
    x = torch.rand(batch, 1, size, size, device=device)
    y = (torch.rand(batch, 1, size, size, device=device) > 0.9).float()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt, loss_fn = torch.optim.Adam(model.parameters(), 1e-3), get_loss("bce_dice", alpha=0.5)
    times = []
    for _ in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            loss = supervised(loss_fn, model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return batch / min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="patch side (training: 256)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = [("cpu fp32", "cpu", False, None), ("cpu channels-last", "cpu", True, None)]
    if cpu_has_bf16():
        settings += [("cpu bf16", "cpu", False, torch.bfloat16),
                     ("cpu bf16 + channels-last", "cpu", True, torch.bfloat16)]
    if torch.cuda.is_available():
        settings += [("cuda fp32", "cuda", False, None),
                     ("cuda fp16", "cuda", False, torch.float16)]
    rows = {}
    for name, device, cl, dtype in settings:
        rows[name] = round(samples_per_s(args.width, args.batch, args.size, args.steps, device, cl,
                                            dtype), 2)
        print(f"{name:<26} {rows[name]:8.2f} samples/s", flush=True)
    base = rows["cpu fp32"]
    result = {"cpu_class": cpu_class(), "cores": os.cpu_count(), "torch": torch.__version__,
              "width": args.width, "batch": args.batch, "patch": args.size, "samples_per_s": rows,
              "ratio_to_cpu_fp32": {k: round(v / base, 2) for k, v in rows.items()}}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
