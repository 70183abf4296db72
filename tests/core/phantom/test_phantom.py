"""Synthetic chest CT phantom: determinism, HU ranges, exact volumes, timeline, writing."""

from __future__ import annotations

import importlib.util
import json
from datetime import date

import numpy as np
import pytest

from scoat_core.phantom import (
    GE_STANDARD,
    SIEMENS_SHARP,
    Lesion,
    PhantomSpec,
    make_phantom,
    make_timeline,
    write_phantom,
    write_timeline,
)

#: Lesions placed inside the lungs at z ≈ 0 (anatomy frame), so small z extents still hold them.
LESIONS = (
    Lesion("ggo", (-70.0, 25.0, 0.0), 22.0, -520.0, ((0, 0, 0, 1), (0.5, 0.3, 0.2, 0.6))),
    Lesion("consolidation", (-70.0, 25.0, 0.0), 10.0, -20.0),
    Lesion("consolidation", (75.0, 10.0, 5.0), 12.0, 10.0),
)
#: Documented accuracy of ``lesion_ml``: within 3 % (or 2 mL for tiny targets).
TARGET_REL_TOL = 0.03

#: Flat, noise-free phantom whose slices are single fine planes (no partial volume).
CLEAN = dict(matrix=128, noise_hu=0.0, blur_mm=0.0, slice_thickness_mm=1.25, slice_spacing_mm=2.5)


@pytest.fixture(scope="module")
def clean():
    return make_phantom(lesions=LESIONS, **CLEAN)


@pytest.fixture(scope="module")
def default():
    return make_phantom()


def test_same_seed_same_arrays_other_seed_differs():
    a = make_phantom(seed=3, matrix=96)
    b = make_phantom(seed=3, matrix=96)
    c = make_phantom(seed=4, matrix=96)
    for name in ("ct", "lung", "lesion", "body"):
        assert np.array_equal(getattr(a, name).array, getattr(b, name).array)
    assert a.truth == b.truth
    assert not np.array_equal(a.ct.array, c.ct.array)
    assert not np.array_equal(a.lung.array, c.lung.array)
    assert a.ct.info.study_uid == b.ct.info.study_uid != c.ct.info.study_uid


def test_hu_ranges_without_noise(clean):
    ct, lung, lesion = clean.ct.array, clean.lung.array, clean.lesion.array
    parenchyma = ct[(lung > 0) & (lesion == 0)]
    assert -880 <= np.median(parenchyma) <= -820
    ggo, cons = ct[lesion == 1], ct[lesion == 2]
    assert ggo.size > 100 and cons.size > 100
    # apart from the air in bronchi and the vessels seen through it, ground glass is in range
    assert -750 <= np.median(ggo) <= -300
    assert np.mean((ggo >= -750) & (ggo <= -300)) > 0.85
    assert -100 <= np.median(cons) <= 50
    assert np.mean((cons >= -100) & (cons <= 50)) > 0.85
    assert np.count_nonzero(ct > 300) > 1000  # ribs and spine
    assert np.all(ct[:, :5, :5] == -1000) and np.all(ct[:, :5, -5:] == -1000)
    outside = ct[clean.body.array == 0]
    assert set(np.unique(outside)) <= {-1000, 150}  # air and the scanner table


def test_default_phantom_is_plausible(default):
    t = default.truth
    assert 3000 < t.lung_ml_total < 6000
    assert 1200 < t.lung_ml_right < 3000 and 1200 < t.lung_ml_left < 3000
    assert t.lesion_ml_ggo > 0 and t.lesion_ml_consolidation > 0
    assert t.lesion_ml_total == pytest.approx(t.lesion_ml_ggo + t.lesion_ml_consolidation)
    assert t.percent_involved == pytest.approx(100 * t.lesion_ml_total / t.lung_ml_total)
    ct = default.ct
    assert ct.is_hu and ct.array.dtype == np.int16 and ct.shape == (104, 256, 256)
    parenchyma = ct.array[(default.lung.array > 0) & (default.lesion.array == 0)]
    assert -880 <= np.median(parenchyma) <= -820
    info = ct.info
    assert info.modality == "CT" and info.patient_id == "PHANTOM-0000"
    assert info.study_date == date(2020, 2, 1) and info.slice_thickness_mm == 2.5
    assert info.kvp == 120 and info.kernel and info.manufacturer and info.study_uid
    for mask in (default.lung, default.lesion, default.body):
        assert mask.same_geometry(ct) and mask.array.dtype == np.uint8 and not mask.is_hu


def test_left_lung_on_plus_x(default):
    lung = default.lung
    cols = np.nonzero(lung.array)[2]
    labels = lung.array[np.nonzero(lung.array)]
    assert cols[labels == 2].mean() > cols[labels == 1].mean()
    for label, sign in ((1, -1), (2, 1)):
        z, y, x = (np.mean(i) for i in np.nonzero(lung.array == label))
        assert sign * lung.index_to_lps(np.array([x, y, z]))[0] > 30


