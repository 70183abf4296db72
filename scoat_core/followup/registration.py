"""Registration of a follow-up exam onto its baseline through the lung masks.

Registration (SimpleITK): each follow-up is aligned to the baseline, rigid (Euler 3-D) then
affine, by mean squares on signed distance maps of the lung masks (driven by lung shape, not by
the opacity that changes between exams), multi-resolution. The transform maps baseline LPS
points to follow-up LPS points (ITK's fixed → moving convention), which is what linked cursors
need; the follow-up opacity resampled onto the baseline grid gives the new / resolved /
persistent maps.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scoat_core.volume import Volume


@dataclass
class Registration:
    """A follow-up aligned to a baseline: baseline LPS point → follow-up LPS point."""

    parameters: list[float]
    """Affine matrix (row-major 3×3) then translation, in mm (ITK AffineTransform)."""
    center: list[float]
    lung_dice_after: float

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
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Registration:
        return cls(**json.loads(Path(path).read_text()))


def _distance_image(lung: Volume, grid_mm: float = 3.0):
    """Signed distance (mm, clamped to ±40) to the lung surface on a ~``grid_mm`` grid."""
    import SimpleITK as sitk

    img = sitk.Cast(lung.to_sitk() > 0, sitk.sitkFloat32)
    factors = [max(1, round(grid_mm / s)) for s in lung.spacing]
    if max(factors) > 1:
        img = sitk.BinShrink(img, factors)
    img = sitk.Cast(img > 0.5, sitk.sitkUInt8)
    dist = sitk.SignedMaurerDistanceMap(img, insideIsPositive=False, squaredDistance=False,
                                        useImageSpacing=True)
    return sitk.Clamp(dist, lowerBound=-40.0, upperBound=40.0)


def register(baseline_lung: Volume, followup_lung: Volume) -> Registration:
    """Rigid then affine registration of the follow-up lungs onto the baseline lungs."""
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
    a, b = baseline_lung.array > 0, warped > 0
    dice = 2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b))
    return Registration(list(affine.GetParameters()), list(affine.GetCenter()), float(dice))


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
