"""The fast opacity path of analyze(): optimised segmenter, slice skipping, exact cleanup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scoat_core.analysis.normalization import hu_to_unit
from scoat_core.analysis.pipeline import (
    LoadedModel,
    analyze,
    make_segmenter,
    opacity_in_lungs,
    predict_opacity,
)
from scoat_core.analysis.postprocess import dilate_lungs, remove_small_components
from scoat_core.analysis.slices import (
    THRESHOLD,
    SliceSegmenter,
    cpu_has_bf16,
    fold_batchnorm,
    pick_backend,
)
from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.phantom import make_phantom


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    """A small SCOAT-Net with non-trivial batch-norm statistics (as a trained one has)."""
    torch.manual_seed(0)
    model = create_model(ModelConfig(arch="scoat_net", width=4)).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(matrix=64, z_extent_mm=120, slice_spacing_mm=4, slice_thickness_mm=4)


def test_fold_batchnorm_is_exact_and_leaves_the_original(net):
    x = torch.rand(2, 1, 48, 64)
    folded = fold_batchnorm(net)
    with torch.inference_mode():
        ref, out = net(x), folded(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert torch.allclose(ref, out, atol=1e-4)
    assert ref.abs().max() > 1e-3  # the comparison is not between two zero maps


def test_optimised_segmenter_matches_plain(net):
    rng = np.random.default_rng(1)
    images = [rng.random((64, 64), np.float32) for _ in range(3)]
    plain = SliceSegmenter(net, scale=0.5, device="cpu").predict(images, batch_size=1)
    fast = SliceSegmenter(net, scale=0.5, device="cpu", optimize=True)
    assert fast.model is not net and fast.channels_last and fast.precision == "fp32"
    for p, f in zip(plain, fast.predict(images, batch_size=2), strict=True):
        assert f.shape == p.shape == (64, 64)
        assert np.abs(p - f).max() < 1e-4


def test_bf16_where_supported_else_fp32(net):
    seg = SliceSegmenter(net, scale=0.5, device="cpu", optimize=True, precision="bf16")
    assert seg.precision == ("bf16" if cpu_has_bf16() else "fp32")
    img = np.random.default_rng(2).random((64, 64), np.float32)
    ref = SliceSegmenter(net, scale=0.5, device="cpu").predict([img])[0]
    got = seg.predict([img])[0]
    assert got.dtype == np.float32 and np.abs(got - ref).max() < 0.1
    with pytest.raises(ValueError, match="precision"):
        SliceSegmenter(net, device="cpu", precision="int4")


class CountingSegmenter:
    """Stands in for SliceSegmenter: a fixed HU threshold, and the slices it was asked for."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, images, batch_size=8):
        self.calls += len(images)
        return [(img > 0.6).astype(np.float32) for img in images]


def test_skipping_and_box_postprocessing_equal_the_whole_volume(phantom):
    vol, labels = phantom.ct, phantom.lung.array.copy()
    labels[:8] = 0  # lungs end well inside the exam
    lungs = labels > 0
    seg = CountingSegmenter()
    evidence = predict_opacity(vol, labels, seg, lambda f: None, batch_size=3)
    fast = opacity_in_lungs(evidence, labels, vol.spacing)
    full = np.stack([seg.predict([hu_to_unit(s)])[0] > THRESHOLD for s in vol.array])
    assert np.array_equal(evidence, full & dilate_lungs(lungs, vol.spacing).any(axis=(1, 2),
                                                                             keepdims=True))
    naive = remove_small_components(full & lungs, vol.spacing)
    assert naive.any() and np.array_equal(fast, naive)
    grown_slices = int(dilate_lungs(lungs, vol.spacing).any(axis=(1, 2)).sum())
    assert seg.calls - vol.shape[0] == grown_slices < vol.shape[0]


def test_no_lungs_predicts_nothing(phantom):
    seg = CountingSegmenter()
    out = predict_opacity(phantom.ct, np.zeros(phantom.ct.shape, np.uint8), seg,
                          lambda f: None)
    assert seg.calls == 0 and not out.any() and out.shape == phantom.ct.shape


def test_analyze_records_the_precision(net, phantom):
    model = LoadedModel(net, pixel_mm=None, input_scale=0.5, info={"name": "small"})
    result = analyze(phantom.ct, model, device="cpu", precision="fp32")
    assert result.model == {"name": "small", "precision": "fp32",
                            "backend": pick_backend("cpu", "fp32")}
    assert model.info == {"name": "small"}
    seg = make_segmenter(model, 1.0, "cpu", "auto")
    assert seg.precision == ("bf16" if cpu_has_bf16() else "fp32")