@pytest.mark.parametrize(
    "fov, thickness, spacing, extent",
    [
        (154.0, 1.0, 1.0, 40.0),  # 0.6 mm in-plane, thin
        (180.0, 3.0, 3.0, 60.0),  # 0.7 mm
        (200.0, 2.0, 1.0, 50.0),  # overlapping slices
        (256.0, 5.0, 5.0, 100.0),  # 1.0 mm in-plane, thick
    ],
)
def test_lesion_volumes_exact_for_spacings(fov, thickness, spacing, extent):
    p = make_phantom(
        lesions=LESIONS,
        matrix=256,
        fov_mm=fov,
        slice_thickness_mm=thickness,
        slice_spacing_mm=spacing,
        z_extent_mm=extent,
    )
    sx, sy, sz = p.ct.spacing
    assert (sx, sz) == (pytest.approx(fov / 256), spacing)
    vml = sx * sy * sz / 1000
    les, lung = p.lesion.array, p.lung.array
    assert p.truth.lesion_ml_ggo == pytest.approx(np.count_nonzero(les == 1) * vml, rel=1e-12)
    assert p.truth.lesion_ml_consolidation == pytest.approx(p.ct.volume_ml(les == 2), rel=1e-12)
    assert p.truth.lung_ml_left == pytest.approx(np.count_nonzero(lung == 2) * vml, rel=1e-12)
    assert np.all(lung[les > 0] > 0), "lesions must lie inside the lung mask"
    assert p.truth.lesion_ml_ggo > 1 and p.truth.lesion_ml_consolidation > 1


def test_lesion_volume_consistent_across_sampling():
    """The same physical lesions measure about the same at 0.7 mm/1 mm and 1.4 mm/5 mm."""
    common = dict(lesions=LESIONS, z_extent_mm=80.0)
    fine = make_phantom(
        matrix=256, fov_mm=180.0, slice_thickness_mm=1.0, slice_spacing_mm=1.0, **common
    )
    coarse = make_phantom(
        matrix=128, fov_mm=180.0, slice_thickness_mm=5.0, slice_spacing_mm=5.0, **common
    )
    a, b = fine.truth.lesion_ml_total, coarse.truth.lesion_ml_total
    assert abs(a - b) / a < 0.1


def test_masks_come_from_slice_centres():
    thin = make_phantom(lesions=LESIONS, matrix=96, slice_thickness_mm=1.25, slice_spacing_mm=5.0)
    thick = make_phantom(lesions=LESIONS, matrix=96, slice_thickness_mm=5.0, slice_spacing_mm=5.0)
    assert np.array_equal(thin.lung.array, thick.lung.array)
    assert np.array_equal(thin.lesion.array, thick.lesion.array)
    assert not np.array_equal(thin.ct.array, thick.ct.array)


@pytest.mark.parametrize("target, extra", [(250.0, {}), (60.0, GE_STANDARD.spec_fields())])
def test_target_lesion_volume(target, extra):
    fields = {**extra, "matrix": 128}
    p = make_phantom(lesion_ml=target, **fields)
    achieved = p.truth.lesion_ml_total
    assert abs(achieved - target) <= max(TARGET_REL_TOL * target, 2.0)
    assert p.truth.target_lesion_ml == target
    assert achieved == pytest.approx(p.ct.volume_ml(p.lesion.array > 0))


def test_zero_target_and_no_lesions():
    assert make_phantom(matrix=64, lesion_ml=0.0).truth.lesion_ml_total == 0
    p = make_phantom(matrix=64, lesions=())
    assert p.truth.lesion_ml_total == 0 and not p.lesion.array.any()


