"""Network opacity that touches a lung becomes lung; islands and dense blood never do."""

from __future__ import annotations

import numpy as np
import pytest

from scoat_core.lung import add_evidence, segment_lungs
from scoat_core.lung.evidence import MAX_HU, include_evidence
from scoat_core.lung.separate import LEFT, RIGHT
from scoat_core.phantom import make_phantom


def test_touching_parts_join_their_lung_islands_and_blood_do_not():
    labels = np.zeros((10, 40, 60), np.uint8)
    labels[2:8, 5:35, 5:25] = RIGHT
    labels[2:8, 5:35, 35:55] = LEFT
    hu = np.full(labels.shape, -800.0)
    hu[labels == 0] = 30.0
    evidence = np.zeros(labels.shape, bool)
    evidence[3:6, 10:20, 25:29] = True  # against the right lung's medial side
    evidence[3:6, 10:20, 31:35] = True  # against the left lung
    evidence[3:6, 36:39, 10:20] = True  # an island below the lungs (bowel, liver)
    evidence[3:6, 25:30, 25:28] = True  # touching the right lung but contrast blood
    hu[3:6, 25:30, 25:28] = MAX_HU + 100
    out = include_evidence(labels, hu, evidence)
    assert (out[3:6, 10:20, 25:29] == RIGHT).all()
    assert (out[3:6, 10:20, 31:35] == LEFT).all()
    assert not out[3:6, 36:39, 10:20].any() and not out[3:6, 25:30, 25:28].any()
    assert (out[labels > 0] == labels[labels > 0]).all()  # the lungs themselves are kept
    assert out is not labels and not labels[3:6, 10:20, 25:29].any()


def test_add_evidence_recomputes_the_volumes():
    ph = make_phantom(matrix=64, z_extent_mm=120, slice_spacing_mm=5, slice_thickness_mm=5)
    lung = segment_lungs(ph.ct)
    evidence = np.zeros(ph.ct.shape, bool)
    z, y, x = np.argwhere(lung.labels.array == RIGHT)[0]
    evidence[z, max(0, y - 3) : y + 1, x] = True  # grows the right lung by what lies outside
    added = int((evidence & (lung.labels.array == 0)).sum())
    out = add_evidence(lung, ph.ct, evidence)
    vml = ph.ct.voxel_volume_ml
    assert added > 0
    assert out.right_ml == pytest.approx(lung.right_ml + added * vml)
    assert out.left_ml == pytest.approx(lung.left_ml)
    assert out.total_ml == out.right_ml + out.left_ml
