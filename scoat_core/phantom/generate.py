"""`make_phantom`: one synthetic chest CT exam with its exact lung and lesion masks."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, time

import numpy as np
from scipy import ndimage

from ..volume import ExamInfo, Volume
from .anatomy import Anatomy, make_anatomy
from .lesions import fit_scale, random_lesions, render_lesions
from .render import Grid, lung_texture, make_grid, render_anatomy
from .spec import Lesion, PhantomSpec
from .vessels import render_vessels, vessel_tree


@dataclass(frozen=True)
class PhantomTruth:
    """Exact volumes (mL) counted on the output-grid masks: voxels × voxel volume."""

    lung_ml_right: float
    lung_ml_left: float
    lung_ml_total: float
    lesion_ml_ggo: float
    lesion_ml_consolidation: float
    lesion_ml_total: float
    percent_involved: float
    """Lesion volume / lung volume × 100."""
    voxel_ml: float
    n_lesions: int
    target_lesion_ml: float | None = None
    lesion_scale: float = 1.0
    """Factor applied to the lesion radii to approach ``target_lesion_ml``."""

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class Phantom:
    """A synthetic exam: CT in HU, true masks on the same grid, true volumes."""

    ct: Volume
    lung: Volume
    """uint8: 1 right lung, 2 left lung (airways, vessels' hilar parts outside)."""
    lesion: Volume
    """uint8: 1 ground-glass opacity, 2 consolidation (always inside ``lung``). Labels follow
    the lesion outlines: air bronchograms are consolidation; septa and vessels in ground glass
    are ground glass."""
    body: Volume
    """uint8: 1 inside the skin outline."""
    truth: PhantomTruth
    spec: PhantomSpec
    lesions: tuple[Lesion, ...]
    """The lesions as drawn (after scaling to the target volume)."""
    anatomy: Anatomy


def exam_uid(spec: PhantomSpec, what: str) -> str:
    """Deterministic DICOM UID (``2.25.<uuid5>``) of this exam's study or series."""
    key = (
        f"scoat-phantom/{spec.seed}/{spec.noise_seed}/{spec.resolved_patient()[0]}/"
        f"{spec.study_date.isoformat()}/{spec.series_number}/{what}"
    )
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, key).int}"


def exam_info(spec: PhantomSpec) -> ExamInfo:
    """Metadata of the phantom exam (patient, study, scanner)."""
    pid, name = spec.resolved_patient()
    rng = np.random.default_rng(np.random.SeedSequence([int(spec.seed), 606]))
    birth = date(int(rng.integers(1940, 1985)), int(rng.integers(1, 13)), int(rng.integers(1, 29)))
    thick = spec.slice_thickness_mm
    return ExamInfo(
        patient_id=pid,
        patient_name=name,
        birth_date=birth,
        patient_sex=str(rng.choice(["M", "F"])),
        study_uid=exam_uid(spec, "study"),
        series_uid=exam_uid(spec, "series"),
        study_date=spec.study_date,
        study_time=time(10, 0, 0),
        study_description=spec.study_description,
        series_description=spec.series_description or f"{spec.kernel} {thick:g} mm phantom",
        series_number=spec.series_number,
        modality="CT",
        manufacturer=spec.manufacturer,
        model=spec.model,
        station=spec.station,
        kernel=spec.kernel,
        slice_thickness_mm=float(thick),
        kvp=float(spec.kvp),
        contrast=False,
        source=f"scoat_core.phantom seed={spec.seed}",
    )


def _image(hu: np.ndarray, grid: Grid, spec: PhantomSpec, rng) -> np.ndarray:
    """Boxcar over each slice's fine planes, kernel blur, then noise; int16 HU."""
    groups = grid.groups
    img = hu[groups[:, 0]]
    for j in range(1, groups.shape[1]):
        img += hu[groups[:, j]]
    if groups.shape[1] > 1:
        img /= np.float32(groups.shape[1])
    sx, sy, _ = spec.spacing
    if spec.blur_mm > 0:
        img = ndimage.gaussian_filter(
            img, (0.0, spec.blur_mm / sy, spec.blur_mm / sx), truncate=3.0
        )
    if spec.noise_hu > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(spec.noise_hu)
    np.rint(img, out=img)
    np.clip(img, -1024, 3071, out=img)
    return img.astype(np.int16)


