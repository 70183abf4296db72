"""Dense consolidation against the heart, mediastinum and chest wall: inside the lung mask?

For anatomy seeds 0 and 1, the three lesions of `scoat_core.phantom.cases.abutting_lesions` are
drawn with their ground-glass rim (the COVID pattern the lung mask is tuned on) and without it
(consolidation alone). Prints the share of each lesion's volume inside the predicted lung mask:
the opacity network only looks there, so a lesion left out is lost to the LOV.

Usage: python tools/lung_rimless.py [--matrix 128] [--seeds 0 1]
"""

from __future__ import annotations

import argparse

import numpy as np

from scoat_core.lung import segment_lungs
from scoat_core.phantom import make_phantom
from scoat_core.phantom.cases import ABUTTING_SITES, abutting_lesions


def shares_by_site(ph, pred: np.ndarray, centres: list[np.ndarray]) -> list[float]:
    """Share of each site's lesion voxels inside ``pred``; voxels go to the nearest centre."""
    idx = np.argwhere(ph.lesion.array > 0)  # (z, y, x)
    v = ph.ct
    mm = np.asarray(v.origin) + idx[:, ::-1] * np.asarray(v.spacing)  # unshifted phantom: LPS
    site = np.argmin([np.linalg.norm(mm - c, axis=1) for c in centres], axis=0)
    inside = pred[tuple(idx.T)]
    return [float(inside[site == k].mean()) for k in range(len(centres))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    print(f"{'seed':<6}{'rim':<6}" + "".join(f"{s:>13}" for s in ABUTTING_SITES))
    for seed in args.seeds:
        for rim in (True, False):
            lesions = abutting_lesions(seed, rim)
            centres = list(dict.fromkeys(les.center_mm for les in lesions))
            ph = make_phantom(matrix=args.matrix, seed=seed, lesions=lesions)
            pred = segment_lungs(ph.ct).labels.array > 0
            shares = shares_by_site(ph, pred, [np.asarray(c) for c in centres])
            print(f"{seed:<6}{'yes' if rim else 'no':<6}" + "".join(f"{v:>13.3f}" for v in shares))


if __name__ == "__main__":
    main()
