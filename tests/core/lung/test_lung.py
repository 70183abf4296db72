"""Lung segmentation: Dice against the phantom's true lungs, sides, airways, errors, real CT."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from scoat_core.errors import UserError
from scoat_core.lung import (
    LungSegmentationError,
    NotHounsfieldError,
    lung_bounding_box,
    lung_slices,
    segment_lungs,
)
from scoat_core.phantom import Lesion, make_anatomy, make_phantom
from scoat_core.progress import Cancelled
from scoat_core.volume import ExamInfo, Volume

MIN_DICE = 0.97


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 2.0 * np.count_nonzero(a & b) / total if total else 1.0


def dices(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "right": dice(pred == 1, truth == 1),
        "left": dice(pred == 2, truth == 2),
        "total": dice(pred > 0, truth > 0),
    }


def posterior_consolidations(seed: int, radius: float) -> tuple[Lesion, ...]:
    """One consolidation sphere per lower lobe, inside the lung and touching its back wall."""
    anat = make_anatomy(seed)
    ca, _ = anat.cavity_mid
    z = anat.z_base + 0.45 * anat.height  # lower lobes, above the diaphragm domes
    ys = np.arange(-150.0, 150.0, 0.5)
    out = []
    for sign in (-1.0, 1.0):
        x = sign * 0.55 * ca
        lab = anat.lung_labels(np.full_like(ys, x), ys, np.full_like(ys, z))
        back = float(ys[np.flatnonzero(lab)[-1]])
        out.append(Lesion("consolidation", (x, back - radius + 2.0, z), radius, 15.0))
    return tuple(out)


@pytest.fixture(scope="module")
def default_case():
    phantom = make_phantom()
    return phantom, segment_lungs(phantom.ct)


@pytest.fixture(scope="module")
def small_phantom():
    return make_phantom(matrix=128, seed=2)


@pytest.fixture(scope="module")
def small_result(small_phantom):
    return segment_lungs(small_phantom.ct)


# ------------------------------------------------------------------------------ accuracy
def test_default_phantom_dice_and_volumes(default_case):
    phantom, result = default_case
    d = dices(result.labels.array, phantom.lung.array)
    assert min(d.values()) >= MIN_DICE, d
    assert result.labels.same_geometry(phantom.ct) and result.complete
    assert result.labels.array.dtype == np.uint8
    assert result.right_ml == pytest.approx(phantom.truth.lung_ml_right, rel=0.03)
    assert result.left_ml == pytest.approx(phantom.truth.lung_ml_left, rel=0.03)
    assert result.total_ml == pytest.approx(result.right_ml + result.left_ml)
    assert result.warnings == []


def test_large_posterior_consolidation_stays_inside_the_lungs():
    lesions = posterior_consolidations(seed=0, radius=36.0)
    phantom = make_phantom(matrix=160, lesions=lesions)
    assert phantom.truth.lesion_ml_consolidation > 300  # two large, dense, pleural lesions
    result = segment_lungs(phantom.ct)
    pred = result.labels.array
    d = dices(pred, phantom.lung.array)
    assert min(d.values()) >= MIN_DICE, d
    lesion = phantom.lesion.array > 0
    inside = np.count_nonzero(lesion & (pred > 0)) / np.count_nonzero(lesion)
    assert inside >= 0.95, inside


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(
            dict(
                matrix=160,
                slice_thickness_mm=5.0,
                slice_spacing_mm=5.0,
                noise_hu=40.0,
                blur_mm=1.5,
                seed=3,
            ),
            id="thick-5mm-noisy-smooth",
        ),
        pytest.param(
            dict(
                matrix=256,
                fov_mm=340.0,
                slice_thickness_mm=1.0,
                slice_spacing_mm=1.0,
                noise_hu=60.0,
                blur_mm=0.3,
                z_extent_mm=70.0,
                seed=5,
            ),
            id="sharp-1mm-slab",
        ),
    ],
)
def test_reconstructions(spec):
    phantom = make_phantom(**spec)
    result = segment_lungs(phantom.ct)
    d = dices(result.labels.array, phantom.lung.array)
    assert min(d.values()) >= MIN_DICE, d


def test_slab_that_cuts_the_lungs_says_so():
    phantom = make_phantom(matrix=128, z_extent_mm=60.0, seed=1)
    result = segment_lungs(phantom.ct)
    assert any("scanned range" in w for w in result.warnings)
    assert not any("implausibly" in w for w in result.warnings)


# ------------------------------------------------------------------------------ anatomy
def test_trachea_and_main_bronchi_are_excluded(default_case):
    phantom, result = default_case
    ct = phantom.ct  # axis-aligned grid, anatomy frame = LPS (no shift)
    x, y, z = (ct.origin[i] + ct.spacing[i] * np.arange(ct.shape[2 - i]) for i in range(3))
    airway = phantom.anatomy.in_airway(x[None, None, :], y[None, :, None], z[:, None, None])
    airway = np.broadcast_to(airway, ct.shape)
    top = airway[-1]
    assert top.any() and not result.labels.array[-1][top].any()  # the trachea at the top
    leaked = np.count_nonzero(airway & (result.labels.array > 0)) / np.count_nonzero(airway)
    assert leaked < 0.01, leaked


def sides_in_lps(result) -> tuple[float, float]:
    """Mean LPS x of the right (1) and left (2) labels."""
    lab = result.labels
    means = []
    for k in (1, 2):
        z, y, x = np.nonzero(lab.array == k)
        means.append(float(lab.index_to_lps(np.stack([x, y, z], axis=1))[:, 0].mean()))
    return means[0], means[1]


@pytest.mark.parametrize("flips", [(True, False, False), (True, True, True)], ids=["x", "xyz"])
def test_sides_follow_the_patient_not_the_array(small_phantom, small_result, flips):
    ct, base = small_phantom.ct, small_result
    right_x, left_x = sides_in_lps(base)
    assert right_x < 0 < left_x  # LPS: the patient's left is +x
    assert dices(base.labels.array, small_phantom.lung.array)["total"] >= MIN_DICE

    array, direction, origin = ct.array, np.eye(3), np.array(ct.origin)
    for axis, flip in enumerate(flips):  # axis in (x, y, z); array axis is 2 - axis
        if flip:
            array = np.flip(array, axis=2 - axis)
            origin[axis] += (ct.shape[2 - axis] - 1) * ct.spacing[axis]
            direction[axis, axis] = -1.0
    flipped = Volume(np.ascontiguousarray(array), ct.spacing, tuple(origin), direction)
    result = segment_lungs(flipped)
    back = result.labels.array
    for axis, flip in enumerate(flips):
        if flip:
            back = np.flip(back, axis=2 - axis)
    assert np.array_equal(back, base.labels.array)
    right_x2, left_x2 = sides_in_lps(result)
    assert right_x2 == pytest.approx(right_x) and left_x2 == pytest.approx(left_x)


def test_single_slice_is_segmented_in_2d(default_case):
    phantom, _ = default_case
    ct = phantom.ct
    z = int(np.argmax((phantom.lung.array > 0).sum(axis=(1, 2))))
    origin = ct.index_to_lps(np.array([0.0, 0.0, z]))
    one = Volume(ct.array[z : z + 1].copy(), ct.spacing, tuple(origin))
    result = segment_lungs(one)
    d = dices(result.labels.array[0], phantom.lung.array[z])
    assert min(d.values()) >= 0.95, d
    assert any("single slice" in w for w in result.warnings) and not result.complete


# ------------------------------------------------------------------------------ errors
def test_not_hounsfield_units_is_a_clear_error(small_phantom):
    display = small_phantom.ct.derive(np.zeros(small_phantom.ct.shape, np.uint8))
    with pytest.raises(NotHounsfieldError, match="Hounsfield") as info:
        segment_lungs(display)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)


@pytest.mark.parametrize("value", [-1000, -3024, 40], ids=["air", "padding", "water"])
def test_volume_without_lungs_is_a_clear_error(value):
    array = np.full((6, 64, 64), value, dtype=np.int16)
    if value == 40:
        array[:] = -1000
        yy, xx = np.ogrid[:64, :64]
        array[:, (yy - 32) ** 2 + (xx - 32) ** 2 < 25**2] = 40  # a water cylinder
    volume = Volume(array, (5.0, 5.0, 5.0), info=ExamInfo(source="water.nii"))
    with pytest.raises(LungSegmentationError, match=r"no lungs found in water\.nii"):
        segment_lungs(volume)


# ------------------------------------------------------------------------------ API
def test_progress_and_cancel(small_phantom):
    seen: list[float] = []
    segment_lungs(small_phantom.ct, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) >= 5
    assert all(b >= a for a, b in itertools.pairwise(seen))
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        segment_lungs(small_phantom.ct, cancel=cancel)


def test_bounding_box_and_slices(default_case):
    phantom, result = default_case
    labels = result.labels
    has = lung_slices(labels)
    assert has.shape == (labels.shape[0],) and has.dtype == bool
    truth = lung_slices(phantom.lung.array)
    assert np.count_nonzero(has != truth) <= 2
    box = lung_bounding_box(labels, margin_mm=10.0)
    inside = np.zeros(labels.shape, bool)
    inside[box] = True
    assert not np.any((labels.array > 0) & ~inside)
    z = np.flatnonzero(has)
    margin = int(np.ceil(10.0 / labels.spacing[2]))
    assert box[0].start == max(0, z[0] - margin)
    assert box[0].stop == min(len(has), z[-1] + 1 + margin)
    assert lung_bounding_box(labels.derive(np.zeros(labels.shape, np.uint8))) is None


def test_overlay_tool_writes_a_png(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    from scoat_core.io.images import write_image

    path = Path(__file__).resolve().parents[3] / "tools" / "lung_overlay.py"
    spec = importlib.util.spec_from_file_location("lung_overlay", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    nii = write_image(make_phantom(matrix=96, seed=4).ct, tmp_path / "ct.nii.gz")
    out = tmp_path / "lungs.png"
    assert tool.main([str(nii), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert "right lung" in capsys.readouterr().out


# ------------------------------------------------------------------------------ real CT
@pytest.mark.shared_data
def test_ricord_both_lungs_plausible_and_on_their_side(ricord_dir):
    from scoat_core.io.dicom import read_dicom

    volume = read_dicom(ricord_dir)
    result = segment_lungs(volume)
    assert 1000 < result.right_ml < 4000 and 1000 < result.left_ml < 4000, result
    assert 2500 < result.total_ml < 7000
    right_x, left_x = sides_in_lps(result)
    assert right_x < left_x
    midline = (right_x + left_x) / 2.0
    lab = result.labels
    for k, sign in ((1, -1.0), (2, 1.0)):
        mask = lab.array == k
        comps, _ = ndimage.label(mask)
        sizes = np.bincount(comps.ravel())[1:]
        assert sizes.max() >= 0.98 * sizes.sum()  # one lung, not scattered pieces
        z, y, x = np.nonzero(mask[::4])  # every 4th slice is plenty
        xs = lab.index_to_lps(np.stack([x, y, 4 * z], axis=1))[:, 0]
        crossing = np.count_nonzero(sign * (xs - midline) < -15.0) / xs.size
        assert crossing < 0.01, (k, crossing)


def test_joined_lungs_are_split():
    from scoat_core.lung.separate import pick_lungs

    z, y, x = np.ogrid[:30, :60, :100]
    right = ((z - 15) / 13.0) ** 2 + ((y - 30) / 25.0) ** 2 + ((x - 28) / 22.0) ** 2 < 1
    left = ((z - 15) / 13.0) ** 2 + ((y - 30) / 25.0) ** 2 + ((x - 72) / 22.0) ** 2 < 1
    bridge = (np.abs(z - 15) < 3) & (np.abs(y - 30) < 3) & (np.abs(x - 50) < 8)
    labels, warnings = pick_lungs(right | left | bridge, 50.0, (2.0, 2.0, 2.0))
    assert warnings == []
    assert dice(labels == 1, right) > 0.97 and dice(labels == 2, left) > 0.97
    slab = np.broadcast_to((np.abs(y - 30) < 25) & (x > 5) & (x < 95), (30, 60, 100))
    labels, warnings = pick_lungs(slab.copy(), 50.0, (2.0, 2.0, 2.0))  # cannot be eroded apart
    assert "split at the midline" in warnings[0]
    assert np.all(labels[:, :, :50][slab[:, :, :50]] == 1) and np.all(
        labels[:, :, 50:][slab[:, :, 50:]] == 2
    )


def test_drop_debris_clears_small_detached_parts_only():
    from scoat_core.lung.segment import DEBRIS_ML, drop_debris

    labels = np.zeros((40, 60, 60), dtype=np.uint8)
    labels[5:35, 10:28, 10:50] = 1  # right lung
    labels[5:35, 32:50, 10:50] = 2  # left lung
    labels[15:18, 2:5, 20:23] = 1  # detached crumb of the right lung (27 voxels)
    labels[36:38, 40:42, 20:22] = 2  # detached crumb of the left lung
    labels[0:2, 2:4, 2:4] = 1  # small part at the first slice: may be a cut-off lung part
    labels[20, 28, 30] = 1  # touches the right lung diagonally only: connected, kept
    labels[20, 29, 31] = 1
    before = labels.copy()
    voxel_ml = DEBRIS_ML / 1000  # crumbs are far below DEBRIS_ML, the lungs far above
    drop_debris(labels, voxel_ml)
    assert not labels[15:18, 2:5, 20:23].any() and not labels[36:38, 40:42, 20:22].any()
    assert (labels[0:2, 2:4, 2:4] == 1).all()
    assert labels[20, 29, 31] == 1
    assert np.array_equal(labels[5:35, 10:50, 10:50], before[5:35, 10:50, 10:50])
    big = DEBRIS_ML / 8  # every crumb (8 voxels or more) is now >= DEBRIS_ML: all kept
    labels = before.copy()
    drop_debris(labels, big)
    assert np.array_equal(labels, before)


def test_field_of_view_that_cuts_the_lungs():
    """A 245 mm field of view cuts both lungs at the sides: the cut lungs stay in the mask (they
    joined the outside air before, Dice 0.59 at 260 mm) and the result says it is partial."""
    phantom = make_phantom(matrix=192, fov_mm=245, seed=1)
    truth = phantom.lung.array
    assert truth[:, :, 0].any() and truth[:, :, -1].any()
    result = segment_lungs(phantom.ct)
    d = dices(result.labels.array, truth)
    assert min(d.values()) >= MIN_DICE, d
    assert not result.complete
    assert any("field of view cuts the lungs" in w for w in result.warnings)
