"""Weights given by path must prove what they are (`load_checked`): shipped names, manifests,
``.sha256`` checksums, finite tensors, and the unverified mark in results and the report."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch

from scoat_core.models.registry import ModelConfig, create_model
from scoat_core.models.weights import (
    MANIFEST_NAME,
    UNVERIFIED_WARNING,
    WeightsError,
    checksum_path,
    find_entry,
    load_checked,
    read_manifest,
    save_weights,
    sha256_file,
    shipped_models_dir,
)


def tiny(path, name: str = "tiny", **kwargs):
    torch.manual_seed(0)
    config = ModelConfig(arch="scoat_net", width=2)
    return save_weights(create_model(config), config, path,
                        metadata={"input_scale": "0.5", "pixel_mm": "4.0", "name": name},
                        **kwargs)


def _flip_bit_in_a_tensor(path, bit: int) -> None:
    """Flip one bit of the first value of the largest tensor (a valid safetensors file)."""
    data = bytearray(path.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    info = max((v for k, v in header.items() if k != "__metadata__"),
               key=lambda v: v["data_offsets"][1] - v["data_offsets"][0])
    at = 8 + n + info["data_offsets"][0]
    data[at + bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    """A copy of the shipped weights file alone (no manifest beside it)."""
    entry = find_entry(read_manifest(shipped_models_dir() / MANIFEST_NAME))
    folder = tmp_path_factory.mktemp("copy")
    shutil.copy2(shipped_models_dir() / entry["file"], folder / entry["file"])
    return folder / entry["file"], entry


def test_shipped_default_loads_verified():
    checked = load_checked()
    default = read_manifest(shipped_models_dir() / MANIFEST_NAME)["default"]
    assert checked.verified and checked.info["name"] == default
    assert checked.pixel_mm == 1.4 and checked.input_scale == 0.5


def test_exact_copy_of_the_shipped_model_is_verified(shipped_copy):
    path, entry = shipped_copy
    checked = load_checked(path)
    assert checked.verified and checked.info["sha256"] == entry["sha256"]
    assert checked.pixel_mm == entry["pixel_mm"]


@pytest.mark.parametrize("bit", [0, 14])  # a mantissa bit; the fp16 exponent's top bit
def test_changed_copy_claiming_the_shipped_name_is_refused(shipped_copy, tmp_path, bit):
    path = tmp_path / shipped_copy[0].name
    shutil.copy2(shipped_copy[0], path)
    _flip_bit_in_a_tensor(path, bit)
    for trust in (False, True):  # not even with the flag: it would be reported as the shipped
        with pytest.raises(WeightsError, match=rf"claims to be {shipped_copy[1]['name']} but its "
                           r"SHA-256 differs from the shipped model's"):
            load_checked(path, trust_unverified=trust)


def test_file_without_manifest_or_checksum_needs_the_flag(tmp_path):
    tiny(tmp_path / "m.safetensors")
    checksum_path(tmp_path / "m.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"m\.safetensors: unverified model weights: .*"
                       r"--trust-unverified-weights"):
        load_checked(tmp_path / "m.safetensors")
    checked = load_checked(tmp_path / "m.safetensors", trust_unverified=True)
    assert not checked.verified and checked.info["verified"] is False
    assert checked.info["verification"].startswith("not verified")


def test_saved_weights_carry_a_checksum_that_verifies_them(tmp_path):
    entry = tiny(tmp_path / "m.safetensors")
    line = checksum_path(tmp_path / "m.safetensors").read_text()
    assert line == f"{entry['sha256']}  m.safetensors\n"
    checked = load_checked(tmp_path / "m.safetensors")
    assert checked.verified and checked.info["name"] == "tiny" and checked.pixel_mm == 4.0


def test_checksum_or_manifest_that_differs_is_refused_even_with_the_flag(tmp_path):
    path = tmp_path / "m.safetensors"
    tiny(path)
    _flip_bit_in_a_tensor(path, 3)
    for trust in (False, True):
        with pytest.raises(WeightsError, match=r"m\.safetensors: its SHA-256 differs from the "
                           r"one in m\.safetensors\.sha256"):
            load_checked(path, trust_unverified=trust)
    checksum_path(path).unlink()
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(
        {"models": [{"name": "tiny", "file": "m.safetensors", "sha256": "0" * 64}]}))
    with pytest.raises(WeightsError, match=r"its SHA-256 differs from the one .*manifest\.json"):
        load_checked(path, trust_unverified=True)


def test_manifest_beside_the_file_verifies_it(tmp_path):
    entry = tiny(tmp_path / "m.safetensors", extra_manifest={"name": "mine", "pixel_mm": 3.0})
    checksum_path(tmp_path / "m.safetensors").unlink()
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"default": "mine", "models": [entry]}))
    checked = load_checked(tmp_path / "m.safetensors")
    assert checked.verified and "manifest.json" in checked.info["verification"]
    assert checked.pixel_mm == 3.0  # the manifest's, as for the shipped model


def test_sha256sum_formats_are_read(tmp_path):
    path = tmp_path / "m.safetensors"
    tiny(path)
    digest = sha256_file(path)
    for text in (f"{digest} *m.safetensors\n", f"{digest.upper()}\n",
                 f"{'1' * 64}  other.bin\n{digest}  ./dir/m.safetensors\n",
                 f"SHA256 (m.safetensors) = {digest}\n"):
        checksum_path(path).write_text(text)
        assert load_checked(path).verified, text
    checksum_path(path).write_text(f"{digest}  other.safetensors\n")
    with pytest.raises(WeightsError, match=r"no SHA-256 for m\.safetensors"):
        load_checked(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_tensor_is_refused(tmp_path, value):
    torch.manual_seed(0)
    config = ModelConfig(arch="scoat_net", width=2)
    model = create_model(config)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = value
    save_weights(model, config, tmp_path / "m.safetensors")
    with pytest.raises(WeightsError, match=r"m\.safetensors: tensor .* holds NaN or infinite"):
        load_checked(tmp_path / "m.safetensors")


def test_freshly_trained_and_shipped_style_manifest_is_accepted(tmp_path):
    """What `scoat train --full --ship-to` writes: the weights and a manifest, no checksum."""
    run, ship = tmp_path / "run", tmp_path / "ship"
    entry = tiny(run / "t.safetensors", extra_manifest={"name": "t"})
    ship.mkdir()
    shutil.copy2(run / "t.safetensors", ship / "t.safetensors")
    (ship / MANIFEST_NAME).write_text(json.dumps({"default": "t", "models": [entry]}))
    assert load_checked(ship / "t.safetensors").verified
    assert load_checked(run / "t.safetensors").verified  # by its .sha256


def test_unverified_results_are_marked(tmp_path):
    from scoat_core.analysis.pipeline import load_model
    from scoat_core.report.content import ReportData

    tiny(tmp_path / "m.safetensors")
    checksum_path(tmp_path / "m.safetensors").unlink()
    with pytest.raises(WeightsError, match="unverified model weights"):
        load_model(tmp_path / "m.safetensors")
    model = load_model(tmp_path / "m.safetensors", trust_unverified=True)
    assert model.info["verified"] is False
    line = ReportData("t", "", "", None, [], {}, model.info, "0", None, False).model_line
    assert line.endswith("UNVERIFIED weights")
    shipped = ReportData("t", "", "", None, [], {}, load_model().info, "0", None, False)
    assert "UNVERIFIED" not in shipped.model_line
    assert UNVERIFIED_WARNING == "unverified model weights"