def test_invalid_spec_is_refused():
    with pytest.raises(ValueError, match="noise_hu"):
        make_phantom(noise_hu=-1.0)
    with pytest.raises(ValueError, match="consolidation"):
        Lesion("nodule", (0, 0, 0), 5.0, 0.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        make_phantom(PhantomSpec(), no_such_field=1)


@pytest.fixture(scope="module")
def timeline():
    return make_timeline(4, seed=1, matrix=96)


def test_timeline_course_and_scanners(timeline):
    assert len(timeline) == 4
    infos = [p.ct.info for p in timeline]
    assert len({i.patient_id for i in infos}) == 1 and len({i.patient_name for i in infos}) == 1
    dates = [i.study_date for i in infos]
    assert dates == sorted(dates) and len(set(dates)) == 4 and dates[0] == date(2020, 2, 1)
    assert len({i.study_uid for i in infos}) == 4 and len({i.series_uid for i in infos}) == 4
    lov = [p.truth.lesion_ml_total for p in timeline]
    assert lov[0] < lov[1] < lov[2] > lov[3]
    cons = [p.truth.lesion_ml_consolidation / p.truth.lesion_ml_total for p in timeline]
    assert cons[2] == max(cons) and cons[3] < 0.3
    for p, want in zip(timeline, (0.25, 0.6, 1.0, 0.4), strict=True):
        assert p.truth.lesion_ml_total == pytest.approx(400 * want, rel=TARGET_REL_TOL)
    models = [i.model for i in infos]
    assert (
        models[0] == models[2] == SIEMENS_SHARP.model
        and models[1] == models[3] == GE_STANDARD.model
    )
    thick = [i.slice_thickness_mm for i in infos]
    assert thick[0] != thick[1] and timeline[0].ct.spacing != timeline[1].ct.spacing
    assert timeline[0].spec.noise_hu > timeline[1].spec.noise_hu
    assert timeline[0].spec.blur_mm < timeline[1].spec.blur_mm


def test_timeline_patient_moves(timeline):
    """The lung centroid in LPS follows each exam's patient shift (registration has work)."""

    def centroid(p):
        z, y, x = (np.mean(i) for i in np.nonzero(p.lung.array))
        return p.ct.index_to_lps(np.array([x, y, z]))

    base = centroid(timeline[0]) - np.array(timeline[0].spec.shift_mm)
    moved = 0.0
    for p in timeline[1:]:
        shift = np.array(p.spec.shift_mm)
        assert np.allclose(centroid(p) - shift, base, atol=3.0)
        moved = max(moved, float(np.abs(shift - timeline[0].spec.shift_mm).max()))
    assert moved > 2.0


HAS_DICOM_WRITER = importlib.util.find_spec("scoat_core.io.dicom_write") is not None


def test_write_phantom_nifti(tmp_path, clean):
    import SimpleITK as sitk

    files = write_phantom(clean, tmp_path, dicom=False)
    folder = tmp_path / "20200201_PHANTOM-0000"
    assert files["folder"] == folder
    for role in ("ct", "lung_mask", "lesion_mask", "truth"):
        assert files[role].is_file() and files[role].parent == folder
    truth = json.loads(files["truth"].read_text())
    for key, value in clean.truth.to_json().items():
        assert truth[key] == pytest.approx(value) if value is not None else truth[key] is None
    img = sitk.ReadImage(str(files["lesion_mask"]))
    assert np.array_equal(sitk.GetArrayFromImage(img), clean.lesion.array)
    assert np.allclose(img.GetSpacing(), clean.ct.spacing) and np.allclose(
        img.GetOrigin(), clean.ct.origin
    )
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(files["ct"])))
    assert np.array_equal(ct, clean.ct.array)


@pytest.mark.skipif(not HAS_DICOM_WRITER, reason="scoat_core.io.dicom_write not available yet")
def test_write_timeline_with_dicom(tmp_path):
    from scoat_core.io.dicom import read_series

    phantoms = make_timeline(2, matrix=64, z_extent_mm=40.0)
    written = write_timeline(phantoms, tmp_path)
    folders = [w["folder"] for w in written]
    assert len(set(folders)) == 2
    for p, w in zip(phantoms, written, strict=True):
        dcm = sorted(w["dicom"].glob("IM*.dcm"))
        assert len(dcm) == p.ct.shape[0]
        truth = json.loads(w["truth"].read_text())
        assert truth["lesion_ml_total"] == pytest.approx(p.truth.lesion_ml_total)
        assert truth["patient_id"] == p.ct.info.patient_id
        back = read_series(dcm)
        assert np.array_equal(back.array, p.ct.array)
        assert np.allclose(back.origin, p.ct.origin) and np.allclose(back.spacing, p.ct.spacing)
        assert back.info.study_uid == p.ct.info.study_uid
        assert back.info.study_date == p.ct.info.study_date


def test_lesion_recall_per_kind(tmp_path):
    from scoat_core.cli.demo import _found
    from scoat_core.io.images import write_mask
    from scoat_core.phantom.scoring import lesion_recall
    from scoat_core.volume import Volume

    lesion = np.zeros((2, 10, 10), np.uint8)
    lesion[0, :4, :5] = 1  # 20 ground-glass voxels
    lesion[1, :2, :5] = 2  # 10 consolidation voxels
    opacity = np.zeros_like(lesion)
    opacity[0, :2, :5] = 1  # half of the ground glass
    opacity[1, 5:, :] = 1  # none of the consolidation
    assert lesion_recall(lesion, opacity) == {"ggo": 0.5, "consolidation": 0.0}
    assert lesion_recall(np.where(lesion == 2, 0, lesion), opacity)["consolidation"] is None
    write_mask(Volume(lesion), tmp_path / "lesion.nii.gz")
    write_mask(Volume(opacity), tmp_path / "opacity.nii.gz")
    line = _found(tmp_path / "lesion.nii.gz", tmp_path / "opacity.nii.gz")
    assert line == "; found: ground glass 50 %, consolidation 0 %"
    assert _found(tmp_path / "missing.nii.gz", tmp_path / "opacity.nii.gz") == ""
