"""Lung-driven registration of a follow-up onto its baseline, on phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from scoat_core.followup.registration import Registration, opacity_change_maps, register
from scoat_core.phantom import make_timeline


@pytest.fixture(scope="module")
def two_exams():
    a, b = make_timeline(2, seed=0, matrix=96)
    return a, b, register(a.lung, b.lung)


def test_registration_aligns_lungs_and_maps_points(two_exams, tmp_path):
    a, b, reg = two_exams
    assert reg.lung_dice_after > 0.93
    centre_a = a.ct.index_to_lps(np.argwhere(a.lung.array > 0).mean(0)[::-1])
    centre_b = b.ct.index_to_lps(np.argwhere(b.lung.array > 0).mean(0)[::-1])
    shift = np.linalg.norm(centre_b - centre_a)
    error = np.linalg.norm(reg.map_point(centre_a) - centre_b)
    assert shift > 3 and error < 2.0  # the patient moved; the mapping follows the anatomy
    reg.save(tmp_path / "reg.json")
    assert np.allclose(Registration.load(tmp_path / "reg.json").map_point(centre_a),
                       reg.map_point(centre_a))


def test_opacity_change_maps_follow_the_course(two_exams):
    a, b, reg = two_exams  # early → progressive: mostly new and persistent opacity
    maps = opacity_change_maps(a.ct.derive(a.lesion.array > 0), b.ct.derive(b.lesion.array > 0),
                               reg)
    counts = {k: int(np.count_nonzero(maps.array == k)) for k in (1, 2, 3)}
    assert counts[1] > counts[2] and counts[3] > 0
    assert maps.same_geometry(a.ct)


def _thin(phantom, n: int, at_mm: float = 0.0):
    """``n`` slices of the phantom's lungs from the middle (plus ``at_mm`` along z), as a
    volume with their own geometry."""
    from scoat_core.volume import Volume

    lung = phantom.lung
    z = lung.shape[0] // 2 + round(at_mm / lung.spacing[2])
    origin = lung.index_to_lps(np.array([0.0, 0.0, float(z)]))
    return Volume(lung.array[z:z + n].copy(), spacing=lung.spacing, origin=tuple(origin),
                  direction=lung.direction, is_hu=False)


@pytest.mark.parametrize("n", [1, 3])
def test_thin_exams_are_registered_in_2d_and_say_so(n):
    """A single-slice (or 3-slice, 1 mm) exam once crashed SimpleITK (BinShrink: InputImage is
    too small); it is registered in plane, the baseline slice onto the follow-up slice."""
    from scoat_core.followup.registration import METHOD_2D

    a, b = make_timeline(2, seed=0, matrix=64, z_extent_mm=200.0, slice_spacing_mm=1.0)
    base, follow = _thin(a, n), _thin(b, n, at_mm=4.0)
    reg = register(base, follow)
    assert reg.method == METHOD_2D
    assert reg.note == ("single slice" if n == 1 else "3 slices, 3 mm")
    assert reg.describe() == f"2-D rigid + affine registration ({reg.note})"
    assert reg.lung_dice_after > 0.85
    # the baseline slice with the most lung lands on the follow-up's, in plane at the same lungs
    zb = int(np.argmax((base.array > 0).sum(axis=(1, 2))))
    zf = int(np.argmax((follow.array > 0).sum(axis=(1, 2))))
    centre_b = base.index_to_lps(np.r_[np.argwhere(base.array[zb] > 0).mean(0)[::-1], zb])
    centre_f = follow.index_to_lps(np.r_[np.argwhere(follow.array[zf] > 0).mean(0)[::-1], zf])
    mapped = reg.map_point(centre_b)
    assert abs(mapped[2] - centre_f[2]) < 1e-6
    assert np.linalg.norm(mapped[:2] - centre_f[:2]) < 3.0


def test_a_thick_exam_against_a_single_slice_and_an_empty_one():
    from scoat_core.followup.registration import METHOD_2D, RegistrationError
    from scoat_core.volume import Volume

    a, b = make_timeline(2, seed=0, matrix=64, z_extent_mm=200.0, slice_spacing_mm=5.0)
    reg = register(a.lung, _thin(b, 1))
    assert reg.method == METHOD_2D and reg.note == "single slice"
    empty = Volume(np.zeros((1, 64, 64), np.uint8), spacing=a.lung.spacing, is_hu=False)
    with pytest.raises(RegistrationError, match="cannot register: no lung in the follow-up"):
        register(a.lung, empty)


def test_a_3d_registration_says_nothing_more(two_exams):
    from scoat_core.followup.registration import METHOD_3D

    *_, reg = two_exams
    assert reg.method == METHOD_3D and reg.note == "" and reg.describe() == ""
