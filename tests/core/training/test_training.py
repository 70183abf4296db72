"""Losses, schedule, augmentation and a tiny resumable training run (synthetic data, CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scoat_core.analysis.normalization import HU_HIGH, HU_LOW, display8_to_unit, hu_to_unit
from scoat_core.training.augment import AugmentConfig, augment_batch
from scoat_core.training.data import Sample, kfold_indices, load_image_folder
from scoat_core.training.loop import TrainConfig, Trainer, cross_validate, lr_at
from scoat_core.training.losses import LOSSES, get_loss, supervised


def test_normalisation_agrees_between_hu_and_8bit():
    hu = np.array([HU_LOW, -500.0, HU_HIGH, 3000.0, -3000.0])
    as8 = np.round((np.clip(hu, HU_LOW, HU_HIGH) - HU_LOW) / (HU_HIGH - HU_LOW) * 255)
    assert np.allclose(hu_to_unit(hu), display8_to_unit(as8), atol=1 / 255)
    assert hu_to_unit(hu).min() == 0 and hu_to_unit(hu).max() == 1


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_are_low_for_right_and_high_for_wrong(name):
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1
    loss = get_loss(name)
    good = loss(target * 20 - 10, target)
    bad = loss(10 - target * 20, target)
    assert good < bad
    assert good >= 0
    logits = torch.zeros(2, 1, 8, 8, requires_grad=True)
    supervised(loss, [logits, logits * 2], target).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_unknown_loss_lists_names():
    with pytest.raises(KeyError, match="bce_dice"):
        get_loss("nope")


def test_paper_schedule():
    cfg = TrainConfig()
    assert [lr_at(cfg, e) for e in (0, 9, 10, 20, 29, 30, 40, 49)] == pytest.approx(
        [0.01, 0.01, 0.001, 0.0001, 0.0001, 0.001, 0.0001, 0.0001]
    )


def test_kfold_is_a_partition():
    folds = kfold_indices(23, 5, seed=3)
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals) == list(range(23))
    for train, val in folds:
        assert not set(train) & set(val)
    assert [list(v) for _, v in folds] == [list(v) for _, v in kfold_indices(23, 5, seed=3)]


def test_augmentation_keeps_masks_binary_and_aligned():
    img = torch.zeros(4, 1, 32, 32)
    img[:, :, 8:20, 4:12] = 0.7
    mask = (img > 0.5).float()
    gen = torch.Generator().manual_seed(0)
    cfg = AugmentConfig(noise_sigma=0, blur_sigma=0, window_jitter_hu=0, probability=1)
    out_i, out_m = augment_batch(img, mask, cfg, gen)
    assert set(out_m.unique().tolist()) <= {0.0, 1.0}
    inside = out_i[out_m > 0]
    assert inside.numel() > 0 and inside.mean() > 0.5  # the mask still covers the bright block
    jittered, _ = augment_batch(img, mask, AugmentConfig(window_jitter_hu=300, probability=1), gen)
    assert jittered.min() >= 0 and jittered.max() <= 1


def synthetic_samples(n: int = 6) -> list[Sample]:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        image = rng.normal(0.2, 0.02, (40, 48)).astype(np.float32)
        mask = np.zeros((40, 48), np.uint8)
        y, x = rng.integers(5, 25), rng.integers(5, 30)
        mask[y : y + 10, x : x + 12] = 1
        image[mask > 0] += 0.5
        samples.append(Sample(f"s{i}", np.clip(image, 0, 1), mask))
    return samples


def test_tiny_cross_validation_writes_run_and_resumes(tmp_path):
    cfg = TrainConfig(width=4, epochs=2, batch_size=3, size=32, scale=1.0, folds=2,
                      device="cpu", lr=0.01, augment=AugmentConfig(probability=0))
    samples = synthetic_samples()
    summary = cross_validate(samples, cfg, tmp_path, only_folds=[0])
    assert summary["n_folds"] == 1 and summary["n_images"] == 3
    fold = json.loads((tmp_path / "fold0" / "metrics.json").read_text())
    assert [h["epoch"] for h in fold["history"]] == [1, 2]
    # a new trainer on the same folder resumes at the end instead of starting again
    resumed = Trainer(cfg, tmp_path / "fold0")
    assert resumed.epoch == 2
    with pytest.raises(ValueError, match="other settings"):
        Trainer(TrainConfig(width=4, epochs=3, device="cpu"), tmp_path / "fold0")


def test_image_folder_pairs_and_errors(tmp_path):
    from skimage import io

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    io.imsave(tmp_path / "images" / "2.png", np.full((6, 7), 100, np.uint8), check_contrast=False)
    io.imsave(tmp_path / "masks" / "2.png", np.full((6, 7), 255, np.uint8), check_contrast=False)
    samples = load_image_folder(tmp_path / "images", tmp_path / "masks")
    assert samples[0].image.max() == pytest.approx(100 / 255) and samples[0].mask.all()
    io.imsave(tmp_path / "images" / "3.png", np.zeros((6, 7), np.uint8), check_contrast=False)
    with pytest.raises(Exception, match=r"3\.png: no mask"):
        load_image_folder(tmp_path / "images", tmp_path / "masks")


def test_settings_added_later_resume_when_default():
    from scoat_core.training.loop import same_settings

    cfg = TrainConfig(width=4)
    saved = json.loads(json.dumps(cfg.to_json()))
    del saved["repeats"]  # a checkpoint from before the setting existed
    assert same_settings(saved, cfg)
    assert not same_settings(saved, TrainConfig(width=4, repeats=3))
    assert not same_settings(saved, TrainConfig(width=8))
