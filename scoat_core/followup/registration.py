"""Registration of a follow-up exam onto its baseline through the lung masks.

Registration (SimpleITK): each follow-up is aligned to the baseline, rigid (Euler 3-D) then
affine, by mean squares on signed distance maps of the lung masks (driven by lung shape, not by
the opacity that changes between exams), multi-resolution. The transform maps baseline LPS
points to follow-up LPS points (ITK's fixed → moving convention), which is what linked cursors
need; the follow-up opacity resampled onto the baseline grid gives the new / resolved /
persistent maps.

Thin exams (a single slice, or too few slices for a 3-D fit on the ~3 mm grid) are registered in
2-D: the slice with the most lung of each exam, rigid then affine in plane, and the baseline
slice mapped onto the follow-up slice along z. When that is not possible (an oblique slice
plane, or the 2-D fit fails) the lung centres are aligned (translation only). The
:class:`Registration` says which was done (``method``, ``note``); only exams without any lung
raise (:class:`RegistrationError`, a one-line :class:`~scoat_core.errors.UserError`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scoat_core.errors import UserError
from scoat_core.volume import Volume

log = logging.getLogger(__name__)

#: Bumped when a change of the method moves the results: stored registrations of another
#: version are computed again.
REGISTRATION_VERSION = 2
METHOD_3D = "3-D rigid + affine"
METHOD_2D = "2-D rigid + affine"
METHOD_TRANSLATION = "translation only"
#: Fewest slices along z, on the ~3 mm registration grid, for the 3-D registration (its coarse
#: level halves them and its smoothing needs 4).
MIN_3D_GRID_SLICES = 8
GRID_MM = 3.0


class RegistrationError(UserError):
    """The exams cannot be registered (no lung in one of them)."""


@dataclass
class Registration:
    """A follow-up aligned to a baseline: baseline LPS point → follow-up LPS point."""

    parameters: list[float]
    """Affine matrix (row-major 3×3) then translation, in mm (ITK AffineTransform)."""
    center: list[float]
    lung_dice_after: float
    method: str = METHOD_3D
    """:data:`METHOD_3D`, :data:`METHOD_2D` or :data:`METHOD_TRANSLATION`."""
    note: str = ""
    """Why the method is not the 3-D one ("single slice"...), '' for a 3-D registration."""

    def describe(self) -> str:
        """One line for a pane: '' for the 3-D registration, else the method and why."""
        if self.method == METHOD_3D:
            return ""
        return f"{self.method} registration" + (f" ({self.note})" if self.note else "")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Registration:
        return cls(**data)

    def transform(self):
        import SimpleITK as sitk

        t = sitk.AffineTransform(3)
        t.SetCenter(self.center)
        t.SetParameters(self.parameters)
        return t

    def map_point(self, baseline_lps) -> np.ndarray:
        """The follow-up position (LPS mm) of the same anatomy as a baseline position."""
        return np.asarray(self.transform().TransformPoint([float(v) for v in baseline_lps]))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> Registration:
        return cls.from_json(json.loads(Path(path).read_text()))


def _grid_factors(size, spacing, grid_mm: float = GRID_MM) -> list[int]:
    """Bin factors to a ~``grid_mm`` grid, never more than the image is long."""
    return [max(1, min(int(n), round(grid_mm / s))) for n, s in zip(size, spacing, strict=True)]


def _distance_map(img, grid_mm: float = GRID_MM):
    """Signed distance (mm, clamped to ±40) to the surface of the binary ``img`` (any
    dimension), on a ~``grid_mm`` grid."""
    import SimpleITK as sitk

    img = sitk.Cast(img > 0, sitk.sitkFloat32)
    factors = _grid_factors(img.GetSize(), img.GetSpacing(), grid_mm)
    if max(factors) > 1:
        img = sitk.BinShrink(img, factors)
    img = sitk.Cast(img > 0.5, sitk.sitkUInt8)
    dist = sitk.SignedMaurerDistanceMap(img, insideIsPositive=False, squaredDistance=False,
                                        useImageSpacing=True)
    return sitk.Clamp(dist, lowerBound=-40.0, upperBound=40.0)


def _distance_image(lung: Volume, grid_mm: float = GRID_MM):
    """Signed distance (mm, clamped to ±40) to the lung surface on a ~``grid_mm`` grid."""
    return _distance_map(lung.to_sitk() > 0, grid_mm)


def _grid_slices(lung: Volume) -> int:
    """Slices along z on the registration grid."""
    nz = lung.shape[0]
    return nz // _grid_factors((nz,), (lung.spacing[2],))[0]


def _thin_note(lung: Volume) -> str:
    nz = lung.shape[0]
    return "single slice" if nz == 1 else f"{nz} slices, {nz * lung.spacing[2]:.0f} mm"


def register(baseline_lung: Volume, followup_lung: Volume) -> Registration:
    """Register the follow-up lungs onto the baseline lungs: 3-D rigid then affine, or for thin
    exams 2-D in plane, or a translation of the lung centres (see the module docstring).

    Raises :class:`RegistrationError` when an exam has no lung.
    """
    for name, lung in (("baseline", baseline_lung), ("follow-up", followup_lung)):
        if not np.any(lung.array):
            raise RegistrationError(f"cannot register: no lung in the {name} exam")
    thin = [v for v in (baseline_lung, followup_lung) if _grid_slices(v) < MIN_3D_GRID_SLICES]
    if not thin:
        try:
            return _register_3d(baseline_lung, followup_lung)
        except RuntimeError as exc:  # SimpleITK: a degenerate fit
            log.warning("3-D registration failed, lung centres aligned instead: %s", exc)
            return _register_translation(baseline_lung, followup_lung,
                                         "the 3-D registration failed")
    note = " / ".join(dict.fromkeys(_thin_note(v) for v in thin))
    if not (_axial_block(baseline_lung) and _axial_block(followup_lung)):
        return _register_translation(baseline_lung, followup_lung, f"{note}, oblique slices")
    try:
        return _register_2d(baseline_lung, followup_lung, note)
    except RuntimeError as exc:
        log.warning("2-D registration failed, lung centres aligned instead: %s", exc)
        return _register_translation(baseline_lung, followup_lung, note)


def _register_3d(baseline_lung: Volume, followup_lung: Volume) -> Registration:
    import SimpleITK as sitk

    fixed, moving = _distance_image(baseline_lung), _distance_image(followup_lung)
    rigid = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS)
    rigid = _run(fixed, moving, rigid, iterations=100)
    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    affine = _run(fixed, moving, affine, iterations=100)
    warped = resample_labels(followup_lung, baseline_lung, affine)
    return Registration(list(affine.GetParameters()), list(affine.GetCenter()),
                        _dice(baseline_lung.array > 0, warped > 0))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b)))


def _axial_block(volume: Volume, tol: float = 1e-3) -> bool:
    """True when the slices are planes of constant LPS z (no z in the rows and columns)."""
    d = np.asarray(volume.direction, float)
    return bool(np.all(np.abs(d[2, :2]) < tol) and np.all(np.abs(d[:2, 2]) < tol))


def _lung_slice(lung: Volume) -> int:
    """The slice with the most lung."""
    return int(np.argmax(np.count_nonzero(lung.array, axis=(1, 2))))


def _slice_image(lung: Volume, z: int):
    """Slice ``z`` of the lung mask as a 2-D image in LPS x, y (mm); and its LPS z."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray((lung.array[z] > 0).astype(np.uint8))
    img.SetSpacing(lung.spacing[:2])
    corner = lung.index_to_lps(np.array([0.0, 0.0, float(z)]))
    img.SetOrigin([float(corner[0]), float(corner[1])])
    img.SetDirection(np.asarray(lung.direction, float)[:2, :2].ravel().tolist())
    return img, float(corner[2])


