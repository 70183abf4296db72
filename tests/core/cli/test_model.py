"""`scoat evaluate`, `scoat train` and `scoat model-info` end to end on tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage import io

from scoat_core.cli.main import main


@pytest.fixture
def tiny_dataset(tmp_path):
    rng = np.random.default_rng(1)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i in range(4):
        img = rng.normal(60, 5, (40, 44)).clip(0, 255)
        mask = np.zeros((40, 44), np.uint8)
        mask[8 + i : 20 + i, 10:24] = 255
        img[mask > 0] = 170
        io.imsave(images / f"{i}.jpg", img.astype(np.uint8), check_contrast=False)
        io.imsave(masks / f"{i}.png", mask, check_contrast=False)
        classes = (mask > 0).astype(np.uint8)
        classes[8 + i : 12 + i] *= 2  # the top rows are "consolidation", the rest ground glass
        palette = Image.fromarray(classes, mode="P")
        palette.putpalette([0, 0, 0, 0, 255, 0, 255, 0, 0])
        (tmp_path / "classes").mkdir(exist_ok=True)
        palette.save(tmp_path / "classes" / f"{i}.png")
    return images, masks


def test_train_full_then_evaluate_json(tiny_dataset, tmp_path, capsys):
    images, masks = tiny_dataset
    run, ship = tmp_path / "run", tmp_path / "models"
    args = ["train", "--images", str(images), "--masks", str(masks), "--out", str(run),
            "--width", "4", "--epochs", "2", "--size", "48", "--scale", "1", "--batch-size", "2",
            "--device", "cpu"]
    assert main([*args, "--folds", "2", "--fold", "0"]) == 0
    assert (run / "cv_metrics.json").exists()
    assert main([*args, "--folds", "2", "--full", "--ship-to", str(ship), "--name", "tiny"]) == 0
    manifest = json.loads((ship / "manifest.json").read_text())
    entry = manifest["models"][0]
    assert manifest["default"] == "tiny" and len(entry["sha256"]) == 64
    assert entry["training"]["command"].startswith("scoat train")
    assert entry["cv_metrics"]["n_folds"] == 1
    capsys.readouterr()

    out_json, preds = tmp_path / "m.json", tmp_path / "preds"
    weights = ship / entry["file"]
    assert main(["evaluate", "--images", str(images), "--masks", str(masks), "--weights",
                 str(weights), "--json", str(out_json), "--save-predictions", str(preds),
                 "--classes", str(tmp_path / "classes"), "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    assert "DSC" in table and "RLR" in table
    assert "meanDic" in table and "best-threshold Dice" in table
    assert "sensitivity, ground glass" in table and "sensitivity, consolidation" in table
    result = json.loads(out_json.read_text())
    assert result["n_images"] == 4
    for key in ("dsc", "sen", "ppv", "va", "rlp", "rlr", "spec"):
        assert set(result[key]) >= {"mean", "pooled"}
    bench = result["inf_net"]
    assert 0 <= bench["mean_dice"] <= bench["max_dice"] <= 1
    assert result["class_sensitivity"]["consolidation"]["n_images"] == 4
    assert len(list(preds.glob("*.png"))) == 4


def test_evaluate_refuses_damaged_weights(tiny_dataset, tmp_path, capsys):
    images, masks = tiny_dataset
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    code = main(["evaluate", "--images", str(images), "--masks", str(masks), "--weights",
                 str(bad)])
    assert code == 1
    assert "bad.safetensors" in capsys.readouterr().err


def test_model_info_json(capsys):
    assert main(["model-info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    paper = info["architectures"]["scoat_net"]["paper"]
    assert paper["width"] == 64 and abs(paper["n_parameters"] / 39.08e6 - 1) < 0.05
    assert set(info["architectures"]) == {"scoat_net", "unet", "unetpp"}


def test_train_records_synthetic_consolidation_and_checks_its_range(tiny_dataset, tmp_path,
                                                                     capsys):
    images, masks = tiny_dataset
    run = tmp_path / "run"
    args = ["train", "--images", str(images), "--masks", str(masks), "--out", str(run),
            "--width", "4", "--epochs", "1", "--size", "48", "--scale", "1", "--batch-size", "2",
            "--device", "cpu", "--folds", "2", "--fold", "0"]
    assert main([*args, "--synthetic-consolidation", "1.5"]) != 0
    assert "--synthetic-consolidation" in capsys.readouterr().err
    assert main([*args, "--synthetic-consolidation", "0.5"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["augment"]["consolidation"] == 0.5
