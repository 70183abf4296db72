"""Synthetic consolidation pasted into training slices: inside the lungs, dense, labelled."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scoat_core.analysis.normalization import hu_to_unit, unit_to_hu
from scoat_core.phantom import make_phantom
from scoat_core.training.augment import AugmentConfig, augment_batch
from scoat_core.training.synthetic_lesions import lung_region, paste_batch, paste_consolidation


@pytest.fixture(scope="module")
def chest_slice():
    """A mid-chest phantom slice in network units, its lungs, and an empty mask."""
    ph = make_phantom(matrix=128, z_extent_mm=60.0, slice_thickness_mm=5.0, slice_spacing_mm=5.0,
                      lesions=())
    z = ph.ct.shape[0] // 2
    return hu_to_unit(ph.ct.array[z]), ph.lung.array[z] > 0


def test_lung_region_finds_the_lungs_not_the_outside_air(chest_slice):
    image, lungs = chest_slice
    region = lung_region(unit_to_hu(image))
    assert (region & lungs).sum() / lungs.sum() > 0.95
    assert not region[0].any() and not region[:, 0].any()  # the air around the body


def test_pasted_consolidation_is_dense_inside_the_lungs_and_labelled(chest_slice):
    image, _ = chest_slice
    region = lung_region(unit_to_hu(image))
    mask = np.zeros(image.shape, np.float32)
    pasted = 0
    for seed in range(8):
        out, new_mask = paste_consolidation(image, mask, np.random.default_rng(seed))
        added = new_mask > 0
        if not added.any():
            continue
        pasted += 1
        assert not (added & ~region).any()  # never outside the thoracic cavity of the slice
        changed = np.abs(out - image) > 1e-6
        assert not (changed & ~region).any()
        core = added & (unit_to_hu(out) > -200)
        assert core.sum() > 0.25 * added.sum()  # solid, not ground glass only
    assert pasted >= 6


def test_no_lung_no_paste():
    soft_tissue = hu_to_unit(np.full((64, 64), 40.0, np.float32))
    mask = np.zeros((64, 64), np.float32)
    out, new_mask = paste_consolidation(soft_tissue, mask, np.random.default_rng(0))
    assert out is soft_tissue and new_mask is mask


def test_batch_paste_follows_its_probability_and_seed(chest_slice):
    image, _ = chest_slice
    images = torch.from_numpy(np.stack([image] * 4))[:, None]
    masks = torch.zeros_like(images)
    same_i, same_m = paste_batch(images, masks, 0.0, torch.Generator().manual_seed(0))
    assert same_i is images and same_m is masks
    a = paste_batch(images, masks, 1.0, torch.Generator().manual_seed(3))
    b = paste_batch(images, masks, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert (a[1].flatten(1).sum(1) > 0).sum() >= 3
    assert masks.sum() == 0  # the inputs are not modified


def test_augment_config_pastes_only_when_asked(chest_slice):
    image, _ = chest_slice
    images = torch.from_numpy(np.stack([image] * 2))[:, None]
    masks = torch.zeros_like(images)
    off = AugmentConfig(probability=0, rot90=False, flip=False)
    on = AugmentConfig(probability=0, rot90=False, flip=False, consolidation=1.0)
    _, m_off = augment_batch(images, masks, off, torch.Generator().manual_seed(0))
    _, m_on = augment_batch(images, masks, on, torch.Generator().manual_seed(0))
    assert m_off.sum() == 0 and m_on.sum() > 0
