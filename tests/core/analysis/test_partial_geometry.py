"""analyze() marks an exam partial when the reader says its slices do not support whole-lung
volumetry (issue 14): its trend then reads "not comparable", like a cut scan's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scoat_core.analysis.pipeline import LoadedModel, analyze
from scoat_core.followup.changes import ExamPoint
from scoat_core.io.dicom import read_dicom
from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.phantom import make_phantom
from scoat_core.volume import NOT_VOLUMETRIC

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def tiny_model() -> LoadedModel:
    torch.manual_seed(0)
    net = create_model(ModelConfig(arch="scoat_net", width=2)).eval()
    return LoadedModel(net, pixel_mm=None, input_scale=0.5, info={"name": "tiny"})


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(matrix=64, z_extent_mm=260, slice_spacing_mm=5, slice_thickness_mm=5)


def test_whole_phantom_is_complete(tiny_model, phantom):
    result = analyze(phantom.ct, tiny_model, device="cpu", precision="fp32")
    assert result.lungs_complete and phantom.ct.volumetry_problems == []


def test_a_flagged_volume_is_partial(tiny_model, phantom):
    ct = phantom.ct
    flagged = ct.derive(ct.array, is_hu=True)
    flagged.warnings = [NOT_VOLUMETRIC + "slices are 260 mm apart"]
    result = analyze(flagged, tiny_model, device="cpu", precision="fp32")
    assert not result.lungs_complete
    assert any("not comparable" in w for w in result.warnings)
    assert flagged.warnings[0] in result.warnings
    data = result.to_json()
    assert data["lungs_complete"] is False
    assert ExamPoint.from_metrics(None, data).partial


def test_a_gap_in_the_lungs_makes_the_dicom_exam_partial(tiny_model, phantom, tmp_path):
    paths = write_dicom_series(phantom.ct, tmp_path)
    lung_slices = np.flatnonzero(phantom.lung.array.any(axis=(1, 2)))
    middle = int(lung_slices[len(lung_slices) // 2])
    for p in paths[middle : middle + 3]:  # 15 mm of lung without slices
        p.unlink()
    volume = read_dicom(tmp_path)
    assert volume.volumetry_problems
    result = analyze(volume, tiny_model, device="cpu", precision="fp32")
    assert not result.lungs_complete
    assert any("not comparable" in w for w in result.warnings)
