"""Figure for the model card: validation images of a CV run with truth and prediction outlines.

Each fold's model (its last checkpoint) predicts the images it never saw in training; the figure
shows a few of them with the ground truth in red and the prediction in cyan, and the image's
Dice in the corner.

Usage: python tools/cv_figure.py RUN --out docs/cv_predictions.png [--n 8] [--images D --masks D]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from skimage import io, segmentation
from skimage.transform import resize

from scoat_core.analysis.slices import THRESHOLD, SliceSegmenter
from scoat_core.shared_data import shared_data_dir
from scoat_core.training import metrics
from scoat_core.training.data import load_samples
from scoat_core.training.loop import TrainConfig


def fold_model(fold_dir: Path, cfg: TrainConfig):
    from scoat_core.models.registry import create_model

    state = torch.load(fold_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    model = create_model(cfg.model_config())
    model.load_state_dict(state["model"])
    return model.eval()


def _square(a: np.ndarray) -> np.ndarray:
    """Centre-pad to a square so the tile keeps the image's aspect ratio."""
    n = max(a.shape)
    out = np.zeros((n, n), a.dtype)
    y, x = (n - a.shape[0]) // 2, (n - a.shape[1]) // 2
    out[y : y + a.shape[0], x : x + a.shape[1]] = a
    return out


def overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, size: int = 256) -> np.ndarray:
    image, truth, pred = _square(image), _square(truth), _square(pred)
    rgb = np.repeat(resize(image, (size, size), order=1)[..., None], 3, axis=2)
    truth = resize(truth.astype(float), (size, size), order=0) > 0.5
    pred = resize(pred.astype(float), (size, size), order=0) > 0.5
    rgb[segmentation.find_boundaries(truth, mode="inner")] = (1.0, 0.15, 0.15)
    rgb[segmentation.find_boundaries(pred, mode="inner")] = (0.1, 0.95, 0.95)
    return (rgb * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=8)
    medseg = shared_data_dir() / "medseg100-train"
    parser.add_argument("--images", type=Path, default=medseg / "images")
    parser.add_argument("--masks", type=Path, default=medseg / "masks")
    args = parser.parse_args()
    by_name = {s.name: s for s in load_samples(args.images, args.masks)}
    cfg = TrainConfig.from_json(json.loads((args.run / "config.json").read_text()))
    tiles, captions = [], []
    for fold_dir in sorted(args.run.glob("fold*")):
        meta = json.loads((fold_dir / "metrics.json").read_text())
        seg = SliceSegmenter(fold_model(fold_dir, cfg), scale=cfg.scale, device="cpu")
        for name in meta["val_names"][: max(1, args.n // 5)]:
            sample = by_name[name]
            pred = seg.predict([sample.image])[0] > THRESHOLD
            dsc = metrics.metrics_from_counts(metrics.counts(pred, sample.mask > 0))["dsc"]
            tiles.append(overlay(sample.image, sample.mask > 0, pred))
            captions.append(f"{fold_dir.name} image {name}: DSC {dsc:.2f}")
    cols = min(5, len(tiles))
    rows = -(-len(tiles) // cols)
    grid = np.zeros((rows * 256, cols * 256, 3), np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[r * 256 : (r + 1) * 256, c * 256 : (c + 1) * 256] = tile
    args.out.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(args.out, grid, check_contrast=False)
    print("\n".join(f"tile {k + 1}: {c}" for k, c in enumerate(captions)))


if __name__ == "__main__":
    main()
