"""Is the pathology inside the lung mask? Lung mask vs truth on the demo phantom timeline.

For each exam of ``make_timeline(4, seed=0)``: predicted vs true lung volume (mL), lung Dice, and
the fraction of the true lesion volume inside the predicted lung mask (the opacity network only
looks inside that mask, so a lesion left out is lost to the LOV).

Usage: python tools/lung_inclusion.py [--matrix 256]
"""

from __future__ import annotations

import argparse
import time

from scoat_core.lung import segment_lungs
from scoat_core.phantom import make_timeline


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matrix", type=int, default=256)
    args = p.parse_args()
    print(f"{'exam':<12}{'truth mL':>10}{'mask mL':>10}{'Dice':>8}{'lesion in':>11}{'s':>7}")
    for ph in make_timeline(4, seed=0, matrix=args.matrix):
        t0 = time.perf_counter()
        pred = segment_lungs(ph.ct).labels.array > 0
        seconds = time.perf_counter() - t0
        truth, lesion = ph.lung.array > 0, ph.lesion.array > 0
        dice = 2 * (pred & truth).sum() / (pred.sum() + truth.sum())
        inside = (pred & lesion).sum() / max(1, lesion.sum())
        v = ph.ct.voxel_volume_ml
        print(f"{ph.ct.info.study_date!s:<12}{truth.sum() * v:>10.0f}{pred.sum() * v:>10.0f}"
              f"{dice:>8.4f}{inside:>11.3f}{seconds:>7.1f}")


if __name__ == "__main__":
    main()
