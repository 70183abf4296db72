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


def test_group_folds_never_split_a_volume_or_a_repeated_slice():
    from scoat_core.training.data import group_of

    assert group_of("Data-1_coronacases_org_001_10") == "Data-1_coronacases_org_001"
    assert group_of("Data-1_radiopaedia_org_covid-19-pneumonia-10_85902_1-dcm_5") == \
        "Data-1_radiopaedia_org_covid-19-pneumonia-10_85902_1-dcm"
    assert group_of("43") == group_of("10") == "10" and group_of("11") == "11"
    groups = [f"v{i % 7}" for i in range(40)] + ["10", "10"]
    folds = kfold_indices(len(groups), 5, seed=2, groups=groups)
    assert sorted(np.concatenate([v for _, v in folds])) == list(range(42))
    for train, val in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert all(len(v) for _, v in folds)
    # distinct groups: the plain seeded split, as before groups existed
    plain = kfold_indices(23, 5, seed=3)
    same = kfold_indices(23, 5, seed=3, groups=[str(i) for i in range(23)])
    assert [list(v) for _, v in plain] == [list(v) for _, v in same]
    with pytest.raises(ValueError, match="groups"):
        kfold_indices(4, 3, seed=0, groups=["a", "a", "b", "b"])


def test_image_folder_groups_by_volume_but_not_a_single_prefix(tmp_path):
    from skimage import io

    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for name in ("volA_1", "volA_2", "volB_1"):
        io.imsave(tmp_path / "images" / f"{name}.jpg", np.zeros((6, 6), np.uint8),
                  check_contrast=False)
        io.imsave(tmp_path / "masks" / f"{name}.png", np.zeros((6, 6), np.uint8),
                  check_contrast=False)
    samples = load_image_folder(tmp_path / "images", tmp_path / "masks")
    assert [s.group for s in samples] == ["volA", "volA", "volB"]
    (tmp_path / "images" / "volB_1.jpg").unlink()
    (tmp_path / "masks" / "volB_1.png").unlink()
    samples = load_image_folder(tmp_path / "images", tmp_path / "masks")
    assert [s.group for s in samples] == ["volA_1", "volA_2"]  # one prefix: grouped by name


def test_display_windows_of_the_pseudo_set_map_to_the_network_window():
    from scoat_core.analysis.normalization import (
        HU_HIGH,
        HU_LOW,
        display8_to_unit,
        display_window_of,
        hu_to_unit,
    )

    assert display_window_of("17") == (HU_LOW, HU_HIGH)
    wide = display_window_of("Data-1_coronacases_org_003_7")
    assert wide == (-1050.0, 1650.0)
    gray = np.array([0, 51, 255], np.uint8)
    hu = wide[0] + gray / 255 * (wide[1] - wide[0])  # -1050, -510, 1650 HU
    assert np.allclose(display8_to_unit(gray, wide), hu_to_unit(hu))
    assert display8_to_unit(gray, wide)[2] == 1.0  # soft tissue and bone clip at the top
    assert np.array_equal(display8_to_unit(gray), gray / np.float32(255))


def test_precision_choice_and_fine_tuning_from_weights(tmp_path):
    from scoat_core.models.registry import ModelConfig, create_model
    from scoat_core.models.weights import save_weights
    from scoat_core.training.loop import _autocast_dtype

    cpu = torch.device("cpu")
    assert _autocast_dtype("fp32", cpu) is None and _autocast_dtype("bf16", cpu) is torch.bfloat16
    start = create_model(ModelConfig(arch="scoat_net", width=4, deep_supervision="mean"))
    weights = tmp_path / "start.safetensors"
    save_weights(start, ModelConfig(arch="scoat_net", width=4, deep_supervision="mean"), weights)
    cfg = TrainConfig(width=4, epochs=1, batch_size=3, size=32, scale=1.0, device="cpu",
                      precision="fp32", init=str(weights), augment=AugmentConfig(probability=0))
    trainer = Trainer(cfg, tmp_path / "run")
    first = next(iter(trainer.model.state_dict().values()))
    assert torch.allclose(first, next(iter(start.state_dict().values())), atol=2e-3)  # fp16 file
    row = trainer.fit(synthetic_samples(), np.arange(6))[0]
    assert row["samples_per_s"] > 0 and row["eta_s"] == 0 and row["precision"] == "fp32"
    with pytest.raises(ValueError, match="cannot start"):
        Trainer(TrainConfig(width=8, device="cpu", init=str(weights)), tmp_path / "other")
