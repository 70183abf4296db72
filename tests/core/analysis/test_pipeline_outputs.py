"""analyze() and its outputs on a phantom with a tiny untrained network (mechanics only)."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import torch

from scoat_core.analysis.output import write_analysis
from scoat_core.analysis.pipeline import AnalysisError, LoadedModel, analyze
from scoat_core.io.dicom import read_dicom
from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.io.images import read_image
from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.phantom import make_phantom
from scoat_core.progress import Cancelled


@pytest.fixture(scope="module")
def tiny_model() -> LoadedModel:
    torch.manual_seed(0)
    net = create_model(ModelConfig(arch="scoat_net", width=2)).eval()
    return LoadedModel(net, pixel_mm=None, input_scale=0.5,
                       info={"name": "tiny", "width": 2, "sha256": "0" * 64})


@pytest.fixture(scope="module")
def phantom_dicom(tmp_path_factory):
    ph = make_phantom(matrix=96, z_extent_mm=200, slice_spacing_mm=5, slice_thickness_mm=5)
    folder = tmp_path_factory.mktemp("ph") / "dicom"
    write_dicom_series(ph.ct, folder)
    return ph, folder


def test_analyze_reports_stages_and_keeps_geometry(tiny_model, phantom_dicom):
    _, folder = phantom_dicom
    volume = read_dicom(folder)
    stages = []
    result = analyze(volume, tiny_model, device="cpu",
                     progress=lambda s, f, eta: stages.append((s, f)))
    assert list(dict.fromkeys(s for s, _ in stages)) == ["lung mask", "opacity", "volumetry",
                                                         "done"]
    opacity_fractions = [f for s, f in stages if s == "opacity"]
    assert opacity_fractions == sorted(opacity_fractions) and opacity_fractions[-1] == 1.0
    assert result.lung.same_geometry(volume) and result.opacity.same_geometry(volume)
    lung = result.lung.array > 0
    assert result.metrics.lung_volume_ml == pytest.approx(volume.volume_ml(lung))
    assert set(result.stage_seconds) == {"lung mask", "opacity", "volumetry"}


def test_outputs_json_csv_nifti_and_seg(tiny_model, phantom_dicom, tmp_path):
    _, folder = phantom_dicom
    volume = read_dicom(folder)
    result = analyze(volume, tiny_model, device="cpu")
    files = sorted(folder.glob("*.dcm"))
    written = write_analysis(result, volume, tmp_path / "out", source_files=files)
    data = json.loads(written["metrics.json"].read_text())
    for key in ("lung_volume_ml", "lov_ml", "po_percent", "pho_percent", "left", "right",
                "zones", "severity_score", "model", "device", "seconds"):
        assert key in data
    assert data["model"]["name"] == "tiny"
    csv_text = written["metrics.csv"].read_text()
    assert csv_text.startswith("quantity,unit,value") and "lov,mL," in csv_text
    lung = read_image(written["lung_mask.nii.gz"])
    assert lung.same_geometry(volume, tol=1e-3)
    assert np.array_equal(lung.array, result.lung.array)
    seg = pydicom.dcmread(written["analysis_seg.dcm"])
    assert seg.Modality == "SEG" and len(seg.SegmentSequence) == 3
    referenced = {r.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence
                  for r in s.ReferencedInstanceSequence}
    assert referenced == {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
                          for f in files}
    import highdicom as hd

    back = hd.seg.segread(written["analysis_seg.dcm"])
    assert back.number_of_segments == 3
    assert not list((tmp_path / "out").glob(".partial*"))


def test_seg_from_headers_with_a_blank_character_set(tiny_model, phantom_dicom, tmp_path):
    """Some scanners write SpecificCharacterSet = '' (the shared 3-slice series does)."""
    _, folder = phantom_dicom
    blank = tmp_path / "blank"
    blank.mkdir()
    for f in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.SpecificCharacterSet = ""
        ds.save_as(blank / f.name)
    volume = read_dicom(blank)
    result = analyze(volume, tiny_model, device="cpu")
    written = write_analysis(result, volume, tmp_path / "out",
                             source_files=sorted(blank.glob("*.dcm")))
    assert pydicom.dcmread(written["analysis_seg.dcm"]).Modality == "SEG"
    warnings = json.loads(written["metrics.json"].read_text())["warnings"]
    assert not any("SEG" in w for w in warnings)


def test_seg_failure_keeps_the_analysis(tiny_model, phantom_dicom, tmp_path, monkeypatch):
    import scoat_core.io.seg as seg_module

    def broken(*args, **kwargs):
        raise ValueError("header the SEG writer cannot use")

    monkeypatch.setattr(seg_module, "write_dicom_seg", broken)
    _, folder = phantom_dicom
    volume = read_dicom(folder)
    result = analyze(volume, tiny_model, device="cpu")
    written = write_analysis(result, volume, tmp_path / "out",
                             source_files=sorted(folder.glob("*.dcm")))
    assert "analysis_seg.dcm" not in written and written["lung_mask.nii.gz"].exists()
    warnings = json.loads(written["metrics.json"].read_text())["warnings"]
    assert any("DICOM SEG not written" in w and "cannot use" in w for w in warnings)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(written)


def test_cancel_stops_and_writes_nothing(tiny_model, phantom_dicom, tmp_path):
    _, folder = phantom_dicom
    volume = read_dicom(folder)
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        analyze(volume, tiny_model, device="cpu", cancel=cancel)
    assert not (tmp_path / "out").exists()


def test_not_hu_is_refused(tiny_model):
    ph = make_phantom(matrix=64, z_extent_mm=60, slice_spacing_mm=5, slice_thickness_mm=5)
    ph.ct.is_hu = False
    with pytest.raises(AnalysisError, match="Hounsfield"):
        analyze(ph.ct, tiny_model, device="cpu")
