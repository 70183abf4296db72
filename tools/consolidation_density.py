"""How the shipped model responds to lesion density: the demo's peak exam with its consolidation
re-drawn at other HU values.

Takes the peak exam (index 2) of the demo timeline (`make_timeline(4, seed=0)`), picks the slices
with the most consolidation and predicts them as they are and with every consolidation voxel set
to each of ``--hu`` (plus 20 HU noise). Prints the share of the consolidation and of the ground
glass voxels inside the predicted mask (probability > THRESHOLD), per slice.

Usage: python tools/consolidation_density.py [--matrix 256] [--slices 3] [--hu -300 -200 -100 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from scoat_core.analysis.normalization import hu_to_unit
from scoat_core.analysis.pipeline import load_model, make_segmenter
from scoat_core.analysis.slices import THRESHOLD
from scoat_core.phantom import make_timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=int, default=256)
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--hu", type=float, nargs="+", default=[-300, -200, -100, 0])
    args = parser.parse_args()
    exam = make_timeline(4, seed=0, matrix=args.matrix)[2]
    lesion = exam.lesion.array
    zs = np.sort(np.argsort((lesion == 2).sum(axis=(1, 2)))[-args.slices:])
    model = load_model()
    seg = make_segmenter(model, exam.ct.spacing[0], "cpu", "fp32")
    rng = np.random.default_rng(0)
    print(f"peak exam, slices {zs.tolist()}; consolidation found / ground glass found")
    for name, level in [("as drawn", None), *[(f"{hu:+.0f} HU", hu) for hu in args.hu]]:
        images = []
        for z in zs:
            hu = exam.ct.array[z].astype(np.float32)
            if level is not None:
                noise = rng.normal(0.0, 20.0, hu.shape).astype(np.float32)
                hu = np.where(lesion[z] == 2, np.float32(level) + noise, hu)
            images.append(hu_to_unit(hu))
        probs = seg.predict(images)
        cons = [(p[lesion[z] == 2] > THRESHOLD).mean() for p, z in zip(probs, zs, strict=True)]
        ggo = [(p[lesion[z] == 1] > THRESHOLD).mean() for p, z in zip(probs, zs, strict=True)]
        print(f"  {name:>9}: {' '.join(f'{c:.2f}' for c in cons)} / "
              f"{' '.join(f'{g:.2f}' for g in ggo)}")


if __name__ == "__main__":
    main()
