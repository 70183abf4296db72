"""Training data: 2-D samples from image folders or NIfTI volumes, and their preparation.

Every sample is a slice already normalised to the network input range (see
:mod:`scoat_core.analysis.normalization`) with a binary opacity mask. Two sources:

* a folder of 8-bit images (``.jpg``/``.png``) and a folder of masks with the same stems (the
  layout of ``medseg100-train``): 8-bit images are lung-window display data;
* a folder of CT volumes and a folder of mask volumes (NIfTI/MHA/NRRD, in HU, same file names or
  ``<stem>_mask``): every slice with opacity, plus one in four of the other lung slices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoat_core.analysis.normalization import display8_to_unit, display_window_of, hu_to_unit
from scoat_core.io.errors import ScoatIOError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: Known repeats: ``medseg100-train`` images 10 and 43 are the same slice (other crops).
SAME_SLICE = {"43": "10"}
#: ``<volume>_<k>`` names (covid-semiseg-pseudo): slice k of one CT volume.
_VOLUME_SLICE = re.compile(r"^(?P<volume>.+)_(?P<k>\d+)$")


def group_of(name: str) -> str:
    """The fold group of an image name: its volume for ``<volume>_<k>`` names, the slice it
    repeats for known repeats, else the name itself (a folder whose names would all fall in
    one volume is grouped by name instead: :func:`load_image_folder`)."""
    m = _VOLUME_SLICE.match(name)
    if m and not name.isdigit():
        return m.group("volume")
    return SAME_SLICE.get(name, name)


@dataclass
class Sample:
    """One training slice: image in [0, 1] (float32, H×W) and binary mask (uint8, H×W)."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    pixel_mm: float | None = None
    """In-plane pixel size when known (volumes), else None (8-bit exports)."""
    group: str = ""
    """Slices of one group (one patient or volume) always share a cross-validation fold."""


def _read_gray(path: Path) -> np.ndarray:
    from skimage import io

    try:
        arr = io.imread(path)
    except Exception as exc:  # imageio raises many types for bad files
        raise ScoatIOError(path, f"cannot read the image ({exc})") from exc
    if arr.ndim == 3:  # RGB(A) exports of grey images: take the first channel
        arr = arr[..., 0]
    return arr


