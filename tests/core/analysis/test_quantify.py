"""Volumetry arithmetic: exact volumes from spacing, zones, severity (its minimum LOV, none on a
partial exam), HU refusal, definitions of every key, phantom truth."""

from __future__ import annotations

import numpy as np
import pytest

from scoat_core.analysis.quantify import (
    DEFINITIONS,
    MIN_ZONE_LOV_ML,
    PARTIAL_REFUSAL,
    counted_opacity,
    quantify,
    severity,
)
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
    assert m.consolidation_ml == pytest.approx(10 * 4 * 16 * vox)
    assert m.right.consolidation_ml == pytest.approx(m.consolidation_ml)
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
    assert severity(po, lov_ml=50.0) == score


@pytest.mark.parametrize(("lov_ml", "score"), [(0.5, 0), (0.99, 0), (MIN_ZONE_LOV_ML, 1),
                                               (1.5, 1)])
def test_a_zone_scores_only_from_the_minimum_lov(lov_ml, score):
    assert MIN_ZONE_LOV_ML == 1.0
    assert severity(100 * lov_ml / 600.0, lov_ml) == score  # a 600 mL zone


def test_half_a_millilitre_in_a_zone_scores_nothing():
    """0.5 mL (under a 1 cm nodule) in the right lower zone used to score it 1."""
    spacing = (1.0, 1.0, 5.0)  # 5 µL voxels: 100 voxels = 0.5 mL, 200 voxels = 1 mL
    ct, labels, _ = boxes(spacing)
    for voxels, scored in ((100, False), (200, True)):
        opacity = np.zeros(ct.shape, np.uint8)
        opacity[0:1, 2:18, 2:18].flat[:voxels] = 1  # slice 0: the right lung's lowest
        m = quantify(ct, labels, ct.derive(opacity))
        zone = next(z for z in m.zones if (z.lung, z.zone) == ("right", "lower"))
        assert zone.lov_ml == pytest.approx(voxels * 0.005) and zone.po_percent > 0
        assert (zone.severity > 0) is scored and m.severity_score == zone.severity


def test_a_partial_exam_has_no_severity_score():
    ct, labels, opacity = boxes()
    whole = quantify(ct, labels, opacity)
    partial = quantify(ct, labels, opacity, complete=False)
    assert whole.severity_score > 0 and partial.severity_score is None
    assert all(z.severity is None for z in partial.zones)
    assert partial.lov_ml == whole.lov_ml and partial.po_percent == whole.po_percent
    assert PARTIAL_REFUSAL in partial.refused and partial.partial().refused == partial.refused
    data = partial.to_json()
    assert data["severity_score"] is None
    assert all(z["severity"] is None for z in data["zones"].values())


def test_lov_counts_the_opacity_inside_the_lungs_only():
    ct, labels, _ = boxes()
    opacity = np.zeros(ct.shape, np.uint8)
    opacity[:, 0:4, 0:4] = 1  # 2 × 2 columns inside the right lung, the rest outside
    counted = counted_opacity(labels.array, opacity)
    m = quantify(ct, labels, ct.derive(opacity))
    assert counted.sum() == 30 * 2 * 2
    assert m.lov_ml == pytest.approx(ct.volume_ml(counted))


def _paths(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for key, value in data.items():
        path = f"{prefix}{'*' if prefix == 'zones.' else key}"
        out.append((path, value))
        if isinstance(value, dict) and path != "units":
            out += _paths(value, f"{path}.")
    return out


def test_every_key_of_the_volumetry_has_a_definition_with_a_unit():
    ct, labels, opacity = boxes()
    for m in (quantify(ct, labels, opacity), quantify(ct, labels, opacity, complete=False)):
        paths = _paths(m.to_json())
        assert not {p for p, _ in paths} - set(DEFINITIONS)
        for path, value in paths:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert any(unit in DEFINITIONS[path] for unit in (", mL", ", %", " HU", "points"))
    assert "high_opacity_ml" not in m.to_json() and "high_opacity_ml" not in m.to_json()["right"]


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
