"""Inf-Net's benchmark metrics (meanDic, best-threshold Dice) and per-class sensitivity, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from scoat_core.training.threshold_metrics import (
    THRESHOLDS,
    class_recall,
    minmax,
    summarize_class_recall,
    summarize_curves,
    threshold_curves,
)


def _brute_force(prob: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Dice at each threshold the slow way, as Inf-Net's evaluation loop computes it."""
    p, g = minmax(prob), truth > 0
    out = []
    for t in THRESHOLDS:
        pred = p >= t
        tp = np.count_nonzero(pred & g)
        out.append(0.0 if tp == 0 else 2 * tp / (pred.sum() + g.sum()))
    return np.array(out)


def test_thresholds_are_the_256_steps_of_inf_net():
    assert THRESHOLDS.size == 256 and THRESHOLDS[0] == 0 and THRESHOLDS[-1] == 1
    assert THRESHOLDS[1] == pytest.approx(1 / 255)


def test_four_pixel_image_by_hand():
    # map 0, 0.5, 1, 1 (already in [0, 1]); truth: the last two pixels
    prob = np.array([[0.0, 0.5], [1.0, 1.0]])
    truth = np.array([[0, 0], [1, 1]])
    c = threshold_curves(prob, truth)
    # t = 0: all 4 predicted, TP 2 -> Dice 4/6, SEN 1, SPEC 0/2 = 0
    assert c.dice[0] == pytest.approx(4 / 6) and c.sen[0] == 1 and c.spec[0] == 0
    # 0 < t <= 0.5 (k = 1..127): 3 predicted, TP 2 -> Dice 4/5, SPEC 1/2
    assert c.dice[1] == pytest.approx(0.8) and c.dice[127] == pytest.approx(0.8)
    assert c.spec[127] == pytest.approx(0.5)
    # t > 0.5 (k = 128..255): exactly the truth -> Dice 1, SPEC 1
    assert c.dice[128] == 1 and c.dice[255] == 1 and c.spec[255] == 1
    s = summarize_curves([c])
    assert s["mean_dice"] == pytest.approx((4 / 6 + 127 * 0.8 + 128 * 1.0) / 256)
    assert s["max_dice"] == 1 and s["max_dice_threshold"] == pytest.approx(128 / 255)


def test_min_max_normalisation_makes_the_scale_irrelevant():
    rng = np.random.default_rng(0)
    prob = rng.random((16, 16))
    truth = prob + 0.3 * rng.random((16, 16)) > 0.8
    a = threshold_curves(prob, truth)
    b = threshold_curves(0.2 + 0.1 * prob, truth)  # a low-contrast map of the same ranking
    assert np.allclose(a.dice, b.dice)
    assert np.allclose(a.dice, _brute_force(prob, truth))


def test_no_true_positive_scores_zero_as_in_inf_net():
    prob = np.array([[1.0, 0.0], [0.0, 0.0]])
    c = threshold_curves(prob, np.zeros((2, 2)))  # empty truth: TP is always 0
    assert not c.dice.any() and not c.sen.any() and not c.spec.any()
    const = threshold_curves(np.full((2, 2), 0.7), np.array([[1, 0], [0, 0]]))
    # a constant map normalises to 0: every threshold > 0 predicts nothing
    assert const.dice[0] == pytest.approx(2 / 5) and not const.dice[1:].any()


def test_mean_over_images_before_thresholds():
    perfect = threshold_curves(np.array([[0.0, 1.0]]), np.array([[0, 1]]))
    empty = threshold_curves(np.array([[0.0, 1.0]]), np.array([[0, 0]]))
    s = summarize_curves([perfect, empty])
    # perfect: Dice 2/3 at t=0, 1 above; empty truth: 0 everywhere -> curve halves
    assert s["mean_dice"] == pytest.approx((2 / 3 + 255) / 256 / 2)
    assert s["max_dice"] == pytest.approx(0.5)


def test_class_recall_per_class_and_pooled():
    classes = np.array([[1, 1, 2, 2], [1, 1, 0, 0]])
    pred = np.array([[1, 0, 1, 1], [0, 0, 1, 0]])
    assert class_recall(pred, classes) == {1: (1, 4), 2: (2, 2)}
    only_ggo = class_recall(np.ones((1, 2)), np.array([[1, 0]]))
    s = summarize_class_recall([class_recall(pred, classes), only_ggo])
    assert s["ggo"]["mean"] == pytest.approx((0.25 + 1.0) / 2)
    assert s["ggo"]["pooled"] == pytest.approx(2 / 5) and s["ggo"]["n_images"] == 2
    assert s["consolidation"] == {"mean": 1.0, "pooled": 1.0, "n_images": 1}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        threshold_curves(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        class_recall(np.zeros((2, 2)), np.zeros((3, 2)))