def load_image_folder(images: Path, masks: Path) -> list[Sample]:
    """Pairs ``images/N.jpg`` with ``masks/N.png`` (any image suffix), sorted by name."""
    images, masks = Path(images), Path(masks)
    mask_files = {p.stem: p for p in masks.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    samples = []
    for path in sorted(images.iterdir(), key=lambda p: _natural_key(p.stem)):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem not in mask_files:
            raise ScoatIOError(path, f"no mask with the same name in {masks}")
        image = _read_gray(path)
        mask = _read_gray(mask_files[path.stem])
        if image.shape != mask.shape:
            raise ScoatIOError(path, f"image {image.shape} and mask {mask.shape} differ in size")
        if image.dtype != np.uint8:
            raise ScoatIOError(path, f"expected an 8-bit image, got {image.dtype}")
        unit = display8_to_unit(image, display_window_of(path.stem))
        samples.append(Sample(path.stem, unit, (mask > 127).astype(np.uint8),
                              group=group_of(path.stem)))
    if not samples:
        raise ScoatIOError(images, "no images found")
    if len(samples) > 1 and len({s.group for s in samples}) == 1:  # "img_1", "img_2"...: names
        for s in samples:
            s.group = SAME_SLICE.get(s.name, s.name)
    return samples


def load_volume_folder(volumes: Path, masks: Path, negatives_every: int = 4) -> list[Sample]:
    """Slices of CT volumes in HU with their mask volumes (same name, or ``<stem>_mask``)."""
    from scoat_core.io.images import is_volume_file, read_image, volume_stem

    volumes, masks = Path(volumes), Path(masks)
    mask_files = {volume_stem(p): p for p in masks.iterdir() if is_volume_file(p)}
    samples = []
    for path in sorted(p for p in volumes.iterdir() if is_volume_file(p)):
        stem = volume_stem(path)
        mask_path = mask_files.get(stem) or mask_files.get(f"{stem}_mask")
        if mask_path is None:
            raise ScoatIOError(path, f"no mask volume for it in {masks}")
        ct, mask = read_image(path), read_image(mask_path)
        if not ct.is_hu:
            raise ScoatIOError(path, "training volumes must be in Hounsfield units")
        if not ct.same_geometry(mask, tol=1e-3):
            raise ScoatIOError(mask_path, "mask geometry differs from its CT volume")
        for z in range(ct.shape[0]):
            m = (mask.array[z] > 0).astype(np.uint8)
            if m.any() or z % negatives_every == 0:
                image = hu_to_unit(ct.array[z])
                samples.append(Sample(f"{stem}:{z}", image, m, pixel_mm=ct.spacing[0],
                                      group=stem))
    if not samples:
        raise ScoatIOError(volumes, "no volumes found")
    return samples


def load_samples(images: Path, masks: Path) -> list[Sample]:
    """Image-folder or volume-folder samples, whichever ``images`` holds."""
    from scoat_core.io.images import is_volume_file

    if any(is_volume_file(p) for p in Path(images).iterdir()):
        return load_volume_folder(images, masks)
    return load_image_folder(images, masks)


def load_class_masks(folder: Path, names: list[str]) -> list[np.ndarray]:
    """The palette masks ``folder/<name>.png`` (class index per pixel: 0 background, 1 ground
    glass, 2 consolidation, as ``masks-multiclass``), one per sample name, in that order."""
    from PIL import Image

    folder = Path(folder)
    files = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    out = []
    for name in names:
        path = files.get(name)
        if path is None:
            raise ScoatIOError(folder, f"no class mask named {name!r} (one per image is needed)")
        try:
            with Image.open(path) as im:
                mode, array = im.mode, np.asarray(im, dtype=np.uint8)
        except OSError as exc:
            raise ScoatIOError(path, f"cannot read the class mask ({exc})") from exc
        if mode not in ("P", "L"):
            raise ScoatIOError(path, f"expected a palette or 8-bit class mask, not {mode}")
        out.append(array)
    return out


def kfold_indices(n: int, k: int, seed: int, groups: list[str] | None = None,
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded k-fold split: a list of (train, validation) index arrays.

    With ``groups`` (one per sample), the groups are shuffled and cut into ``k`` runs of about
    ``n / k`` samples, so a group (a patient, a volume, a repeated slice) is never split across
    folds. Without, or with all groups distinct, it is a plain seeded split of the samples.
    """
    if groups is None or len(set(groups)) == n:
        if not 2 <= k <= n:
            raise ValueError(f"k-fold needs 2 <= k <= {n}, got {k}")
        folds = np.array_split(np.random.default_rng(seed).permutation(n), k)
    else:
        if len(groups) != n:
            raise ValueError(f"{len(groups)} groups for {n} samples")
        names = sorted(set(groups))
        if not 2 <= k <= len(names):
            raise ValueError(f"k-fold needs 2 <= k <= {len(names)} groups, got {k}")
        members = {g: [i for i, x in enumerate(groups) if x == g] for g in names}
        folds_l: list[list[int]] = [[] for _ in range(k)]
        start = 0
        for gi in np.random.default_rng(seed).permutation(len(names)):
            idx = members[names[gi]]
            fold = min(k - 1, int((start + len(idx) / 2) * k // n))
            folds_l[fold] += idx
            start += len(idx)
        if any(not f for f in folds_l):
            raise ValueError(f"cannot make {k} non-empty folds from these groups")
        folds = [np.array(f, int) for f in folds_l]
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(f))
            for i, f in enumerate(folds)]


def _natural_key(text: str) -> tuple:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)
