"""DICOM SEG output (highdicom): the analysis masks over their source CT series.

One binary SEG object with three segments — 1 right lung, 2 left lung, 3 lung opacification —
referencing every source slice, so 3D Slicer, OHIF and other viewers show it over the series.
Frames follow the source files; each file is matched to its mask slice by its position along the
volume's slice axis (so the order of the files on disk does not matter).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from scoat_core import __version__
from scoat_core.volume import Volume

SEGMENTS = (
    (1, "Right lung", Code("91723000", "SCT", "Anatomical Structure"),
     Code("3341006", "SCT", "Right lung")),
    (2, "Left lung", Code("91723000", "SCT", "Anatomical Structure"),
     Code("44029006", "SCT", "Left lung")),
    (3, "Lung opacification", Code("49755003", "SCT", "Morphologically Abnormal Structure"),
     Code("52988006", "SCT", "Lesion")),
)


def _slice_index(volume: Volume, ds: pydicom.Dataset) -> int:
    k = volume.lps_to_index(np.asarray(ds.ImagePositionPatient, float))[2]
    index = round(float(k))
    if abs(k - index) > 0.25 or not 0 <= index < volume.shape[0]:
        raise ValueError(f"{ds.filename}: slice position is not on the volume's grid")
    return index


def _clean_character_set(ds: pydicom.Dataset) -> None:
    """Drop blank Specific Character Set values (some scanners write ``''``), which highdicom
    refuses; with none left the attribute goes and the default repertoire applies."""
    if "SpecificCharacterSet" not in ds:
        return
    value = ds.SpecificCharacterSet
    values = [value] if isinstance(value, str) else list(value or [])
    kept = [v.strip() for v in values if v and v.strip()]
    if not kept:
        del ds.SpecificCharacterSet
    elif kept != values:
        ds.SpecificCharacterSet = kept[0] if len(kept) == 1 else kept


def write_dicom_seg(
    volume: Volume,
    lung_labels: np.ndarray,
    opacity: np.ndarray,
    source_files: Sequence[str | Path],
    path: str | Path,
    *,
    model_name: str = "SCOAT-Net",
) -> Path:
    """Write the SEG for masks on ``volume``'s grid, referencing ``source_files``."""
    import highdicom as hd

    sources = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in source_files]
    for ds in sources:
        _clean_character_set(ds)
    indices = [_slice_index(volume, ds) for ds in sources]
    masks = np.stack([lung_labels == 1, lung_labels == 2, opacity > 0], axis=-1)
    pixel_array = masks[indices].astype(np.uint8)  # (frames, rows, cols, segments)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=f"SCOAT Follow-up ({model_name})", version=__version__,
        family=codes.cid7162.ArtificialIntelligence,
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=label, segmented_property_category=category,
            segmented_property_type=prop,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, label, category, prop in SEGMENTS
    ]
    with warnings.catch_warnings():
        # Source names like "JANCT000" have one component; highdicom warns, the SEG is fine.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=pixel_array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=901,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SCOAT Follow-up",
            manufacturer_model_name="SCOAT Follow-up", software_versions=__version__,
            device_serial_number="0", series_description="SCOAT lungs and opacification",
            omit_empty_frames=True,
        )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    seg.save_as(str(tmp))
    os.replace(tmp, path)
    return path
