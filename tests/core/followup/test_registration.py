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
