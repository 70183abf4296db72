"""The shipped model: manifest, integrity, loading, and a sanity run on the training data."""

from __future__ import annotations

import json

import pytest

from scoat_core.cli.main import main
from scoat_core.models.weights import (
    MANIFEST_NAME,
    find_entry,
    load_default_model,
    read_manifest,
    sha256_file,
    shipped_models_dir,
)


def test_manifest_describes_an_intact_model():
    folder = shipped_models_dir()
    entry = find_entry(read_manifest(folder / MANIFEST_NAME))
    assert sha256_file(folder / entry["file"]) == entry["sha256"]
    assert entry["training"]["command"].startswith("scoat train")
    assert "non-commercial" in entry["training"]["data"]["licence"].lower()
    assert entry["normalization"]["kind"] == "hu_window_to_unit"
    assert entry["pixel_mm"] > 0
    # held-out evidence: its own CV, or (a fine-tuned model) the recipe's CV and why not its own
    assert (entry["cv_metrics"] or {}).get("n_folds", 0) >= 1 or (
        entry["validation"]["why"] and entry["validation"]["recipe_ablation_cv_cpu_small"])
    model = load_default_model()
    assert model.width == entry["config"]["width"]


def test_evaluate_with_the_shipped_model(medseg_dir, tmp_path, capsys):
    """In-sample (these are the training images): guards against a broken model or input
    mapping, not a measure of accuracy (that is the cross-validation in the model card)."""
    out = tmp_path / "m.json"
    assert main(["evaluate", "--images", str(medseg_dir / "images"), "--masks",
                 str(medseg_dir / "masks"), "--json", str(out), "--device", "cpu"]) == 0
    result = json.loads(out.read_text())
    assert result["n_images"] == 50
    assert result["dsc"]["pooled"] > 0.5
    assert "DSC" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_shipped_file_is_refused(tmp_path, damage):
    import shutil

    from scoat_core.models.weights import WeightsError, load_model

    folder = tmp_path / "models"
    shutil.copytree(shipped_models_dir(), folder)
    entry = find_entry(read_manifest(folder / MANIFEST_NAME))
    path = folder / entry["file"]
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        load_model(models_dir=folder)
