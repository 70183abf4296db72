"""Branching pulmonary vessel trees, drawn only inside the lungs."""

from __future__ import annotations

import numpy as np

from .anatomy import Anatomy, seg_dist2
from .render import Grid

GENERATIONS = 7
TRUNK_RADIUS = 4.5
TRUNK_LENGTH = 40.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def vessel_tree(anat: Anatomy, seed: int) -> np.ndarray:
    """Segments ``(ax, ay, az, bx, by, bz, radius, hu)`` of both lungs' vessel trees.

    Each lung gets four trunks from its hilum (up, lateral, down-posterior, down-anterior) that
    branch in two at every generation, radius × 0.78 and length × ~0.77, while the branch ends
    stay inside the same lung. Values go from 40 HU at the hilum to ~30 HU peripherally.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 202]))
    out = []
    for side in (1, 2):
        sign = -1.0 if side == 1 else 1.0
        dirs = _unit(
            np.array([[0.3, 0.1, 1.0], [1.0, 0.2, 0.1], [0.5, 0.7, -1.0], [0.5, -0.8, -0.6]])
        )
        dirs[:, 0] *= sign
        starts = np.repeat(anat.hilum(side)[None], len(dirs), axis=0)
        length = np.full(len(dirs), TRUNK_LENGTH)
        radius = TRUNK_RADIUS
        for gen in range(GENERATIONS):
            ends = starts + dirs * length[:, None]
            ok = anat.lung_labels(ends[:, 0], ends[:, 1], ends[:, 2]) == side
            half = starts + dirs * (0.5 * length[:, None])
            ok_half = anat.lung_labels(half[:, 0], half[:, 1], half[:, 2]) == side
            ends = np.where(ok[:, None], ends, half)
            keep = ok | ok_half
            starts, ends, dirs, length = starts[keep], ends[keep], dirs[keep], length[keep]
            if not len(starts):
                break
            hu = 40.0 - 1.5 * gen
            seg = np.column_stack(
                [starts, ends, np.full(len(starts), radius), np.full(len(starts), hu)]
            )
            out.append(seg)
            n = len(ends)
            starts = np.repeat(ends, 2, axis=0)
            jitter = _unit(rng.standard_normal((2 * n, 3)))
            dirs = _unit(np.repeat(dirs, 2, axis=0) + 0.75 * jitter)
            length = np.repeat(length, 2) * rng.uniform(0.7, 0.85, 2 * n)
            radius *= 0.78
    return np.concatenate(out) if out else np.zeros((0, 8))


def box(grid: Grid, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Index slices ``(z, y, x)`` of the fine grid inside the axis-aligned box, or None."""
    sl = []
    for coords, a, b in ((grid.zf, lo[2], hi[2]), (grid.ys, lo[1], hi[1]), (grid.xs, lo[0], hi[0])):
        i0, i1 = np.searchsorted(coords, [a, b])
        if i1 <= i0:
            return None
        sl.append(slice(int(i0), int(i1)))
    return sl[0], sl[1], sl[2]


def local_coords(grid: Grid, sl: tuple[slice, slice, slice]):
    """Broadcastable ``x, y, z`` of a box."""
    return (
        grid.xs[sl[2]][None, None, :],
        grid.ys[sl[1]][None, :, None],
        grid.zf[sl[0]][:, None, None],
    )


def render_vessels(grid: Grid, segments: np.ndarray, hu: np.ndarray, lung: np.ndarray) -> None:
    """Draw the capsules into ``hu`` where the lung label is set."""
    for ax, ay, az, bx, by, bz, r, value in segments:
        a, b = np.array([ax, ay, az]), np.array([bx, by, bz])
        sl = box(grid, np.minimum(a, b) - r, np.maximum(a, b) + r)
        if sl is None:
            continue
        x, y, z = local_coords(grid, sl)
        m = seg_dist2(x, y, z, a, b) < r * r
        m &= lung[sl] > 0
        np.copyto(hu[sl], np.float32(value), where=m)
