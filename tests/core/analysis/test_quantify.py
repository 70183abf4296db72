"""Volumetry arithmetic: exact volumes from spacing, zones, severity, HU refusal, phantom truth."""

from __future__ import annotations

import numpy as np
import pytest

from scoat_core.analysis.quantify import quantify, severity
from scoat_core.phantom import make_phantom
from scoat_core.volume import Volume


def boxes(spacing=(0.7, 0.8, 2.0), direction=None):
    ct = np.full((30, 20, 40), -850, np.int16)
    labels = np.zeros_like(ct, dtype=np.uint8)
    labels[:, 2:18, 2:18] = 1  # right lung: low x
    labels[:, 2:18, 22:38] = 2
    opacity = np.zeros_like(labels)
    opacity[0:10, 2:10, 2:18] = 1  # 10 slices × 8 × 16 in the right lung, first ten slices
    ct[0:10, 2:6, 2:18] = -100  # half of it dense
    kw = {"spacing": spacing}
    if direction is not None:
        kw["direction"] = direction
    vol = Volume(ct, **kw)
    return vol, vol.derive(labels), vol.derive(opacity)


def test_exact_volumes_from_spacing():
    ct, labels, opacity = boxes()
    m = quantify(ct, labels, opacity)
    vox = 0.7 * 0.8 * 2.0 / 1000
    assert m.right.lung_volume_ml == pytest.approx(30 * 16 * 16 * vox)
    assert m.lung_volume_ml == pytest.approx(2 * 30 * 16 * 16 * vox)
    assert m.lov_ml == pytest.approx(10 * 8 * 16 * vox)
    assert m.left.lov_ml == 0
    assert m.po_percent == pytest.approx(100 * 1280 / 15360)
    assert m.high_opacity_ml == pytest.approx(10 * 4 * 16 * vox)
    assert m.consolidation_ml + m.ggo_ml == pytest.approx(m.lov_ml)
    assert m.pho_percent == pytest.approx(100 * 640 / 15360)
    assert m.mean_opacity_hu == pytest.approx((-100 - 850) / 2)


def test_zones_follow_patient_z_not_array_order():
    ct, labels, opacity = boxes()
    upper_first = quantify(ct, labels, opacity)  # identity direction: slice 0 is most inferior
    zones = {(z.lung, z.zone): z for z in upper_first.zones}
    assert zones[("right", "lower")].lov_ml > 0 and zones[("right", "upper")].lov_ml == 0
    flipped = np.diag([1.0, 1.0, -1.0])  # slice 0 is now the most superior
    ct2, labels2, opacity2 = boxes(direction=flipped)
    zones2 = {(z.lung, z.zone): z for z in quantify(ct2, labels2, opacity2).zones}
    assert zones2[("right", "upper")].lov_ml > 0 and zones2[("right", "lower")].lov_ml == 0
    total = sum(z.lung_ml for z in upper_first.zones)
    assert total == pytest.approx(upper_first.lung_volume_ml)


@pytest.mark.parametrize(("po", "score"), [(0, 0), (0.1, 1), (4.99, 1), (5, 2), (25, 2),
                                           (25.5, 3), (50, 3), (60, 4), (75, 4), (75.1, 5)])
def test_severity_bands(po, score):
    assert severity(po) == score


def test_not_hu_refuses_hu_numbers_only():
    ct, labels, opacity = boxes()
    ct.is_hu = False
    m = quantify(ct, labels, opacity)
    assert m.lov_ml > 0 and m.pho_percent is None and m.mean_opacity_hu is None
    assert m.refused and "Hounsfield" in m.refused[0]


def test_grid_mismatch_is_refused():
    ct, labels, _ = boxes()
    other = Volume(np.zeros(ct.shape, np.uint8), spacing=(1, 1, 1))
    with pytest.raises(ValueError, match="grid"):
        quantify(ct, labels, other)


@pytest.mark.parametrize(("inplane", "thickness"), [(0.6, 1.0), (0.8, 2.5), (1.0, 5.0)])
def test_true_masks_give_exact_phantom_volumes(inplane, thickness):
    ph = make_phantom(matrix=192, fov_mm=192 * inplane, slice_thickness_mm=thickness,
                      slice_spacing_mm=thickness, z_extent_mm=120, seed=2)
    assert ph.ct.spacing == pytest.approx((inplane, inplane, thickness))
    m = quantify(ph.ct, ph.lung, ph.ct.derive(ph.lesion.array > 0))
    assert m.lov_ml == pytest.approx(ph.truth.lesion_ml_total, abs=1e-9)
    assert m.right.lung_volume_ml == pytest.approx(ph.truth.lung_ml_right, abs=1e-9)
    assert m.left.lung_volume_ml == pytest.approx(ph.truth.lung_ml_left, abs=1e-9)
    assert m.po_percent == pytest.approx(ph.truth.percent_involved, abs=1e-9)
