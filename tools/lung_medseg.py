"""Expert lesions of the 50 medseg100-train slices: inside the lung mask of one 2-D slice?

Each 8-bit lung-window image is taken back to HU through the network's window
(`normalization.unit_to_hu`), turned to radiological orientation (the set's images have the
spine on the right) and analysed as a one-slice exam with an assumed 0.7 mm pixel (the set has no
spacing; MedSeg's source slices are 512² over a 30-40 cm field). For the HU-rule lung mask
(`segment_lungs`) and the analysis mask (`analyze`: plus the network's opacity that touches a
lung) it prints the share of the expert ground glass and consolidation (`masks-multiclass`: 1
and 2) inside, pooled over the slices, and how many slices had no lungs found. Caveat: these 50
slices are in the shipped model's training set, so the network's part of the analysis mask is
in-sample here.

Usage: python tools/lung_medseg.py [--data ../shared/data/medseg100-train] [--pixel-mm 0.7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from scoat_core.analysis.normalization import unit_to_hu
from scoat_core.analysis.pipeline import analyze, load_model
from scoat_core.errors import UserError
from scoat_core.lung import segment_lungs
from scoat_core.shared_data import shared_data_dir
from scoat_core.volume import Volume


def slice_volume(image: Path, pixel_mm: float) -> Volume:
    """One medseg image as a one-slice HU volume in radiological orientation."""
    unit = np.asarray(Image.open(image).convert("L"), dtype=np.float32) / 255.0
    hu = np.rot90(unit_to_hu(unit), k=1)  # spine from the right to the bottom
    return Volume(np.ascontiguousarray(hu)[None].astype(np.float32),
                  spacing=(pixel_mm, pixel_mm, 5.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "medseg100-train")
    parser.add_argument("--pixel-mm", type=float, default=0.7)
    args = parser.parse_args()
    model = load_model()
    inside = {m: np.zeros(3) for m in ("HU rules", "analysis")}
    total, failed = np.zeros(3), {m: 0 for m in inside}
    images = sorted((args.data / "images").glob("*.jpg"), key=lambda p: int(p.stem))
    for image in images:
        vol = slice_volume(image, args.pixel_mm)
        truth = np.rot90(np.asarray(Image.open(args.data / "masks-multiclass" /
                                               f"{image.stem}.png")), k=1)
        total += [np.count_nonzero(truth == k) for k in (0, 1, 2)]
        for name, fn in (("HU rules", lambda v: segment_lungs(v).labels),
                         ("analysis", lambda v: analyze(v, model).lung)):
            try:
                lungs = fn(vol).array[0] > 0
            except UserError:
                failed[name] += 1
                continue
            inside[name] += [np.count_nonzero(lungs & (truth == k)) for k in (0, 1, 2)]
    print(f"{len(images)} slices; expert ground glass {int(total[1])} px, consolidation "
          f"{int(total[2])} px")
    print(f"{'mask':<10}{'GGO inside':>12}{'cons. inside':>14}{'no lungs':>10}")
    for name, got in inside.items():
        print(f"{name:<10}{got[1] / total[1]:>12.3f}{got[2] / total[2]:>14.3f}{failed[name]:>10}")


if __name__ == "__main__":
    main()
