"""Axial and coronal views of an exam with its lung mask (cyan), opacity (yellow) and the mask's
voxels above -100 HU (red): the figure for checking the hila and dense consolidation.

``--before`` draws the lung mask as it was before issue 12 (HU rules only, 10 mm pleura
closing, no network evidence), so both states come from this one script.

Usage: python tools/lung_figure.py EXAM --z 120 150 --row 250 --out docs/screenshots/x.png
       [--before]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from scoat_core.analysis.pipeline import analyze, load_model
from scoat_core.io.dicom import read_dicom
from scoat_core.io.images import is_volume_file, read_image
from scoat_core.lung import pleura, segment_lungs

DENSE_HU = -100.0


def masks(volume, before: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Lung mask (and the opacity, for the analysis) of ``volume``."""
    if before:
        old = pleura.CLOSE_MM
        pleura.CLOSE_MM = 10.0
        try:
            return segment_lungs(volume).labels.array > 0, None
        finally:
            pleura.CLOSE_MM = old
    result = analyze(volume, load_model())
    return result.lung.array > 0, result.opacity.array > 0


def draw(ax, hu: np.ndarray, lung: np.ndarray, opacity, aspect: float, title: str) -> None:
    ax.imshow(np.clip(hu, -1150, 200), cmap="gray", aspect=aspect)
    ax.contour(lung, [0.5], colors="c", linewidths=0.7)
    if opacity is not None and opacity.any():
        ax.contour(opacity, [0.5], colors="y", linewidths=0.6)
    dense = lung & (hu > DENSE_HU)
    ax.imshow(np.ma.masked_where(~dense, dense), cmap="autumn", alpha=0.7, aspect=aspect)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exam", type=Path)
    parser.add_argument("--z", type=int, nargs="+", default=[])
    parser.add_argument("--row", type=int, default=None, help="coronal row (array y index)")
    parser.add_argument("--before", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    volume = read_image(args.exam) if is_volume_file(args.exam) else read_dicom(args.exam)
    lung, opacity = masks(volume, args.before)
    v = volume.voxel_volume_ml
    state = "before (HU rules, 10 mm closing)" if args.before else "after (analysis mask)"
    print(f"{state}: lungs {lung.sum() * v:.0f} mL, mask above {DENSE_HU:.0f} HU "
          f"{(lung & (volume.array > DENSE_HU)).sum() * v:.1f} mL")
    panels = len(args.z) + (args.row is not None)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 4.8), squeeze=False)
    for ax, z in zip(axes[0], args.z, strict=False):
        draw(ax, volume.array[z], lung[z], None if opacity is None else opacity[z], 1.0,
             f"{state}\naxial slice {z}")
    if args.row is not None:
        y = args.row
        sx, _, sz = volume.spacing
        draw(axes[0][-1], volume.array[::-1, y], lung[::-1, y],
             None if opacity is None else opacity[::-1, y], sz / sx, f"{state}\ncoronal row {y}")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)


if __name__ == "__main__":
    main()
