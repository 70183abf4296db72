"""Segmentation networks: shapes, gradients, deep supervision, attention maps, weights I/O."""

from __future__ import annotations

import json

import pytest
import torch

from scoat_core.models import (
    ARCHITECTURES,
    ModelConfig,
    WeightsError,
    config_from_model,
    count_macs,
    count_parameters,
    create_model,
    documented_widths,
    load_default_model,
    load_model,
    load_weights,
    read_manifest,
    save_weights,
    write_manifest,
)
from scoat_core.models.scoat_net import ATTENTION_NODES

WIDTH = 4
torch.set_num_threads(2)


def _model(arch: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(arch, width=WIDTH, **kwargs)


def _with_running_stats(model: torch.nn.Module) -> torch.nn.Module:
    """One train-mode pass that sets BN running stats to that batch's stats, then eval()."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None  # cumulative average: one batch gives its statistics exactly
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 1, 32, 32))
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


def _fp16_rounded(model: torch.nn.Module, arch: str) -> torch.nn.Module:
    """A copy of `model` whose float tensors went through float16."""
    state = {
        k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    rounded = _model(arch)
    rounded.load_state_dict(state)
    return rounded.eval()


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
class TestArchitecture:
    @pytest.mark.parametrize("size", [(64, 64), (67, 45)])
    def test_output_shape_matches_input(self, arch, size):
        model = _model(arch).eval()
        with torch.inference_mode():
            out = model(torch.randn(2, 1, *size))
        assert out.shape == (2, 1, *size)
        assert torch.isfinite(out).all()

    def test_odd_size_single_image(self, arch):
        model = _model(arch).eval()
        with torch.inference_mode():
            assert model(torch.randn(1, 1, 67, 45)).shape == (1, 1, 67, 45)

    def test_gradients_reach_first_conv(self, arch):
        model = _model(arch).train()
        out = model(torch.randn(2, 1, 32, 32))
        out.float().mean().backward()
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        assert first.in_channels == 1 and first.weight.grad is not None
        assert first.weight.grad.abs().sum() > 0

    def test_deep_supervision_modes(self, arch):
        x = torch.randn(1, 1, 32, 48)
        model = _with_running_stats(_model(arch, deep_supervision="mean"))
        state = model.state_dict()
        per_head = []
        for mode in (1, 2, 3, 4, "last"):
            other = _model(arch, deep_supervision=mode)
            other.load_state_dict(state)
            with torch.inference_mode():
                per_head.append(other.eval()(x))
        with torch.inference_mode():
            mean = model(x)
        assert torch.equal(per_head[3], per_head[4])  # "last" is head 4
        torch.testing.assert_close(mean, torch.stack(per_head[:4]).mean(0))
        model.train()
        outs = model(x)
        assert isinstance(outs, list) and len(outs) == 4
        assert all(o.shape == (1, 1, 32, 48) for o in outs)
        trained_last = _model(arch, deep_supervision="last").train()
        assert isinstance(trained_last(x), torch.Tensor)

    def test_invalid_deep_supervision(self, arch):
        with pytest.raises(ValueError, match="deep_supervision"):
            _model(arch, deep_supervision=5)

    def test_return_attention(self, arch):
        model = _model(arch).eval()
        with torch.inference_mode():
            out, maps = model(torch.randn(2, 1, 67, 45), return_attention=True)
        assert out.shape == (2, 1, 67, 45)
        if arch != "scoat_net":
            assert maps == {}
            return
        assert set(maps) == {f"x_M^{{{i},{j}}}" for i, j in ATTENTION_NODES}
        assert {"x_M^{1,1}", "x_M^{2,2}", "x_M^{1,3}"} <= set(maps)
        for attention in maps.values():
            assert attention.shape == (2, 1, 67, 45)
            assert attention.min() >= 0 and attention.max() <= 1

    @pytest.mark.parametrize("fp16", [False, True])
    def test_save_load_round_trip(self, arch, fp16, tmp_path):
        model = _with_running_stats(_model(arch))
        config = config_from_model(model)
        entry = save_weights(model, config, tmp_path / "m", fp16=fp16, extra_manifest={"a": 1})
        assert entry["file"] == "m.safetensors" and entry["a"] == 1
        assert entry["n_parameters"] == count_parameters(model)
        assert ModelConfig.from_json(entry["config"]) == config
        loaded = load_weights(
            tmp_path / entry["file"], expected_sha256=entry["sha256"], config=config
        )
        assert not loaded.training
        assert all(p.dtype == torch.float32 for p in loaded.parameters())
        x = torch.randn(1, 1, 48, 40)
        with torch.inference_mode():
            expected, got = model(x), loaded(x)
            if fp16:  # exactly the fp16-rounded model, and close to fp32
                assert torch.equal(got, _fp16_rounded(model, arch)(x))
        if fp16:
            # random-init logits reach O(10), so the 1e-2 tolerance is relative to their scale
            scale = max(1.0, expected.abs().max().item())
            assert (got - expected).abs().max().item() <= 1e-2 * scale
        else:
            assert torch.equal(got, expected)
        # the config is also stored in the file's metadata
        assert config_from_model(load_weights(tmp_path / entry["file"])) == config

    def test_damaged_file_is_refused(self, arch, tmp_path):
        model = _model(arch)
        entry = save_weights(model, config_from_model(model), tmp_path / "m.safetensors")
        path = tmp_path / entry["file"]
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(WeightsError, match="SHA-256 mismatch") as info:
            load_weights(path, expected_sha256=entry["sha256"], config=config_from_model(model))
        assert "m.safetensors" in str(info.value) and "damaged" in str(info.value)

    def test_config_json_round_trip(self, arch):
        config = ModelConfig(arch=arch, width=8, in_channels=2, out_channels=3, deep_supervision=2)
        text = config.to_json()
        assert ModelConfig.from_json(text) == config
        assert json.loads(text)["arch"] == arch
        model = create_model(config)
        assert config_from_model(model) == config
        with torch.inference_mode():
            assert model.eval()(torch.randn(1, 2, 16, 16)).shape == (1, 3, 16, 16)

    def test_documented_widths(self, arch):
        assert documented_widths(arch) == {"paper": 64, "public code": 32, "shipped": 16}


def test_unknown_architecture_lists_valid_names():
    with pytest.raises(KeyError, match=r"scoat_net.*unet.*unetpp"):
        create_model("segformer")
    with pytest.raises(KeyError):
        ModelConfig(arch="nope")


def test_scoat_net_parameter_count_at_paper_width():
    n = count_parameters(create_model("scoat_net", width=64))
    assert abs(n - 39.08e6) / 39.08e6 < 0.05, n


def test_scoat_net_public_code_width_matches_authors():
    model = create_model("scoat_net", width=32)
    assert abs(count_parameters(model) - 10.2e6) < 0.1e6
    assert abs(count_macs(model, (1, 1, 512, 512)) - 154e9) < 2e9


def test_manifest_and_default_model(tmp_path):
    with pytest.raises(WeightsError, match="no shipped model"):
        load_default_model(tmp_path)
    model = _with_running_stats(_model("unet"))
    entry = save_weights(model, config_from_model(model), tmp_path / "unet_w4", fp16=False)
    write_manifest(tmp_path / "manifest.json", {"default": "u", "models": [entry | {"name": "u"}]})
    assert read_manifest(tmp_path / "manifest.json")["models"][0]["sha256"] == entry["sha256"]
    loaded = load_default_model(tmp_path)
    x = torch.randn(1, 1, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert isinstance(load_model("u", tmp_path), type(model))
    with pytest.raises(WeightsError, match="not in the manifest"):
        load_model("missing", tmp_path)
