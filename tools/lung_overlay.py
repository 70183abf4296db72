"""Look at a lung segmentation: coronal and axial lung-window slices with the lungs outlined.

Reads a DICOM folder or a volume file (NIfTI, MHA, NRRD), segments the lungs with
`scoat_core.lung.segment_lungs`, prints the volumes and writes a PNG: a coronal slice through the
lungs' centre (aspect corrected for the slice spacing) beside an axial slice, in radiological
convention (the patient's right on the image left), the right lung tinted red and the left blue.

Usage: python tools/lung_overlay.py PATH --out PNG [--series N] [--axial-mm Z]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from scoat_core.errors import UserError
from scoat_core.io.exams import find_exams, load_series
from scoat_core.lung import segment_lungs
from scoat_core.lung.grid import Orientation
from scoat_core.volume import Volume

WINDOW = (-1350.0, 150.0)  # lung window: width 1500, level -600
COLOURS = {1: (230, 60, 40), 2: (40, 110, 240)}
TINT = 0.22
HEIGHT = 512


def load(path: Path, index: int) -> Volume:
    """The ``index``-th usable series found under ``path`` (selected series first)."""
    series = find_exams(path, load=False).usable_series()
    series.sort(key=lambda s: not s.selected)
    if not series:
        raise UserError(f"no usable image series under {path}")
    if index >= len(series):
        raise UserError(f"only {len(series)} usable series under {path}")
    entry = series[index]
    print(f"series: {entry.source} ({entry.info.series_description or entry.kind})")
    return load_series(entry)


def render(hu: np.ndarray, labels: np.ndarray, aspect: float) -> Image.Image:
    """Lung-window grey image with tinted, outlined lungs; rows scaled by ``aspect``."""
    lo, hi = WINDOW
    grey = np.clip((hu.astype(np.float32) - lo) / (hi - lo), 0, 1) * 255
    rgb = np.repeat(grey[..., None], 3, axis=2)
    for k, colour in COLOURS.items():
        m = labels == k
        rgb[m] = (1 - TINT) * rgb[m] + TINT * np.array(colour)
        edge = m & ~ndimage.binary_erosion(m)
        rgb[ndimage.binary_dilation(edge)] = colour
    img = Image.fromarray(rgb.astype(np.uint8))
    h, w = hu.shape
    scale = HEIGHT / (h * aspect)
    return img.resize((max(1, round(w * scale)), HEIGHT), Image.BILINEAR)


def annotate(img: Image.Image, title: str) -> Image.Image:
    """Title and R/L side markers."""
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=18)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        font = ImageFont.load_default()
    draw.text((6, 4), title, fill=(255, 255, 0), font=font)
    draw.text((6, img.height // 2), "R", fill=(255, 255, 0), font=font)
    draw.text((img.width - 20, img.height // 2), "L", fill=(255, 255, 0), font=font)
    return img


def figure(volume: Volume, labels: np.ndarray, axial_mm: float | None) -> Image.Image:
    """Coronal (when there are several slices) and axial panels side by side."""
    orient = Orientation.of(volume)
    hu, lab = orient.forward(volume.array), orient.forward(labels)
    sz, sy, sx = orient.spacing
    zc, yc, _ = (round(c) for c in ndimage.center_of_mass(lab > 0))
    if axial_mm is not None:
        zc = int(np.clip(round(axial_mm / sz), 0, hu.shape[0] - 1))
    panels = []
    if hu.shape[0] > 1:
        cor = render(hu[::-1, yc, :], lab[::-1, yc, :], sz / sx)
        panels.append(annotate(cor, f"coronal, row {yc}"))
    panels.append(annotate(render(hu[zc], lab[zc], sy / sx), f"axial, slice {zc} from bottom"))
    out = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), HEIGHT))
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + 8
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="DICOM folder or volume file")
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--series", type=int, default=0, help="index of the usable series")
    ap.add_argument("--axial-mm", type=float, help="axial slice height above the first slice")
    args = ap.parse_args(argv)
    try:
        volume = load(args.path, args.series)
        t0 = time.perf_counter()
        result = segment_lungs(volume)
        elapsed = time.perf_counter() - t0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"volume: {volume.summary()}")
    print(
        f"right lung {result.right_ml:.0f} mL, left lung {result.left_ml:.0f} mL, "
        f"total {result.total_ml:.0f} mL ({elapsed:.1f} s)"
    )
    for warning in result.warnings:
        print(f"warning: {warning}")
    figure(volume, result.labels.array, args.axial_mm).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
