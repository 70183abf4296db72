"""Writing phantom exams: DICOM series, NIfTI CT and masks, and truth.json (one folder per exam)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from scoat_core.atomic import write_text

from .generate import Phantom
from .spec import LESION_LABELS, LUNG_LABELS


def exam_folder_name(phantom: Phantom) -> str:
    """``YYYYMMDD_<patient id>`` (the date in a form the volume reader picks up)."""
    info = phantom.ct.info
    day = info.study_date.strftime("%Y%m%d") if info.study_date else "nodate"
    return f"{day}_{info.patient_id or 'PHANTOM'}"


def truth_document(phantom: Phantom, files: dict[str, Path], folder: Path) -> dict[str, object]:
    """The JSON content of truth.json: true volumes at the top level, then context."""
    spec = phantom.spec
    ct = phantom.ct
    return {
        **phantom.truth.to_json(),
        "patient_id": ct.info.patient_id,
        "study_date": ct.info.study_date.isoformat() if ct.info.study_date else None,
        "lung_labels": LUNG_LABELS,
        "lesion_labels": LESION_LABELS,
        "geometry": {
            "shape_zyx": list(ct.shape),
            "spacing_xyz_mm": list(ct.spacing),
            "origin_lps_mm": list(ct.origin),
            "direction": ct.direction.tolist(),
            "masks": "sampled at each slice's centre plane; the image averages the thickness",
        },
        "acquisition": {
            "slice_thickness_mm": spec.slice_thickness_mm,
            "slice_spacing_mm": spec.slice_spacing_mm,
            "noise_hu": spec.noise_hu,
            "blur_mm": spec.blur_mm,
            "shift_mm": list(spec.shift_mm),
            "seed": spec.seed,
            "noise_seed": spec.noise_seed,
        },
        "exam": ct.info.to_json(),
        "lesions": [dataclasses.asdict(les) for les in phantom.lesions],
        "files": {k: str(p.relative_to(folder)) for k, p in files.items() if p != folder},
    }


def _write_volume(volume, path: Path, *, mask: bool) -> Path:
    """Through scoat_core.io.images when present, else plain SimpleITK."""
    try:
        from ..io.images import write_image, write_mask
    except ImportError:  # pragma: no cover - only while the I/O module is missing
        import SimpleITK as sitk

        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(volume.to_sitk(), str(path), useCompression=True)
        return path
    return write_mask(volume, path) if mask else write_image(volume, path)


def write_phantom(
    phantom: Phantom,
    out_dir: str | Path,
    *,
    dicom: bool = True,
    nifti: bool = True,
    folder_name: str | None = None,
) -> dict[str, Path]:
    """Write one exam to ``out_dir/<YYYYMMDD>_<patient>/``; returns the paths by role.

    Roles: ``folder``, ``dicom`` (folder of ``IM*.dcm``), ``ct``, ``lung_mask``, ``lesion_mask``
    (``.nii.gz``) and ``truth`` (``truth.json`` with the exact volumes).
    """
    folder = Path(out_dir) / (folder_name or exam_folder_name(phantom))
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"folder": folder}
    if dicom:
        from ..io.dicom_write import write_dicom_series

        info = phantom.ct.info
        write_dicom_series(
            phantom.ct,
            folder / "dicom",
            series_description=info.series_description,
            series_number=info.series_number or 1,
        )
        files["dicom"] = folder / "dicom"
    if nifti:
        files["ct"] = _write_volume(phantom.ct, folder / "ct.nii.gz", mask=False)
        files["lung_mask"] = _write_volume(phantom.lung, folder / "lung_mask.nii.gz", mask=True)
        files["lesion_mask"] = _write_volume(
            phantom.lesion, folder / "lesion_mask.nii.gz", mask=True
        )
    truth = folder / "truth.json"
    write_text(truth, json.dumps(truth_document(phantom, files, folder), indent=2) + "\n")
    files["truth"] = truth
    return files


def write_timeline(
    phantoms: Sequence[Phantom], out_dir: str | Path, *, dicom: bool = True, nifti: bool = True
) -> list[dict[str, Path]]:
    """Write every exam into its own folder (a ``_<n>`` suffix keeps same-day exams apart)."""
    seen: dict[str, int] = {}
    out = []
    for ph in phantoms:
        name = exam_folder_name(ph)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        out.append(write_phantom(ph, out_dir, dicom=dicom, nifti=nifti, folder_name=name))
    return out
