"""Slices of a DICOM series that share a position: duplicates and mixed acquisitions.

Copies of a slice with identical pixels (HU) are duplicates: one is kept, with a warning.

Trust rule (issue 14: never a plausible wrong number): **different images at one position** are
two acquisitions mixed in one series. They are split by the first attribute of
:data:`ACQUISITION_ATTRIBUTES` that tells every such pair apart (AcquisitionNumber, ImageType,
kernel...); the largest acquisition is read, with a warning naming the others. Acquisitions of
equal size, or nothing that tells them apart, raise :class:`GeometryError`.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from scoat_core.io.dicom_frames import Frame, Loaded, rel
from scoat_core.io.dicom_geometry import Geometry, geometry
from scoat_core.io.dicom_pixels import decode
from scoat_core.io.errors import GeometryError
from scoat_core.io.scan import functional_group_value

#: At most this many acquisitions are split apart in one series (more: not acquisitions).
MAX_ACQUISITIONS = 8
#: Header attributes that tell mixed acquisitions of one series apart, in the order tried:
#: (name shown, top-level keyword, functional-group sequence, keyword in it) for enhanced files.
ACQUISITION_ATTRIBUTES = (
    ("AcquisitionNumber", "AcquisitionNumber", "FrameContentSequence", "FrameAcquisitionNumber"),
    (
        "TemporalPositionIndex",
        "TemporalPositionIdentifier",
        "FrameContentSequence",
        "TemporalPositionIndex",
    ),
    ("StackID", "", "FrameContentSequence", "StackID"),
    ("ImageType", "ImageType", "CTImageFrameTypeSequence", "FrameType"),
    ("ConvolutionKernel", "ConvolutionKernel", "CTReconstructionSequence", "ConvolutionKernel"),
    ("SliceThickness", "SliceThickness", "PixelMeasuresSequence", "SliceThickness"),
    ("SeriesInstanceUID", "SeriesInstanceUID", "", ""),
    ("AcquisitionTime", "AcquisitionTime", "FrameContentSequence", "FrameAcquisitionDateTime"),
    ("AcquisitionDateTime", "AcquisitionDateTime", "", ""),
    ("ContentTime", "ContentTime", "", ""),
)


def _key(f: Frame) -> tuple[str, int]:
    return (f.file, f.index)


def _pixel_classes(
    clusters: list[list[Frame]], by_path: dict[str, Loaded], decoded: dict[str, np.ndarray]
) -> dict[tuple[str, int], int]:
    """For frames that share a position: a number per distinct image (HU) at that position."""
    classes: dict[tuple[str, int], int] = {}
    for cluster in clusters:
        images: list[np.ndarray] = []
        for f in cluster:
            if f.file not in decoded:
                decoded[f.file] = decode(by_path[f.file])
            hu = decoded[f.file][f.index].astype(np.float64) * f.slope + f.intercept
            same = next((k for k, im in enumerate(images) if np.array_equal(im, hu)), None)
            if same is None:
                images.append(hu)
                same = len(images) - 1
            classes[_key(f)] = same
    return classes


def resolve_duplicates(
    g: Geometry,
    frames: list[Frame],
    loaded: list[Loaded],
    decoded: dict[str, np.ndarray],
    where: str,
    label: str,
    warns: list[str],
) -> tuple[Geometry, list[str]]:
    """Duplicates with identical pixels are dropped; different images at one position are
    mixed acquisitions, split by :func:`_one_acquisition`. Returns the geometry to read and
    its warnings (``warns``, those of ``g``, or those of the acquisition read)."""
    by_path = {item.path: item for item in loaded}
    classes = _pixel_classes(g.duplicates, by_path, decoded)
    if any(len({classes[_key(f)] for f in c}) > 1 for c in g.duplicates):
        kept, note = _one_acquisition(frames, g.duplicates, classes, by_path, where, label)
        warns = [note]
        g = geometry(kept, where, label, warns)
    else:
        warns = list(warns)
    n = sum(len(c) - 1 for c in g.duplicates)
    if n:
        warns.append(
            f"{n} duplicate slice{'s' if n > 1 else ''} removed (same position and pixels)"
        )
    return g, warns


def _attribute(ds: Dataset, f: Frame, keyword: str, sequence: str, in_sequence: str) -> str:
    """One acquisition attribute of a frame as text: its functional group's value (enhanced
    images), else the top-level one; "" when absent."""
    value = functional_group_value(ds, sequence, in_sequence, f.index) if sequence else None
    if (value is None or value == "") and keyword:
        value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def _one_acquisition(
    frames: list[Frame],
    clusters: list[list[Frame]],
    classes: dict[tuple[str, int], int],
    by_path: dict[str, Loaded],
    where: str,
    label: str,
) -> tuple[list[Frame], str]:
    """The frames of the largest acquisition, and a warning, when an attribute of
    :data:`ACQUISITION_ATTRIBUTES` tells apart every pair of different images at one position.

    Raises :class:`GeometryError` when none does, or when the largest acquisitions are equal in
    size (which one is the exam cannot be told).
    """
    conflicted = [c for c in clusters if len({classes[_key(f)] for f in c}) > 1]
    for name, keyword, sequence, in_sequence in ACQUISITION_ATTRIBUTES:
        value = {
            _key(f): _attribute(by_path[f.file].ds, f, keyword, sequence, in_sequence)
            for f in frames
        }
        groups: dict[str, list[Frame]] = {}
        for f in frames:
            groups.setdefault(value[_key(f)], []).append(f)
        if not 2 <= len(groups) <= MAX_ACQUISITIONS:
            continue
        if any(
            len({classes[_key(f)] for f in c if value[_key(f)] == v}) > 1
            for c in conflicted
            for v in {value[_key(f)] for f in c}
        ):
            continue
        ranked = sorted(groups.items(), key=lambda item: -len(item[1]))
        sizes = ", ".join(f"{name} {v or '(none)'}: {len(fs)} images" for v, fs in ranked)
        mixed = f"{label} mixes {len(groups)} acquisitions at the same slice positions ({sizes})"
        if len(ranked[0][1]) == len(ranked[1][1]):
            raise GeometryError(
                where,
                f"{mixed}: the largest are equal in size, so which one to measure cannot be "
                "told; put each acquisition in its own folder to read it",
            )
        kept_value, kept = ranked[0]
        return kept, f"{mixed}; only {name} {kept_value or '(none)'} is read"
    first = conflicted[0]
    other = next(f for f in first[1:] if classes[_key(f)] != classes[_key(first[0])])
    names = ", ".join(a[0] for a in ACQUISITION_ATTRIBUTES[:6])
    if other.file == first[0].file:
        example = f"frames {first[0].index} and {other.index} of {rel(other.file, where)}"
    else:
        example = f"{rel(first[0].file, where)} and {rel(other.file, where)}"
    raise GeometryError(
        where,
        f"{label} has {len(conflicted)} slice position{'s' if len(conflicted) > 1 else ''} "
        f"holding different images (e.g. {example}), and no attribute ({names}...) tells the "
        "acquisitions apart: the series mixes images that cannot be separated, so it is not read",
    )
