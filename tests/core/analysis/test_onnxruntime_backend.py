"""The ONNX Runtime backend of SliceSegmenter agrees with the torch float32 path; "auto" rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scoat_core.analysis import slices
from scoat_core.analysis.normalization import hu_to_unit
from scoat_core.analysis.pipeline import LoadedModel, make_segmenter, predict_opacity
from scoat_core.analysis.slices import THRESHOLD, SliceSegmenter, pick_backend
from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.phantom import make_phantom
from scoat_core.training.metrics import mask_dice


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    """A tiny untrained SCOAT-Net with non-trivial batch-norm statistics."""
    torch.manual_seed(0)
    model = create_model(ModelConfig(arch="scoat_net", width=4)).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model


def test_onnxruntime_agrees_with_torch_fp32_on_a_phantom(net):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (optional backend)")
    ph = make_phantom(matrix=64, z_extent_mm=60, slice_spacing_mm=4, slice_thickness_mm=4)
    images = [hu_to_unit(s) for s in ph.ct.array]
    ref = SliceSegmenter(net, scale=0.75, device="cpu").predict(images, batch_size=4)
    seg = SliceSegmenter(net, scale=0.75, device="cpu", optimize=True, backend="onnxruntime")
    assert seg.backend == "onnxruntime" and seg.precision == "fp32" and not seg.channels_last
    got = seg.predict(images, batch_size=3)  # batch sizes 3 and a last one of 3 or less
    assert list(seg._sessions) == [(48, 48)]  # one export for the one input size
    ref, got = np.stack(ref), np.stack(got)
    assert got.dtype == np.float32 and got.shape == ref.shape == ph.ct.shape
    assert np.abs(got - ref).max() < 1e-4
    assert 0 < (ref > THRESHOLD).mean() < 1  # the masks are not trivially equal
    assert mask_dice(got > THRESHOLD, ref > THRESHOLD) >= 0.999
    model = LoadedModel(net, pixel_mm=None, input_scale=0.75, info={})
    lungs = ph.lung.array
    fast = make_segmenter(model, 1.0, "cpu", "fp32", "onnxruntime")
    plain = make_segmenter(model, 1.0, "cpu", "fp32", "torch")
    a = predict_opacity(ph.ct, lungs, fast, lambda f: None)
    b = predict_opacity(ph.ct, lungs, plain, lambda f: None)
    assert mask_dice(a, b) >= 0.999


def test_auto_backend_rule(net, monkeypatch):
    monkeypatch.setattr(slices, "onnxruntime_available", lambda: True)
    assert pick_backend("cpu", "fp32") == "onnxruntime"
    assert pick_backend("cpu", "bf16") == "torch"
    assert pick_backend("cuda", "fp32") == "torch"
    monkeypatch.setattr(slices, "onnxruntime_available", lambda: False)
    assert pick_backend("cpu", "fp32") == "torch"
    seg = SliceSegmenter(net, device="cpu", optimize=True, backend="auto")
    assert seg.backend == "torch" and seg.channels_last  # the fallback: torch's fast path
    with pytest.raises(ValueError, match="backend"):
        SliceSegmenter(net, device="cpu", backend="openvino")


def test_onnxruntime_refuses_bf16(net, monkeypatch):
    monkeypatch.setattr(slices, "cpu_has_bf16", lambda: True)
    with pytest.raises(ValueError, match="float32"):
        SliceSegmenter(net, device="cpu", precision="bf16", backend="onnxruntime")
    assert SliceSegmenter(net, device="cpu", precision="bf16", backend="auto").backend == "torch"


def test_a_failed_export_falls_back_to_torch(net, monkeypatch, caplog):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (optional backend)")

    def broken_export(model, size):
        raise RuntimeError("Module onnx is not installed!")

    monkeypatch.setattr(slices, "export_onnx", broken_export)
    images = [np.full((32, 32), 0.3, np.float32), np.zeros((32, 32), np.float32)]
    ref = SliceSegmenter(net, device="cpu").predict(images)
    seg = SliceSegmenter(net, device="cpu", optimize=True, backend="onnxruntime")
    got = seg.predict(images)
    assert seg.backend == "torch"  # what the result set records
    assert np.abs(np.stack(got) - np.stack(ref)).max() < 1e-4
    assert "using torch float32 instead" in caplog.text
