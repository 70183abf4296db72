"""What ``write_analysis`` writes says what it is: the opacity mask files re-measure to the LOV of
metrics.json, every key has a definition, one name per number, no score on a partial exam.

Results are made from the phantom's truth (no network), on a DICOM series so the SEG is written.
"""

from __future__ import annotations

import csv
import json

import highdicom as hd
import numpy as np
import pytest
from scipy import ndimage

from scoat_core.analysis.output import write_analysis
from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import quantify
from scoat_core.io.dicom import read_dicom
from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.io.images import read_image
from scoat_core.phantom import make_phantom

OPACITY_SEGMENT = 3  # scoat_core.io.seg: right lung, left lung, opacity


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    ph = make_phantom(matrix=64, z_extent_mm=80, slice_spacing_mm=5, slice_thickness_mm=5,
                      seed=4)
    folder = tmp_path_factory.mktemp("exam") / "dicom"
    write_dicom_series(ph.ct, folder)
    return ph, folder, read_dicom(folder)


def result_of(ph, volume, *, spill: bool = True, complete: bool = True) -> AnalysisResult:
    """A result whose opacity mask reaches ``spill`` beyond the lungs (as the network's opacity
    in the lungs dilated by 3 mm did), with a model block as the pipeline writes it."""
    lungs = ph.lung.array > 0
    lung = volume.derive(ph.lung.array.astype(np.uint8))
    given = ph.lesion.array > 0
    if spill:
        given = given | (ndimage.binary_dilation(lungs, iterations=1) & ~lungs)
    opacity = volume.derive(given.astype(np.uint8))
    metrics = quantify(volume, lung, opacity, complete=complete)
    model = {"name": "truth", "width": 32, "arch": "scoat_net", "sha256": "0" * 64,
             "file": "truth.safetensors", "verified": True, "verification": "test",
             "precision": "fp32", "backend": "torch"}
    return AnalysisResult(lung=lung, opacity=opacity, metrics=metrics, model=model,
                          device="cpu", seconds=2.5,
                          stage_seconds={"lung mask": 1.0, "opacity": 1.4, "volumetry": 0.1},
                          warnings=[], lungs_complete=complete)


def write(exam, tmp_path, **kw) -> tuple[dict, dict]:
    ph, folder, volume = exam
    written = write_analysis(result_of(ph, volume, **kw), volume, tmp_path / "out",
                             source_files=sorted(folder.glob("*.dcm")))
    return written, json.loads(written["metrics.json"].read_text(encoding="utf-8"))


def test_the_written_opacity_mask_measures_the_lov(exam, tmp_path):
    ph, _, volume = exam
    result = result_of(ph, volume)
    outside = np.count_nonzero((result.opacity.array > 0) & (result.lung.array == 0))
    assert outside * volume.voxel_volume_ml > 1.0  # the mask given reaches beyond the lungs
    written, data = write(exam, tmp_path)

    nifti = read_image(written["opacity_mask.nii.gz"])
    nifti_ml = np.count_nonzero(nifti.array) * float(np.prod(nifti.spacing)) / 1000
    assert nifti.spacing == pytest.approx(volume.spacing)
    assert nifti_ml == pytest.approx(data["lov_ml"], abs=0.01)
    assert not np.any((nifti.array > 0) & (result.lung.array == 0))

    seg = hd.seg.segread(written["analysis_seg.dcm"])
    mask = seg.get_volume(segment_numbers=[OPACITY_SEGMENT], combine_segments=False)
    seg_ml = np.count_nonzero(mask.array) * float(np.prod(mask.spacing)) / 1000
    assert sorted(mask.spacing) == pytest.approx(sorted(volume.spacing))
    assert seg_ml == pytest.approx(data["lov_ml"], abs=0.01)
    lov_sides = data["right"]["lov_ml"] + data["left"]["lov_ml"]
    assert lov_sides == pytest.approx(data["lov_ml"], abs=0.01)


def _paths(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted path, value) of every key; zone and stage names read ``*``."""
    out = []
    for key, value in data.items():
        named = prefix in ("zones.", "stage_seconds.")
        path = f"{prefix}{'*' if named else key}"
        out.append((path, value))
        if isinstance(value, dict) and path not in ("units", "definitions"):
            out += _paths(value, f"{path}.")
    return out


def test_every_number_of_metrics_json_has_a_definition(exam, tmp_path):
    _, data = write(exam, tmp_path)
    definitions = data["definitions"]
    paths = _paths(data)
    numeric = [p for p, v in paths if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert {"lov_ml", "right.lov_ml", "zones.*.severity", "stage_seconds.*",
            "exam.slice_thickness_mm", "model.width"} <= set(numeric)
    assert not [p for p in numeric if p not in definitions]
    assert not [k for k in data if k not in definitions]  # and every top-level key
    blocks = ("right.", "left.", "zones.", "model.")
    assert not [p for p, _ in paths if p.startswith(blocks) and p not in definitions]
    assert set(definitions) <= {p for p, _ in paths}  # nothing defined that is not written
    assert all(isinstance(t, str) and len(t) > 10 for t in definitions.values())
    assert "voxel count" in definitions["lov_ml"] and definitions["lov_ml"].endswith("mL")


def test_one_name_per_number(exam, tmp_path):
    written, data = write(exam, tmp_path)
    assert "high_opacity_ml" not in data and "high_opacity_ml" not in data["right"]
    assert data["pho_percent"] == pytest.approx(
        100 * data["consolidation_ml"] / data["lung_volume_ml"])
    with written["metrics.csv"].open(encoding="utf-8") as fh:
        quantities = [row["quantity"] for row in csv.DictReader(fh)]
    assert "consolidation_volume" in quantities and "high_opacity_volume" not in quantities


def test_a_partial_exam_is_written_without_scores(exam, tmp_path):
    ph, folder, volume = exam
    result = result_of(ph, volume)
    result.lungs_complete = False  # a pipeline that did not tell quantify the exam is partial
    assert result.metrics.severity_score is not None
    written = write_analysis(result, volume, tmp_path / "out",
                             source_files=sorted(folder.glob("*.dcm")))
    data = json.loads(written["metrics.json"].read_text(encoding="utf-8"))
    assert data["lungs_complete"] is False and data["severity_score"] is None
    assert all(z["severity"] is None for z in data["zones"].values())
    assert data["lov_ml"] == pytest.approx(result.metrics.lov_ml)
    assert any("partial exam" in r for r in data["refused"])
    with written["metrics.csv"].open(encoding="utf-8") as fh:
        values = {row["quantity"]: row["value"] for row in csv.DictReader(fh)}
    assert values["severity_score"] == "" and values["right_lower_severity"] == ""
    assert float(values["lov"]) == pytest.approx(data["lov_ml"])


def test_a_partial_result_from_quantify_is_written_as_it_is(exam, tmp_path):
    _, data = write(exam, tmp_path, complete=False)
    assert data["severity_score"] is None and data["lungs_complete"] is False
    assert sum("partial exam" in r for r in data["refused"]) == 1