def _register_2d(baseline_lung: Volume, followup_lung: Volume, note: str) -> Registration:
    """In-plane rigid then affine registration of the slices with the most lung; the baseline
    slice goes onto the follow-up slice along z."""
    import SimpleITK as sitk

    fixed_mask, z_fixed = _slice_image(baseline_lung, _lung_slice(baseline_lung))
    moving_mask, z_moving = _slice_image(followup_lung, _lung_slice(followup_lung))
    fixed, moving = _distance_map(fixed_mask), _distance_map(moving_mask)
    rigid = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler2DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS)
    rigid = _run(fixed, moving, rigid, iterations=100)
    affine = sitk.AffineTransform(2)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    affine = _run(fixed, moving, affine, iterations=100)
    m = np.asarray(affine.GetMatrix(), float).reshape(2, 2)
    tx, ty = affine.GetTranslation()
    cx, cy = affine.GetCenter()
    matrix = np.eye(3)
    matrix[:2, :2] = m
    warped = sitk.Resample(moving_mask, fixed_mask, affine, sitk.sitkNearestNeighbor, 0)
    dice = _dice(sitk.GetArrayFromImage(fixed_mask) > 0, sitk.GetArrayFromImage(warped) > 0)
    return Registration([*matrix.ravel().tolist(), float(tx), float(ty), z_moving - z_fixed],
                        [float(cx), float(cy), z_fixed], dice, METHOD_2D, note)


def _register_translation(baseline_lung: Volume, followup_lung: Volume,
                          note: str) -> Registration:
    """The follow-up's lung centre onto the baseline's (no rotation, no scaling)."""
    def centre(lung: Volume) -> np.ndarray:
        return lung.index_to_lps(np.argwhere(lung.array > 0).mean(0)[::-1])

    c_fixed, c_moving = centre(baseline_lung), centre(followup_lung)
    reg = Registration([*np.eye(3).ravel().tolist(), *(c_moving - c_fixed).tolist()],
                       c_fixed.tolist(), 0.0, METHOD_TRANSLATION, note)
    warped = resample_labels(followup_lung, baseline_lung, reg.transform())
    reg.lung_dice_after = _dice(baseline_lung.array > 0, warped > 0)
    return reg


def _run(fixed, moving, initial, iterations: int):
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMeanSquares()
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.2, seed=1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=iterations, relaxationFactor=0.6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([1.0, 0.0])
    reg.SetInitialTransform(initial, inPlace=False)
    out = reg.Execute(fixed, moving)
    if out.GetName() == "CompositeTransform":
        out = sitk.CompositeTransform(out).GetNthTransform(0)
    return out.Downcast()


def resample_labels(moving: Volume, reference: Volume, transform) -> np.ndarray:
    """A label volume resampled (nearest) onto ``reference``'s grid through ``transform``."""
    import SimpleITK as sitk

    out = sitk.Resample(moving.to_sitk(), reference.to_sitk(), transform,
                        sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(out)


def opacity_change_maps(baseline: Volume, followup: Volume, reg: Registration) -> Volume:
    """On the baseline grid: 1 = new opacity, 2 = resolved, 3 = persistent."""
    moved = resample_labels(followup, baseline, reg.transform()) > 0
    base = baseline.array > 0
    labels = np.zeros(baseline.shape, np.uint8)
    labels[moved & ~base] = 1
    labels[base & ~moved] = 2
    labels[base & moved] = 3
    return baseline.derive(labels)
