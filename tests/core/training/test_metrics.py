"""Paper metrics (eq. 8–10): hand-checked small cases, physical units, pooling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoat_core.training.metrics import (
    Counts,
    counts,
    metrics_from_counts,
    region_centre,
    summarize,
)


def test_identical_masks_score_one():
    truth = np.zeros((20, 20), bool)
    truth[2:6, 2:6] = truth[10:15, 12:18] = True
    m = metrics_from_counts(counts(truth, truth))
    assert m == pytest.approx({"dsc": 1, "sen": 1, "ppv": 1, "va": 1, "rlp": 1, "rlr": 1,
                               "spec": 1})


def test_voxel_metrics_by_hand():
    truth = np.zeros((10, 10), bool)
    truth[0:4, 0:5] = True  # 20 px
    pred = np.zeros((10, 10), bool)
    pred[2:4, 0:5] = True  # 10 px, all inside the truth
    pred[8:10, 8:10] = True  # 4 px false positive region
    m = metrics_from_counts(counts(pred, truth))
    assert m["dsc"] == pytest.approx(2 * 10 / (14 + 20))
    assert m["sen"] == pytest.approx(10 / 20)
    assert m["ppv"] == pytest.approx(10 / 14)
    assert m["va"] == pytest.approx(1 - 2 * 6 / 34)
    assert m["spec"] == pytest.approx(76 / 80)
    assert m["rlp"] == pytest.approx(1 / 2)  # one of two predicted regions is right
    assert m["rlr"] == pytest.approx(1.0)  # the one true region is found


def test_region_centre_is_inside_a_concave_region():
    """An L shape: its centroid lies outside, the eq. 10 centre must lie inside."""
    region = np.zeros((30, 30), bool)
    region[0:30, 0:6] = True
    region[24:30, 0:30] = True
    centroid = np.argwhere(region).mean(0).round().astype(int)
    assert not region[tuple(centroid)]
    assert region[region_centre(region)]


def test_region_centre_of_a_rectangle_is_its_middle_and_uses_spacing():
    region = np.zeros((11, 31), bool)
    region[:, :] = True
    assert region_centre(region) == (5, 15)
    assert region_centre(region, spacing=(0.5, 2.0)) == (5, 15)


def test_physical_units_scale_volumes_not_ratios():
    truth = np.zeros((4, 6, 6), bool)
    truth[1:3, 1:4, 1:4] = True
    pred = truth.copy()
    pred[3, 0, 0] = True
    c = counts(pred, truth, spacing=(0.5, 0.5, 2.0))
    assert c.tp == pytest.approx(18 * 0.5)  # mm³
    assert metrics_from_counts(c)["ppv"] == pytest.approx(18 / 19)


def test_empty_cases_and_nan_skipping_mean():
    empty = np.zeros((5, 5), bool)
    m = metrics_from_counts(counts(empty, empty))
    assert m["dsc"] == 1 and m["va"] == 1 and math.isnan(m["sen"]) and math.isnan(m["rlp"])
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    summary = summarize([counts(empty, empty), counts(one, one)])
    assert summary["n_images"] == 2
    assert summary["sen"]["mean"] == 1.0 and summary["sen"]["n_defined"] == 1
    assert summary["dsc"]["pooled"] == 1.0


def test_pooled_differs_from_mean():
    a, b = Counts(tp=1, fp=1, fn=0, tn=10), Counts(tp=100, fp=0, fn=0, tn=10)
    s = summarize([a, b])
    assert s["dsc"]["mean"] == pytest.approx((2 / 3 + 1) / 2)
    assert s["dsc"]["pooled"] == pytest.approx(202 / 203)


def test_mask_dice():
    from scoat_core.training.metrics import mask_dice

    a = np.zeros((4, 4), np.uint8)
    b = np.zeros((4, 4), bool)
    assert mask_dice(a, b) == 1.0  # both empty
    a[0, :2] = 2
    b[0, 1:3] = True
    assert mask_dice(a, b) == 0.5
