"""Working grid of the lung segmentation: canonical orientation and block downsampling.

The segmentation runs on a *canonical* view of the CT: array axes ``[S, P, L]`` (slice index grows
to the patient's Superior, row to Posterior, column to the patient's Left), whatever the DICOM
direction, so "right lung" is simply "smaller column" there. Axis flips and permutations only:
the nearest LPS axis of each array axis is used (a tilted gantry stays close to its axes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..volume import Volume
from .errors import LungSegmentationError

#: Lowest HU kept before averaging (out-of-field padding such as -3024/-2048 becomes air).
AIR_FLOOR = -1024.0
#: Target working voxel size (z, y, x) in mm: blocks of whole voxels are averaged to about this.
TARGET_MM = (2.5, 1.6, 1.6)


@dataclass(frozen=True)
class Orientation:
    """Axis permutation and flips from a volume's array to the canonical ``[S, P, L]`` array."""

    perm: tuple[int, int, int]
    """Canonical axis ``k`` is array axis ``perm[k]``."""
    flip: tuple[bool, bool, bool]
    """Canonical axis ``k`` is reversed (after the permutation)."""
    spacing: tuple[float, float, float]
    """Canonical ``(z, y, x)`` voxel size in mm."""

    @classmethod
    def of(cls, volume: Volume) -> Orientation:
        """The orientation of ``volume`` (raises for a degenerate direction matrix)."""
        perm, flip, spacing = [0, 0, 0], [False] * 3, [1.0] * 3
        used = set()
        for k_in in range(3):
            i = 2 - k_in  # (x, y, z) index of numpy axis k_in
            j = int(np.argmax(np.abs(volume.direction[:, i])))
            k_out = 2 - j
            perm[k_out], flip[k_out] = k_in, bool(volume.direction[j, i] < 0)
            spacing[k_out] = float(volume.spacing[i])
            used.add(j)
        if len(used) != 3:
            raise LungSegmentationError(
                f"the image axes of {source_of(volume)} do not map onto the patient axes"
            )
        return cls(tuple(perm), tuple(flip), tuple(spacing))  # type: ignore[arg-type]

    def _flips(self) -> tuple[slice, ...]:
        return tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)

    def forward(self, array: np.ndarray) -> np.ndarray:
        """Canonical view of a volume-ordered array (no copy)."""
        return np.transpose(array, self.perm)[self._flips()]

    def backward(self, array: np.ndarray) -> np.ndarray:
        """Volume-ordered view of a canonical array (no copy)."""
        return np.transpose(array[self._flips()], np.argsort(self.perm))


def source_of(volume: Volume) -> str:
    """How to name the volume in a message."""
    return volume.info.source or "the volume"


def factors_for(spacing: tuple[float, float, float]) -> tuple[int, int, int]:
    """Whole-voxel block size per canonical axis giving about :data:`TARGET_MM`."""
    return tuple(max(1, int(t / s + 0.5)) for t, s in zip(TARGET_MM, spacing, strict=True))  # type: ignore[return-value]


def block_mean(array: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    """Mean HU over ``f``-voxel blocks (partial blocks at the far edges), float32, air-floored."""
    small_shape = tuple(-(-n // k) for n, k in zip(array.shape, f, strict=True))
    out = np.zeros(small_shape, dtype=np.float32)
    if np.issubdtype(array.dtype, np.unsignedinteger):
        floor: object = 0
    elif np.issubdtype(array.dtype, np.integer):
        floor = int(AIR_FLOOR)
    else:
        floor = np.float32(AIR_FLOOR)
    for oz in range(f[0]):
        for oy in range(f[1]):
            for ox in range(f[2]):
                v = array[oz :: f[0], oy :: f[1], ox :: f[2]]
                if v.size:
                    out[: v.shape[0], : v.shape[1], : v.shape[2]] += np.maximum(v, floor)
    per_axis = [_block_counts(n, k) for n, k in zip(array.shape, f, strict=True)]
    out /= per_axis[0][:, None, None] * per_axis[1][None, :, None] * per_axis[2][None, None, :]
    return out


def _block_counts(n: int, k: int) -> np.ndarray:
    """Number of full-grid voxels in each block along one axis."""
    counts = np.full(-(-n // k), k, dtype=np.float32)
    if n % k:
        counts[-1] = n % k
    return counts


def upsample(small: np.ndarray, f: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour expansion of a block grid back to the full ``shape``."""
    idx = [np.arange(n) // k for n, k in zip(shape, f, strict=True)]
    return small[np.ix_(*idx)]
