"""Pathology-inclusive lung masks: lesions against the heart, the mediastinum and the chest wall."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import scoat_core.lung.segment as segment_module
from scoat_core.lung import segment_lungs
from scoat_core.lung.abutting import long_runs, near_along_z, with_halo
from scoat_core.lung.morph import close_ball, closing_fill
from scoat_core.phantom import make_phantom
from scoat_core.phantom.cases import abutting_lesions

MATRIX = 128


def grid_mm(v):
    """Broadcastable anatomy-frame coordinates (x, y, z) of an axis-aligned phantom grid."""
    x, y, z = (v.origin[i] + v.spacing[i] * np.arange(v.shape[2 - i]) for i in range(3))
    return x[None, None, :], y[None, :, None], z[:, None, None]


@pytest.fixture(scope="module")
def abutting_case():
    phantom = make_phantom(matrix=MATRIX, seed=0, lesions=abutting_lesions(0))
    return phantom, segment_lungs(phantom.ct)


def test_each_abutting_lesion_lies_inside_the_lung_mask(abutting_case):
    phantom, result = abutting_case
    pred = result.labels.array > 0
    parts, n = ndimage.label(phantom.lesion.array > 0)
    assert n == 3
    assert phantom.truth.lesion_ml_consolidation > 100  # large, dense lesions
    for k in range(1, n + 1):
        lesion = parts == k
        inside = np.count_nonzero(lesion & pred) / np.count_nonzero(lesion)
        assert inside >= 0.97, (k, inside)


def test_heart_and_mediastinum_stay_out(abutting_case):
    phantom, result = abutting_case
    pred = result.labels.array > 0
    x, y, z = grid_mm(phantom.ct)
    heart = np.broadcast_to(phantom.anatomy.in_heart(x, y, z), pred.shape)
    assert np.count_nonzero(heart & pred) / np.count_nonzero(heart) < 0.01
    mediastinum = np.broadcast_to(np.abs(x) < 11.0, pred.shape) & (phantom.body.array > 0)
    assert np.count_nonzero(mediastinum & pred) * phantom.ct.voxel_volume_ml < 5.0
    truth = phantom.truth
    assert result.right_ml == pytest.approx(truth.lung_ml_right, rel=0.03)
    assert result.left_ml == pytest.approx(truth.lung_ml_left, rel=0.03)


def test_without_the_abutting_step_the_lesions_are_lost(abutting_case, monkeypatch):
    """The regression this step fixes: the lung contour went around these lesions."""
    phantom, _ = abutting_case
    monkeypatch.setattr(segment_module, "include_abutting", lambda labels, *args: labels)
    pred = segment_lungs(phantom.ct).labels.array > 0
    lesion = phantom.lesion.array > 0
    assert np.count_nonzero(lesion & pred) / np.count_nonzero(lesion) < 0.9


def test_healthy_lungs_gain_almost_nothing(monkeypatch):
    phantom = make_phantom(matrix=96, seed=3, lesions=())
    with_step = segment_lungs(phantom.ct).total_ml
    monkeypatch.setattr(segment_module, "include_abutting", lambda labels, *args: labels)
    without = segment_lungs(phantom.ct).total_ml
    assert 0.0 <= with_step - without < 0.005 * without


# ------------------------------------------------------------------------------ helpers
def test_vertical_helpers():
    mask = np.zeros((20, 3, 3), dtype=bool)
    mask[2:15, 1, 1] = True  # a 13-voxel vertical run
    mask[17, 1, 1] = True
    runs = long_runs(mask, 2.0, max_mm=20.0)
    assert runs[2:15, 1, 1].all() and not runs[17, 1, 1] and np.count_nonzero(runs) == 13
    lung = np.zeros((20, 3, 3), dtype=bool)
    lung[10, 0, 0] = True
    near = near_along_z(lung, 2.5, 5.0)
    assert near[[8, 9, 11, 12], 0, 0].all() and not near[7, 0, 0] and not near[13, 0, 0]
    assert not near[:, 1, 1].any()


def test_halo_keeps_a_lesion_in_ground_glass_and_drops_one_in_normal_lung():
    spacing = (1.0, 1.0, 1.0)
    lung = np.ones((30, 30, 60), dtype=bool)
    hu = np.full(lung.shape, -850.0)
    z, y, x = np.ogrid[:30, :30, :60]
    left = (z - 15) ** 2 + (y - 15) ** 2 + (x - 15) ** 2 < 36
    right = (z - 15) ** 2 + (y - 15) ** 2 + (x - 45) ** 2 < 36
    halo = (z - 15) ** 2 + (y - 15) ** 2 + (x - 15) ** 2 < 144
    hu[halo] = -500.0
    lung &= ~(left | right)
    kept = with_halo(left | right, lung, hu, spacing)
    assert np.array_equal(kept, left)


def test_closings_match_the_reference():
    rng = np.random.default_rng(0)
    mask = ndimage.gaussian_filter(rng.random((16, 40, 40)), 2.5) > 0.5
    spacing = (2.5, 1.5, 1.5)
    exact = close_ball(mask, 6.0, spacing)
    pad = [int(np.ceil(6.0 / s)) + 1 for s in spacing]
    padded = np.pad(mask, [(pad[0], pad[0]), (0, 0), (0, 0)], mode="edge")
    padded = np.pad(padded, [(0, 0), (pad[1], pad[1]), (pad[2], pad[2])])
    dilated = ndimage.distance_transform_edt(~padded, sampling=spacing) <= 6.0
    reference = ndimage.distance_transform_edt(dilated, sampling=spacing) > 6.0
    core = tuple(slice(k, k + n) for k, n in zip(pad, mask.shape, strict=True))
    assert np.array_equal(exact, reference[core] | mask)
    assert np.array_equal(closing_fill(mask, 6.0, spacing, coarse_mm=0.0), exact & ~mask)
    coarse = closing_fill(mask, 6.0, spacing, coarse_mm=3.0)
    assert not (coarse & mask).any()
    assert np.count_nonzero(coarse ^ (exact & ~mask)) < 0.5 * np.count_nonzero(exact & ~mask)
