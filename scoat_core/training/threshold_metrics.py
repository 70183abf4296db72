"""The COVID-SemiSeg benchmark's own metrics (Inf-Net, Fan et al., IEEE TMI 2020), and per-class
sensitivity, so that our numbers sit in one table with the literature's.

Exactly as Inf-Net's evaluation code defines them:

* each predicted probability map is **min-max normalised** per image:
  ``(p − min p) / (max p − min p)`` (a constant map becomes all 0);
* it is binarised at ``≥ t`` for the 256 thresholds ``t = k / 255``, k = 0 … 255;
* per image and threshold, with TP = |P ∩ G| (G the true mask):
  Dice = 2·TP / (|P| + |G|), SEN = TP / |G|, SPEC = TN / (TN + FP) over the whole image; when
  TP = 0 **all three are 0** (Inf-Net's convention, also for an image with an empty truth);
* the per-threshold values are averaged over images, giving one curve per metric;
* **meanDic** (meanSen, meanSpe) is the mean of that curve over the 256 thresholds, and the
  **best-threshold Dice** ("maxDic") its maximum, with the threshold where it is reached.

Maps are used as the model outputs them (float probabilities), not quantised to 8-bit PNGs as
Inf-Net's pipeline does; that changes values by less than one threshold step.

Per-class sensitivity (``class_recall``): the share of the true pixels of each class of a palette
mask (1 ground-glass opacity, 2 consolidation, as ``medseg100-train/masks-multiclass``) that the
binary prediction covers, per image (images without that class left out) and pooled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

N_THRESHOLDS = 256
THRESHOLDS = np.arange(N_THRESHOLDS, dtype=np.float64) / (N_THRESHOLDS - 1)
CLASS_NAMES = {1: "ggo", 2: "consolidation"}


@dataclass
class ThresholdCurves:
    """Dice, sensitivity and specificity of one image at each of the 256 thresholds."""

    dice: np.ndarray
    sen: np.ndarray
    spec: np.ndarray


def minmax(prob: np.ndarray) -> np.ndarray:
    """Per-image min-max normalisation to [0, 1]; a constant map becomes all 0."""
    p = np.asarray(prob, dtype=np.float64)
    lo, hi = float(p.min()), float(p.max())
    return (p - lo) / (hi - lo) if hi > lo else np.zeros_like(p)


def threshold_curves(prob: np.ndarray, truth: np.ndarray) -> ThresholdCurves:
    """The three curves of one image (exact counts for all thresholds via sorting)."""
    p = minmax(prob).ravel()
    g = np.asarray(truth).ravel() > 0
    if p.shape != g.shape:
        raise ValueError(f"map shape {np.shape(prob)} != truth shape {np.shape(truth)}")
    n, n_true = p.size, int(np.count_nonzero(g))
    # number of pixels with p >= t, for every t, and of those inside the truth
    pred = n - np.searchsorted(np.sort(p), THRESHOLDS, side="left")
    tp = n_true - np.searchsorted(np.sort(p[g]), THRESHOLDS, side="left")
    fp = pred - tp
    tn = (n - n_true) - fp
    hit = tp > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        dice = np.where(hit, 2.0 * tp / (pred + n_true), 0.0)
        sen = np.where(hit, tp / max(n_true, 1), 0.0)
        spec = np.where(hit, tn / np.maximum(tn + fp, 1), 0.0)
    return ThresholdCurves(dice, sen, spec)


def summarize_curves(curves: Iterable[ThresholdCurves]) -> dict[str, float | int]:
    """meanDic, best-threshold Dice (and its threshold), meanSen and meanSpe over images."""
    items = list(curves)
    if not items:
        raise ValueError("no images")
    dice = np.mean([c.dice for c in items], axis=0)
    best = int(np.argmax(dice))
    return {
        "n_images": len(items),
        "mean_dice": float(dice.mean()),
        "max_dice": float(dice[best]),
        "max_dice_threshold": float(THRESHOLDS[best]),
        "mean_sen": float(np.mean([c.sen for c in items], axis=0).mean()),
        "mean_spec": float(np.mean([c.spec for c in items], axis=0).mean()),
    }


def class_recall(pred: np.ndarray, classes: np.ndarray) -> dict[int, tuple[int, int]]:
    """Per class present in ``classes``: (true pixels covered by ``pred``, true pixels)."""
    pred = np.asarray(pred) > 0
    classes = np.asarray(classes)
    if pred.shape != classes.shape:
        raise ValueError(f"prediction shape {pred.shape} != class mask shape {classes.shape}")
    out = {}
    for label in CLASS_NAMES:
        where = classes == label
        total = int(np.count_nonzero(where))
        if total:
            out[label] = (int(np.count_nonzero(pred & where)), total)
    return out


def summarize_class_recall(per_image: Iterable[dict[int, tuple[int, int]]]) -> dict[str, dict]:
    """Per class name: per-image mean sensitivity (images with the class), pooled, image count."""
    items = list(per_image)
    out: dict[str, dict] = {}
    for label, name in CLASS_NAMES.items():
        pairs = [d[label] for d in items if label in d]
        found, total = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        out[name] = {
            "mean": float(np.mean([f / t for f, t in pairs])) if pairs else float("nan"),
            "pooled": found / total if total else float("nan"),
            "n_images": len(pairs),
        }
    return out
