"""Seeded synthetic chest CT phantom with exactly known lung and lesion masks.

* :func:`make_phantom` — one exam (``Phantom``: ``ct``, ``lung``, ``lesion``, ``body``, ``truth``).
* :func:`make_timeline` — one patient's dated exams on two simulated scanners, with a COVID-like
  course of the lesion volume (early → progressive → peak → absorption).
* :func:`make_anatomy` — the analytic anatomy of a seed (``lung_labels(x, y, z)`` in the anatomy
  frame: LPS mm from the chest centre), to place lesions by hand.
* :func:`write_phantom` / :func:`write_timeline` — DICOM series, NIfTI images and ``truth.json``.
"""

from .anatomy import Anatomy, make_anatomy
from .generate import Phantom, PhantomTruth, make_phantom
from .spec import (
    GE_STANDARD,
    LESION_LABELS,
    LUNG_LABELS,
    SIEMENS_SHARP,
    Lesion,
    PhantomSpec,
    ScannerPreset,
)
from .timeline import course, exam_days, make_timeline
from .write import exam_folder_name, write_phantom, write_timeline

__all__ = [
    "GE_STANDARD",
    "LESION_LABELS",
    "LUNG_LABELS",
    "SIEMENS_SHARP",
    "Anatomy",
    "Lesion",
    "Phantom",
    "PhantomSpec",
    "PhantomTruth",
    "ScannerPreset",
    "course",
    "exam_days",
    "exam_folder_name",
    "make_anatomy",
    "make_phantom",
    "make_timeline",
    "write_phantom",
    "write_timeline",
]
