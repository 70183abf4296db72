"""Lung mask against the truth when the field of view shrinks until it cuts the chest and lungs.

Phantoms (seed 1, 256² matrix) at several fields of view: whether the body and the lungs reach
the image edge, the lung Dice, measured / true lung volume, and whether the result is marked
complete (with its warnings).

Usage: python tools/lung_fov.py [--fov 230 245 260 280 340] [--matrix 256]
"""

from __future__ import annotations

import argparse

import numpy as np

from scoat_core.lung import segment_lungs
from scoat_core.phantom import make_phantom
from scoat_core.training.metrics import mask_dice


def touches_side(mask: np.ndarray) -> bool:
    return bool(mask[:, :, 0].any() or mask[:, :, -1].any())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fov", type=float, nargs="+", default=[230, 245, 260, 280, 340])
    parser.add_argument("--matrix", type=int, default=256)
    args = parser.parse_args()
    print("fov mm  body cut  lung cut   Dice  measured/true mL  complete")
    for fov in args.fov:
        ph = make_phantom(matrix=args.matrix, fov_mm=fov, seed=1)
        truth = ph.lung.array > 0
        result = segment_lungs(ph.ct)
        mask = result.labels.array > 0
        dice = mask_dice(mask, truth)
        print(f"{fov:6.0f}  {touches_side(ph.body.array > 0)!s:>8}  {touches_side(truth)!s:>8}  "
              f"{dice:.3f}  {result.total_ml:6.0f}/{ph.truth.lung_ml_total:6.0f}  "
              f"{result.complete!s:>8}  {'; '.join(result.warnings)}")


if __name__ == "__main__":
    main()