def _lesions_for(spec: PhantomSpec, anat: Anatomy, grid: Grid, lung: np.ndarray):
    """The spec's (or random) lesions, scaled to the target volume when one is asked."""
    lesions = (
        spec.lesions
        if spec.lesions is not None
        else random_lesions(anat, spec.seed, spec.n_lesions)
    )
    scale = 1.0
    if spec.lesion_ml is not None:
        voxel_ml = float(np.prod(spec.spacing)) / 1000.0
        scale = fit_scale(grid, tuple(lesions), lung[grid.centre], voxel_ml, spec.lesion_ml)
        lesions = tuple(les.scaled(scale) for les in lesions) if scale > 0 else ()
    return tuple(lesions), scale


def make_phantom(spec: PhantomSpec | None = None, **overrides) -> Phantom:
    """Generate a phantom exam; ``overrides`` replace fields of ``spec`` (default PhantomSpec()).

    Masks are sampled at each output slice's centre plane of the fine grid, while the image
    averages all fine planes of the slice thickness (thick slices show partial volume at edges);
    the lesion mask is what the centre planes alone give (as the volume fit measures it).
    Vessels are drawn after the lesions: visible through ground glass, hidden in consolidation.
    """
    spec = dataclasses.replace(spec or PhantomSpec(), **overrides)
    spec.validate()
    anat = make_anatomy(spec.seed)
    grid = make_grid(spec)
    noise_seed = spec.seed if spec.noise_seed is None else spec.noise_seed
    rng = np.random.default_rng(np.random.SeedSequence([int(noise_seed), 707]))
    sx, sy, _ = spec.spacing
    tex = lung_texture(spec.shape_rc, (sx, sy), rng)
    hu, lung, body = render_anatomy(anat, grid, tex)
    lesions, scale = _lesions_for(spec, anat, grid, lung)
    c = grid.centre
    fine = np.zeros_like(lung)
    render_lesions(grid, lesions, lung, fine, hu, anat=anat)
    render_vessels(grid, vessel_tree(anat, spec.seed), hu, lung, fine)
    mask = fine[c]
    del fine
    img = _image(hu, grid, spec, rng)
    del hu
    ct = Volume(img, spacing=spec.spacing, origin=grid.origin, info=exam_info(spec), is_hu=True)
    lung_v, lesion_v, body_v = ct.derive(lung[c]), ct.derive(mask), ct.derive(body[c])
    truth = _truth(ct, lung_v.array, lesion_v.array, spec, len(lesions), scale)
    return Phantom(ct, lung_v, lesion_v, body_v, truth, spec, lesions, anat)


def _truth(ct: Volume, lung, lesion, spec: PhantomSpec, n: int, scale: float) -> PhantomTruth:
    vml = ct.voxel_volume_ml
    right = np.count_nonzero(lung == 1) * vml
    left = np.count_nonzero(lung == 2) * vml
    ggo = np.count_nonzero(lesion == 1) * vml
    cons = np.count_nonzero(lesion == 2) * vml
    total_lung = right + left
    return PhantomTruth(
        lung_ml_right=float(right),
        lung_ml_left=float(left),
        lung_ml_total=float(total_lung),
        lesion_ml_ggo=float(ggo),
        lesion_ml_consolidation=float(cons),
        lesion_ml_total=float(ggo + cons),
        percent_involved=float(100.0 * (ggo + cons) / total_lung) if total_lung else 0.0,
        voxel_ml=float(vml),
        n_lesions=n,
        target_lesion_ml=spec.lesion_ml,
        lesion_scale=float(scale),
    )
