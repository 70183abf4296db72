"""Segmentation metrics of the SCOAT-Net paper (eq. 8–10), plus specificity.

With ``V_a`` the predicted and ``V_b`` the true opacity (volumes in mm³ when the spacing is known,
else in pixels):

* DSC = 2|V_a ∩ V_b| / (|V_a| + |V_b|);  SEN = |V_a ∩ V_b| / |V_b|;  PPV = |V_a ∩ V_b| / |V_a|
* VA  = 1 − 2·abs(|V_a| − |V_b|) / (|V_a| + |V_b|)   (as printed in eq. 8; it can go below 0)
* RLP = N_p / N_a: the share of predicted connected regions whose **centre** lies in the truth.
* RLR = N_t / N_b: the share of true regions that contain the centre of at least one correctly
  predicted region (our reading of "real opacity regions predicted by the model").
* The centre of a region U with edge V is eq. 10: u = argmin_{u_i∈U} max_{v_j∈V} ‖u_i − v_j‖,
  distances in mm. The farthest edge point is always a vertex of the edge's convex hull, so the
  max runs over hull vertices only (exact, and fast).
* SPEC = TN / (TN + FP).

Connected regions use full connectivity (8 in 2-D, 26 in 3-D). A ratio whose denominator is empty
is undefined (NaN) and left out of the per-image mean; DSC and VA of an image where both prediction
and truth are empty are 1. "Pooled" sums the counts over all images before dividing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage

METRIC_NAMES = ("dsc", "sen", "ppv", "va", "rlp", "rlr", "spec")


@dataclass
class Counts:
    """Additive counts from which every metric follows (volumes in mm³ or pixels)."""

    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    tn: float = 0.0
    n_pred_regions: int = 0
    n_pred_regions_correct: int = 0
    n_true_regions: int = 0
    n_true_regions_found: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two masks (nonzero = in), without spacing or regions; 1.0 when both are empty."""
    a, b = a > 0, b > 0
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 2.0 * np.count_nonzero(a & b) / total if total else 1.0


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def metrics_from_counts(c: Counts) -> dict[str, float]:
    """DSC, SEN, PPV, VA, RLP, RLR and SPEC from counts."""
    va, vb = c.tp + c.fp, c.tp + c.fn
    both_empty = va == 0 and vb == 0
    return {
        "dsc": 1.0 if both_empty else _ratio(2 * c.tp, va + vb),
        "sen": _ratio(c.tp, vb),
        "ppv": _ratio(c.tp, va),
        "va": 1.0 if both_empty else 1.0 - _ratio(2 * abs(va - vb), va + vb),
        "rlp": _ratio(c.n_pred_regions_correct, c.n_pred_regions),
        "rlr": _ratio(c.n_true_regions_found, c.n_true_regions),
        "spec": _ratio(c.tn, c.tn + c.fp),
    }


def region_centre(region: np.ndarray, spacing: Sequence[float] | None = None) -> tuple[int, ...]:
    """Index of the eq. 10 centre of one connected region (boolean array, any dimension)."""
    points = np.argwhere(region)
    if len(points) == 0:
        raise ValueError("empty region")
    scale = np.asarray(spacing[::-1] if spacing is not None else [1.0] * region.ndim, float)
    edge = region & ~ndimage.binary_erosion(region, border_value=0)
    edge_pts = np.argwhere(edge) * scale
    hull_pts = _hull_vertices(edge_pts)
    pts = points * scale
    best, best_d = 0, np.inf
    for start in range(0, len(pts), 4096):  # chunks keep memory small for big regions
        chunk = pts[start : start + 4096]
        d = np.sqrt(((chunk[:, None, :] - hull_pts[None, :, :]) ** 2).sum(-1)).max(1)
        i = int(np.argmin(d))
        if d[i] < best_d:
            best, best_d = start + i, float(d[i])
    return tuple(int(v) for v in points[best])


def _hull_vertices(points: np.ndarray) -> np.ndarray:
    """Convex hull vertices of points; all points when the hull is degenerate or small."""
    if len(points) <= 16:
        return points
    from scipy.spatial import ConvexHull, QhullError

    try:
        return points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # collinear/coplanar edges
        return points


def counts(
    pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float] | None = None
) -> Counts:
    """Counts of one image or volume. ``spacing`` is (x, y[, z]) in mm, or None for pixels.

    Arrays are indexed like numpy images ([row, col] or [slice, row, col]); ``spacing`` is given
    in (x, y, z) order as everywhere in the project.
    """
    pred, truth = np.asarray(pred).astype(bool), np.asarray(truth).astype(bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    unit = float(np.prod(spacing)) if spacing is not None else 1.0
    structure = np.ones((3,) * pred.ndim, bool)
    pred_lab, n_pred = ndimage.label(pred, structure)
    true_lab, n_true = ndimage.label(truth, structure)
    found: set[int] = set()
    correct = 0
    for idx, sl in enumerate(ndimage.find_objects(pred_lab), start=1):
        region = pred_lab[sl] == idx
        centre = region_centre(region, spacing)
        glob = tuple(s.start + c for s, c in zip(sl, centre, strict=True))
        if truth[glob]:
            correct += 1
            found.add(int(true_lab[glob]))
    tp = float(np.count_nonzero(pred & truth))
    fp = float(np.count_nonzero(pred & ~truth))
    fn = float(np.count_nonzero(~pred & truth))
    tn = float(pred.size) - tp - fp - fn
    return Counts(tp * unit, fp * unit, fn * unit, tn * unit, n_pred, correct, n_true, len(found))


def summarize(per_image: Iterable[Counts]) -> dict[str, object]:
    """Mean over images (NaN-skipping) and pooled metrics, in the ``scoat evaluate`` layout."""
    items = list(per_image)
    table = [metrics_from_counts(c) for c in items]
    pooled = metrics_from_counts(sum(items, Counts()))
    out: dict[str, object] = {"n_images": len(items)}
    for name in METRIC_NAMES:
        values = np.array([row[name] for row in table], float)
        defined = values[~np.isnan(values)]
        out[name] = {
            "mean": float(defined.mean()) if defined.size else float("nan"),
            "pooled": pooled[name],
            "n_defined": int(defined.size),
        }
    return out
