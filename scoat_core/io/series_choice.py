"""Which DICOM series the lung analysis can read, and which one of a study to analyse.

A series is *usable* when it is a CT image series (:func:`exclusion_reason`: a CT image
storage SOP class of modality CT, in grayscale; dose reports, SEG, RT objects, presentation
states, secondary captures and other non-images are excluded with a reason) that is not a
localizer (:func:`is_localizer`). The usable series of a study are ranked by
:func:`series_preference_key` (axial, one orientation, more slices, thinner slices, lung then
sharp kernel by :func:`kernel_score`, ORIGINAL image): :meth:`StudyRecord.best_series` takes
the first, and ``read_dicom`` tries them in that order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scoat_core.io.scan import SeriesRecord

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.2"
CT_SOP_CLASSES = frozenset(
    {CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE, LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE}
)
ENHANCED_SOP_CLASSES = frozenset(
    {ENHANCED_CT_IMAGE_STORAGE, LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE}
)

# SOP classes (a UID and its sub-UIDs) that are never CT image series, with the reason shown.
_EXCLUDED_SOP_CLASSES = [
    ("1.2.840.10008.5.1.4.1.1.88.67", "radiation dose report (SR), not an image"),
    ("1.2.840.10008.5.1.4.1.1.88", "structured report (SR), not an image"),
    ("1.2.840.10008.5.1.4.1.1.66.4", "segmentation object (SEG), not a CT image"),
    ("1.2.840.10008.5.1.4.1.1.481.3", "RT structure set (RTSTRUCT), not a CT image"),
    ("1.2.840.10008.5.1.4.1.1.481", "radiotherapy object, not a CT image"),
    ("1.2.840.10008.5.1.4.1.1.11", "presentation state, not an image"),
    ("1.2.840.10008.5.1.4.1.1.7", "secondary capture image (screenshot), not a CT series"),
    ("1.2.840.10008.5.1.4.1.1.104", "encapsulated document, not an image"),
    ("1.2.840.10008.5.1.4.1.1.66", "raw data or registration object, not an image"),
]
_NON_IMAGE_MODALITIES = {
    "SR": "structured report (SR), not an image",
    "SEG": "segmentation object (SEG), not a CT image",
    "RTSTRUCT": "RT structure set (RTSTRUCT), not a CT image",
    "PR": "presentation state, not an image",
    "KO": "key object selection, not an image",
    "DOC": "encapsulated document, not an image",
}
_LOCALIZER_WORDS = ("scout", "topogram", "localizer", "localiser", "surview", "scanogram")

# Reconstruction kernels for lung (score 2) or sharp/bone (score 1); see `kernel_score`.
_LUNG_KERNEL = re.compile(
    r"LUNG|\bBL\d{2}|\b[BI]7\d|\bL\b|\bY[ABC]\b|\bFC5[0-9]\b|\bFC8[0-9]\b|\bLU\b|\bPULM"
)
_SHARP_KERNEL = re.compile(
    r"BONE|SHARP|EDGE|DETAIL|HIGH ?RES|HRCT|\b(?:B|I|BR|HR|QR)[5-9]\d|\bFC[34]\d\b|\bY[D-F]\b"
)


def is_axial(orientation: Iterable[float]) -> bool:
    o = np.asarray(list(orientation), dtype=float)
    normal = np.cross(o[:3], o[3:6])
    return bool(np.argmax(np.abs(normal)) == 2)


def is_localizer(
    image_type: Iterable[str], description: str, orientation: Iterable[float] | None, n: int
) -> bool:
    """ImageType LOCALIZER, or 1–3 non-axial images described as a scout/topogram/localizer."""
    if any(t.upper() == "LOCALIZER" for t in image_type):
        return True
    if n > 3 or not any(w in description.lower() for w in _LOCALIZER_WORDS):
        return False
    return orientation is None or not is_axial(orientation)


def exclusion_reason(sop_class_uid: str, modality: str, samples_per_pixel: int | None) -> str:
    """Why a series is not a CT image series ("" when it is one)."""
    for base, reason in _EXCLUDED_SOP_CLASSES:
        if sop_class_uid == base or sop_class_uid.startswith(base + "."):
            return reason
    if modality.upper() in _NON_IMAGE_MODALITIES:
        return _NON_IMAGE_MODALITIES[modality.upper()]
    if modality.upper() != "CT":
        return f"modality {modality or 'unknown'} is not CT"
    if sop_class_uid not in CT_SOP_CLASSES:
        return f"SOP class {sop_class_uid or 'unknown'} is not a CT image storage class"
    if samples_per_pixel not in (None, 1):
        return "colour image, not a CT slice"
    return ""


def kernel_score(kernel: str, description: str = "") -> int:
    """2 for a lung kernel, 1 for a sharp/bone kernel, 0 otherwise (soft tissue, unknown).

    Lung: "LUNG" in the kernel or series description, Siemens ``Bl57``/``B70f``/``I70f``,
    Philips ``L``/``YA``/``YB``/``YC``, Canon ``FC5x``/``FC8x``. Sharp/bone: BONE, SHARP, EDGE,
    DETAIL, HRCT, Siemens/other letter kernels numbered 50–99 (``B60f``, ``Br64``, ``Hr68``...),
    Canon ``FC3x``/``FC4x``, Philips ``YD``–``YF``.
    """
    k = kernel.upper()
    if _LUNG_KERNEL.search(k) or "LUNG" in description.upper():
        return 2
    if _SHARP_KERNEL.search(k):
        return 1
    return 0


def series_preference_key(s: SeriesRecord) -> tuple:
    """Sort key, smallest = preferred: axial, consistent orientation, more slices, thinner
    slices, lung then sharp kernel, ORIGINAL image, then lowest series number and UID."""
    mixed = any("orientation" in w for w in s.warnings)
    original = bool(s.image_type) and s.image_type[0].upper() == "ORIGINAL"
    return (
        not s.is_axial,
        s.is_localizer,
        mixed,
        -s.n_frames,
        s.slice_thickness if s.slice_thickness else float("inf"),
        -kernel_score(s.kernel, s.description),
        not original,
        s.series_number if s.series_number is not None else 1 << 30,
        s.series_uid,
    )
