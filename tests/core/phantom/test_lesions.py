"""COVID-19 CT semiology of the phantom's lesions: densities, inner structure, places, course."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import ndimage

from scoat_core.followup.changes import trend_label
from scoat_core.phantom import Lesion, make_phantom, make_timeline
from scoat_core.phantom.cases import abutting_lesions
from scoat_core.phantom.demo import DEMO_EXAMS, DEMO_SEED
from scoat_core.phantom.texture import septa

#: Noise-free, unblurred phantom whose slices are single fine planes: the image is what is drawn.
CLEAN = dict(matrix=128, noise_hu=0.0, blur_mm=0.0, slice_thickness_mm=1.25, slice_spacing_mm=2.5)
#: Where vessels run, near the hila: a ground-glass site (right) and a consolidation (left).
REAL = {"margin": 0.3, "bronchi": True}
GGO = Lesion("ggo", (-62.0, 30.0, -25.0), 22.0, -560.0, seed=4, **REAL)
CONS = Lesion("consolidation", (60.0, 40.0, -45.0), 20.0, -60.0, seed=5, **REAL)


@pytest.fixture(scope="module")
def default():
    return make_phantom()


@pytest.fixture(scope="module")
def demo():
    """The demo patient's course (the demo's seed and exam count, smaller images)."""
    return make_timeline(DEMO_EXAMS, seed=DEMO_SEED, matrix=128)


def grid_mm(p):
    """Anatomy-frame coordinates (x, y, z) along the columns, rows and slices of a phantom."""
    o, s, shape = p.ct.origin, p.ct.spacing, p.ct.shape
    return tuple(o[i] + s[i] * np.arange(shape[2 - i]) - p.spec.shift_mm[i] for i in range(3))


def test_default_lesions_have_clinical_densities(default):
    ct, les = default.ct.array, default.lesion.array
    ggo, cons = ct[les == 1], ct[les == 2]
    assert ggo.size > 1000 and cons.size > 1000
    assert -750 <= np.median(ggo) <= -300
    assert -100 <= np.median(cons) <= 50
    assert np.mean((ggo >= -750) & (ggo <= -300)) > 0.7


def test_air_bronchograms_branch_inside_consolidation(default):
    ct, les = default.ct.array, default.lesion.array
    air = (ct < -800) & (les == 2)
    assert np.count_nonzero(air) > 50
    parts, n = ndimage.label(air, np.ones((3, 3, 3)))
    sizes = ndimage.sum_labels(air, parts, range(1, n + 1))
    tube = parts == 1 + int(np.argmax(sizes))
    z, y, x = np.nonzero(tube)
    sx, sy, sz = default.ct.spacing
    extent = max(np.ptp(x) * sx, np.ptp(y) * sy, np.ptp(z) * sz)
    assert extent >= 10.0  # a tube, not a speck


def test_vessels_show_through_ground_glass(default):
    """Voxels well above the ground-glass range (and above its septa) inside ground glass."""
    ct, les = default.ct.array, default.lesion.array
    assert np.count_nonzero((ct > -50) & (les == 1)) > 50


def test_vessels_show_in_ground_glass_and_vanish_in_consolidation():
    empty = make_phantom(lesions=(), **CLEAN)
    drawn = make_phantom(lesions=(GGO, CONS), **CLEAN)
    ggo, cons = drawn.lesion.array == 1, drawn.lesion.array == 2
    assert np.count_nonzero(empty.ct.array[ggo] > 0) > 20
    assert np.count_nonzero(empty.ct.array[cons] > 0) > 50  # vessels where the consolidation is
    assert np.count_nonzero(drawn.ct.array[ggo] > 0) > 20  # still there through ground glass
    solid = drawn.ct.array[cons & (drawn.ct.array > -800)]  # consolidation but its bronchi
    assert solid.max() < 0  # -60 HU ± texture: no vessel left in it
    assert np.count_nonzero(drawn.ct.array[cons] < -900) > 5  # air bronchograms


def test_crazy_paving_is_a_network_of_dense_septa():
    plain = make_phantom(lesions=(GGO,), **CLEAN)
    paved = make_phantom(lesions=(dataclasses.replace(GGO, septa_hu=300.0),), **CLEAN)
    assert np.array_equal(plain.lesion.array, paved.lesion.array)
    ggo = paved.lesion.array == 1
    diff = paved.ct.array.astype(int) - plain.ct.array
    assert not diff[~ggo].any()
    on_septa = np.mean(diff[ggo] >= 150)
    assert 0.05 < on_septa < 0.45
    # a plane through the network shows polygons 10-20 mm across, lines 1-2 mm thick
    step = 0.25
    u = np.arange(-80.0, 80.0, step)
    xx, yy = np.meshgrid(u, u)
    pts = np.column_stack([xx.ravel(), yy.ravel(), np.full(xx.size, 7.3)])
    lines = septa(pts, seed=11).reshape(xx.shape)
    cells, n = ndimage.label(~lines)
    areas = np.bincount(cells.ravel())[1:] * step * step
    diameter = 2.0 * np.sqrt(np.median(areas[areas > 4.0]) / np.pi)
    assert n > 50 and 10.0 <= diameter <= 20.0
    edges = np.flatnonzero(np.diff(np.r_[0, lines[len(u) // 2].astype(int), 0]))
    runs = (edges[1::2] - edges[::2]) * step  # septa crossed by one line of the plane
    assert 1.0 <= np.median(runs) <= 3.0


@pytest.mark.parametrize("case", ["default", "clean", "abutting", "rimless", "demo peak"])
def test_truth_per_kind_is_the_drawn_voxels(case, default, demo):
    p = {
        "default": lambda: default,
        "clean": lambda: make_phantom(lesions=(GGO, CONS), **CLEAN),
        "abutting": lambda: make_phantom(matrix=96, lesions=abutting_lesions(0)),
        "rimless": lambda: make_phantom(matrix=96, lesions=abutting_lesions(0, rim=False)),
        "demo peak": lambda: demo[2],
    }[case]()
    les, vml = p.lesion.array, p.ct.voxel_volume_ml
    t = p.truth
    assert t.lesion_ml_ggo == pytest.approx(np.count_nonzero(les == 1) * vml, rel=1e-12)
    assert t.lesion_ml_consolidation == pytest.approx(np.count_nonzero(les == 2) * vml, rel=1e-12)
    assert t.lesion_ml_total == pytest.approx(np.count_nonzero(les) * vml, rel=1e-12)
    assert set(np.unique(les)) <= {0, 1, 2} and np.all(p.lung.array[les > 0] > 0)
    if case == "rimless":
        assert t.lesion_ml_ggo == 0 and t.lesion_ml_consolidation > 50


def test_the_image_changes_exactly_on_the_labelled_voxels():
    """Thin clean slices: a lesion changes the image on its labels only, and on all of them but
    where a vessel crosses ground glass (bronchograms and septa included, as labelled)."""
    paved = dataclasses.replace(GGO, septa_hu=250.0)
    lesions = (paved, dataclasses.replace(GGO, kind="consolidation", radius_mm=12.0, hu=-20.0),
               CONS)
    empty = make_phantom(lesions=(), **CLEAN)
    drawn = make_phantom(lesions=lesions, **CLEAN)
    les = drawn.lesion.array
    changed = drawn.ct.array != empty.ct.array
    vessel = empty.ct.array > -500
    assert not np.any(changed & (les == 0))
    assert changed[les == 2].all()
    assert changed[(les == 1) & ~vessel].all() and not changed[(les == 1) & vessel].any()
    assert np.count_nonzero((les == 1) & vessel) > 20


def test_rimless_consolidations_abut_heart_mediastinum_and_wall():
    p = make_phantom(matrix=128, seed=0, lesions=abutting_lesions(0, rim=False))
    les, anat = p.lesion.array, p.anatomy
    assert set(np.unique(les)) == {0, 2}
    x, y, z = grid_mm(p)
    zi, yi, xi = np.nonzero(les)
    px, py, pz = x[xi], y[yi], z[zi]
    voxel = max(p.ct.spacing)
    heart = anat.in_heart(px, py, pz, margin=4.0 + voxel)
    mediastinum = np.abs(px) < 14.0 + voxel
    ca, cb = anat.cavity_axes(pz)
    wall = (px / (ca - 1.5 - voxel)) ** 2 + (py / (cb - 1.5 - voxel)) ** 2 > 1.0
    assert heart.sum() > 20 and mediastinum.sum() > 20 and wall.sum() > 20
    with_rim = make_phantom(matrix=128, seed=0, lesions=abutting_lesions(0))
    assert with_rim.truth.lesion_ml_ggo > 20 and with_rim.truth.lesion_ml_consolidation > 50


def test_lesions_are_bilateral_posterior_lower_and_peripheral():
    posterior = lower = peripheral = lung_peripheral = n = n_lung = 0
    for seed in range(8):
        p = make_phantom(seed=seed, matrix=96)
        les, lung = p.lesion.array > 0, p.lung.array
        assert set(np.unique(lung[les])) == {1, 2}, seed  # both lungs
        _, y, z = grid_mm(p)
        lz, ly, _ = np.nonzero(lung)
        qz, qy, _ = np.nonzero(les)
        posterior += np.count_nonzero(y[qy] > np.median(y[ly]))
        lower += np.count_nonzero(z[qz] < np.median(z[lz]))
        sx, sy, sz = p.ct.spacing
        depth = ndimage.distance_transform_edt(lung > 0, sampling=(sz, sy, sx))
        peripheral += np.count_nonzero(depth[les] < 15.0)
        lung_peripheral += np.count_nonzero(depth[lung > 0] < 15.0)
        n, n_lung = n + qz.size, n_lung + lz.size
    assert posterior / n > 0.6 and lower / n > 0.6
    assert peripheral / n > lung_peripheral / n_lung + 0.1


def test_demo_course_progresses_twice_then_resorbs(demo):
    lov = [p.truth.lesion_ml_total for p in demo]
    po = [p.truth.percent_involved for p in demo]
    steps = list(zip(itertools.pairwise(lov), itertools.pairwise(po), strict=True))
    trends = [trend_label(b - a, q - p) for (a, b), (p, q) in steps]
    assert trends == ["progression", "progression", "absorption"]
    relative = [b / a - 1.0 for a, b in itertools.pairwise(lov)]
    assert relative[0] > 0.5 and relative[1] > 0.4 and relative[2] < -0.4
    cons = [p.truth.lesion_ml_consolidation / p.truth.lesion_ml_total for p in demo]
    assert cons[0] < 0.15 and cons[2] == max(cons) and cons[2] > 0.5 and cons[3] < 0.3


def test_demo_lesions_spread_merge_consolidate_and_resorb(demo):
    sites = [len({les.center_mm for les in p.lesions}) for p in demo]
    assert sites[0] < sites[1]  # new foci in the progressive stage
    paving = [any(les.septa_hu > 0 for les in p.lesions) for p in demo]
    assert paving == [False, True, True, False]  # crazy paving: progressive and peak stages
    peak = demo[2]
    parts, _ = ndimage.label(peak.lesion.array > 0)
    big = np.bincount(parts.ravel())[1:] * peak.truth.voxel_ml >= 1.0
    assert np.count_nonzero(big) < sites[2]  # foci merged
    ggo_centres = {les.center_mm for les in peak.lesions if les.kind == "ggo"}
    assert any(les.center_mm not in ggo_centres for les in peak.lesions)  # one without a rim
    for p in demo:
        ct, les = p.ct.array, p.lesion.array
        assert -750 <= np.median(ct[les == 1]) <= -300
        assert -100 <= np.median(ct[les == 2]) <= 50
    assert np.count_nonzero((peak.ct.array < -800) & (peak.lesion.array == 2)) > 50


def test_an_explicit_lesion_is_by_default_the_union_of_spheres():
    sphere = Lesion("consolidation", (-70.0, 25.0, 0.0), 15.0, 0.0)
    p = make_phantom(lesions=(sphere,), matrix=256, fov_mm=200.0, slice_thickness_mm=1.0,
                     slice_spacing_mm=1.0, z_extent_mm=60.0, noise_hu=0.0, blur_mm=0.0)
    assert p.truth.lesion_ml_consolidation == pytest.approx(4 / 3 * np.pi * 15.0**3 / 1000,
                                                            rel=0.02)
    assert np.all(np.abs(p.ct.array[p.lesion.array == 2]) <= 30)  # base value ± texture
