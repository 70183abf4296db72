"""Dense consolidation against the heart, mediastinum and chest wall: inside the lung mask?

For anatomy seeds 0 and 1, the three lesions of `scoat_core.phantom.cases.abutting_lesions` are
drawn with their ground-glass rim (the COVID pattern) and without it (consolidation alone).
Prints the share of each lesion's volume inside the lung mask, (a) of the HU rules alone
(`segment_lungs`) and (b) of the analysis (`analyze`: HU rules plus the network's opacity that
touches a lung, `scoat_core.lung.evidence`), and the share of the heart inside (b). The opacity
network only counts inside the mask, so a lesion left out is lost to the LOV.

Usage: python tools/lung_rimless.py [--matrix 128] [--seeds 0 1]
"""

from __future__ import annotations

import argparse

import numpy as np

from scoat_core.analysis.pipeline import analyze, load_model
from scoat_core.lung import segment_lungs
from scoat_core.phantom import make_phantom
from scoat_core.phantom.cases import ABUTTING_SITES, abutting_lesions


def lps_of(ph, idx: np.ndarray) -> np.ndarray:
    """LPS mm of (z, y, x) indices of the unshifted phantom grid."""
    return np.asarray(ph.ct.origin) + idx[:, ::-1] * np.asarray(ph.ct.spacing)


def shares_by_site(ph, pred: np.ndarray, centres: list[np.ndarray]) -> list[float]:
    """Share of each site's lesion voxels inside ``pred``; voxels go to the nearest centre."""
    idx = np.argwhere(ph.lesion.array > 0)  # (z, y, x)
    mm = lps_of(ph, idx)
    site = np.argmin([np.linalg.norm(mm - c, axis=1) for c in centres], axis=0)
    inside = pred[tuple(idx.T)]
    return [float(inside[site == k].mean()) for k in range(len(centres))]


def heart_share(ph, pred: np.ndarray) -> float:
    """Share of the phantom's heart voxels inside ``pred``."""
    idx = np.argwhere(np.ones(ph.ct.shape, bool))
    mm = lps_of(ph, idx)
    heart = ph.anatomy.in_heart(mm[:, 0], mm[:, 1], mm[:, 2]).reshape(ph.ct.shape)
    return float((heart & pred).sum() / max(1, heart.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    model = load_model()
    print(f"{'seed':<6}{'rim':<5}{'mask':<9}" + "".join(f"{s:>13}" for s in ABUTTING_SITES)
          + f"{'heart in':>10}")
    for seed in args.seeds:
        for rim in (True, False):
            lesions = abutting_lesions(seed, rim)
            centres = [np.asarray(c) for c in dict.fromkeys(les.center_mm for les in lesions)]
            ph = make_phantom(matrix=args.matrix, seed=seed, lesions=lesions)
            masks = {"HU rules": segment_lungs(ph.ct).labels.array > 0,
                     "analysis": analyze(ph.ct, model).lung.array > 0}
            for name, pred in masks.items():
                shares = shares_by_site(ph, pred, centres)
                print(f"{seed:<6}{'yes' if rim else 'no':<5}{name:<9}"
                      + "".join(f"{v:>13.3f}" for v in shares) + f"{heart_share(ph, pred):>10.3f}")


if __name__ == "__main__":
    main()
