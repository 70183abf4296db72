"""Volume geometry: affine, index ↔ LPS, derived images keep the geometry."""

from __future__ import annotations

import numpy as np
import pytest

from scoat_core.volume import ExamInfo, Volume


def rotation_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def make_volume() -> Volume:
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    return Volume(arr, spacing=(0.7, 0.8, 2.5), origin=(-10, 20, 30), direction=rotation_z(20))


def test_index_lps_round_trip():
    vol = make_volume()
    idx = np.array([[0, 0, 0], [5, 4, 3], [1.5, 2.25, 0.5]])
    assert np.allclose(vol.lps_to_index(vol.index_to_lps(idx)), idx)
    assert np.allclose(vol.index_to_lps([0, 0, 0]), vol.origin)
    # one slice step moves along the slice normal by the slice spacing
    step = vol.index_to_lps([0, 0, 1]) - vol.index_to_lps([0, 0, 0])
    assert np.allclose(step, [0, 0, 2.5])


def test_affine_matches_sitk():
    vol = make_volume()
    img = vol.to_sitk()
    point = img.TransformContinuousIndexToPhysicalPoint((1.0, 2.0, 3.0))
    assert np.allclose(vol.affine() @ [1, 2, 3, 1], [*point, 1])


def test_derive_copies_geometry_and_info():
    vol = make_volume()
    vol.info = ExamInfo(patient_id="P1")
    mask = vol.derive(vol.array > 50)
    assert mask.same_geometry(vol)
    assert mask.info.patient_id == "P1"
    assert not mask.is_hu
    with pytest.raises(ValueError, match="shape"):
        vol.derive(np.zeros((1, 2, 3)))


def test_volume_ml_uses_physical_spacing():
    vol = make_volume()
    mask = np.zeros(vol.shape, bool)
    mask[:2, :2, :2] = True
    assert vol.volume_ml(mask) == pytest.approx(8 * 0.7 * 0.8 * 2.5 / 1000)


@pytest.mark.parametrize("spacing", [(0, 1, 1), (1, -1, 1), (1, 1, float("nan"))])
def test_bad_spacing_is_refused(spacing):
    with pytest.raises(ValueError, match="spacing"):
        Volume(np.zeros((2, 2, 2)), spacing=spacing)


def test_sitk_round_trip():
    vol = make_volume()
    back = Volume.from_sitk(vol.to_sitk())
    assert back.same_geometry(vol)
    assert np.array_equal(back.array, vol.array)
