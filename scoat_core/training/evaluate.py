"""``scoat evaluate``'s work: a model's predictions on labelled slices scored three ways.

1. the SCOAT-Net paper's metrics at the 0.5 threshold (:mod:`scoat_core.training.metrics`),
   per-image mean and pooled;
2. the COVID-SemiSeg benchmark's own threshold-averaged metrics, meanDic and best-threshold Dice
   (:mod:`scoat_core.training.threshold_metrics`), comparable with Inf-Net's published tables;
3. with a class-mask folder, the sensitivity per class (ground glass, consolidation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scoat_core.analysis.slices import THRESHOLD, SliceSegmenter
from scoat_core.training import metrics, threshold_metrics
from scoat_core.training.data import Sample


def evaluate_samples(seg: SliceSegmenter, samples: Sequence[Sample],
                     class_masks: Sequence[np.ndarray] | None = None,
                     save_predictions: Path | None = None,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Every metric of the module docstring for ``samples`` predicted by ``seg``."""
    counts, curves, recalls, t0 = [], [], [], time.monotonic()
    for i, sample in enumerate(samples):
        prob = seg.predict([sample.image], batch_size=1)[0]
        pred = prob > THRESHOLD
        truth = sample.mask > 0
        spacing = (sample.pixel_mm, sample.pixel_mm) if sample.pixel_mm else None
        counts.append(metrics.counts(pred, truth, spacing))
        curves.append(threshold_metrics.threshold_curves(prob, truth))
        if class_masks is not None:
            recalls.append(threshold_metrics.class_recall(pred, class_masks[i]))
        if save_predictions:
            _save_png(save_predictions / f"{sample.name.replace(':', '_')}.png", pred)
        if progress:
            progress(i + 1, len(samples))
    summary = metrics.summarize(counts)
    summary["threshold"] = THRESHOLD
    summary["inf_net"] = threshold_metrics.summarize_curves(curves)
    if class_masks is not None:
        summary["class_sensitivity"] = threshold_metrics.summarize_class_recall(recalls)
    summary["seconds_per_image"] = (time.monotonic() - t0) / max(1, len(samples))
    return summary


def format_benchmark(summary: dict[str, Any]) -> str:
    """The benchmark lines printed under the paper's table."""
    b = summary["inf_net"]
    lines = [
        "Inf-Net benchmark metrics (min-max normalised maps, 256 thresholds):",
        f"  meanDic {100 * b['mean_dice']:.2f} %, best-threshold Dice {100 * b['max_dice']:.2f} % "
        f"(at {b['max_dice_threshold']:.3f}), meanSen {100 * b['mean_sen']:.2f} %, "
        f"meanSpe {100 * b['mean_spec']:.2f} %",
    ]
    for name, row in summary.get("class_sensitivity", {}).items():
        label = {"ggo": "ground glass", "consolidation": "consolidation"}[name]
        if row["n_images"]:
            lines.append(f"  sensitivity, {label}: {100 * row['mean']:.2f} % mean over "
                         f"{row['n_images']} images, {100 * row['pooled']:.2f} % pooled")
        else:
            lines.append(f"  sensitivity, {label}: no image has this class")
    return "\n".join(lines)


def _save_png(path: Path, mask: np.ndarray) -> None:
    from skimage import io

    path.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(path, (mask > 0).astype(np.uint8) * 255, check_contrast=False)
