"""Branching pulmonary vessel trees, drawn only inside the lungs."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .anatomy import Anatomy, seg_dist2
from .render import Grid
from .spec import LESION_LABELS

GENERATIONS = 7
TRUNK_RADIUS = 4.5
TRUNK_LENGTH = 40.0
MAIN_DIRS = ((0.3, 0.1, 1.0), (1.0, 0.2, 0.1), (0.5, 0.7, -1.0), (0.5, -0.8, -0.6))
#: Basal trunks: offset from the hilum (x away from the midline), directions, length, radius.
BASAL_OFFSET = (8.0, 12.0, -30.0)
BASAL_DIRS = ((0.9, 0.4, -0.7), (0.15, 1.0, -0.5), (0.5, 0.3, -1.0))
BASAL_LENGTH, BASAL_RADIUS = 32.0, 3.2
#: Peripheral vessels: per lung, this many targets 5-10 mm inside the pleura, each reached by
#: a vessel from the nearest tree node that forks there into two short tips.
TWIGS_PER_LUNG = 100
TWIG_RADIUS, TIP_RADIUS, TIP_LENGTH, TWIG_HU = 1.3, 0.9, 10.0, 30.0
CONSOLIDATION_LABEL = LESION_LABELS["consolidation"]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def vessel_tree(anat: Anatomy, seed: int) -> np.ndarray:
    """Segments ``(ax, ay, az, bx, by, bz, radius, hu)`` of both lungs' vessel trees.

    Each lung gets four trunks from its hilum (up, lateral, down-posterior, down-anterior) that
    branch in two at every generation, radius × 0.78 and length × ~0.77, while the branch ends
    stay inside the same lung; three basal trunks from below the hilum (lateral, posterior and
    lower) supply the lower zones, and twigs reach under the pleura. Values go from 40 HU at
    the hilum to ~30 HU peripherally.
    """
    return _tree(anat, int(seed))


@lru_cache(maxsize=8)
def _tree(anat: Anatomy, seed: int) -> np.ndarray:
    """The (read-only, cached) segments of :func:`vessel_tree`."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 202]))
    out = []
    for side in (1, 2):
        out += _grow(anat, side, anat.hilum(side), MAIN_DIRS, TRUNK_LENGTH, TRUNK_RADIUS, rng)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 212]))
    for side in (1, 2):
        dx = BASAL_OFFSET[0] if side == 2 else -BASAL_OFFSET[0]
        start = anat.hilum(side) + np.array([dx, *BASAL_OFFSET[1:]])
        out += _grow(anat, side, start, BASAL_DIRS, BASAL_LENGTH, BASAL_RADIUS, rng)
    tree = np.concatenate(out) if out else np.zeros((0, 8))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 222]))
    tree = np.concatenate([tree, *(_twigs(anat, side, tree, rng) for side in (1, 2))])
    tree.flags.writeable = False
    return tree


def _subpleural_targets(anat: Anatomy, side: int, rng, n: int) -> np.ndarray:
    """Up to ``n`` random points of lung ``side`` 5-10 mm deep (along the axes) under its
    surface."""
    ca, cb = anat.cavity_mid
    p = np.column_stack([rng.uniform(-ca, ca, 4000), rng.uniform(-cb, cb, 4000),
                         rng.uniform(anat.z_base, anat.z_apex, 4000)])
    p = p[anat.lung_labels(p[:, 0], p[:, 1], p[:, 2]) == side]
    steps = np.array([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)], float)

    def inside(depth: float) -> np.ndarray:
        q = p[:, None, :] + depth * steps[None]
        return (anat.lung_labels(q[..., 0], q[..., 1], q[..., 2]) == side).all(axis=1)

    return p[inside(5.0) & ~inside(10.0)][:n]


def _twigs(anat: Anatomy, side: int, tree: np.ndarray, rng) -> np.ndarray:
    """Vessels to subpleural targets of lung ``side``, each from the nearest tree segment end
    in that lung (when the way there stays in it), forking into two tips."""
    ends = tree[:, 3:6]
    nodes = ends[anat.lung_labels(ends[:, 0], ends[:, 1], ends[:, 2]) == side]
    t = _subpleural_targets(anat, side, rng, TWIGS_PER_LUNG)
    if not len(nodes) or not len(t):
        return np.zeros((0, 8))
    p = nodes[np.argmin(np.linalg.norm(t[:, None] - nodes[None], axis=2), axis=1)]
    along = p[:, None] + np.linspace(0.2, 0.8, 4)[None, :, None] * (t - p)[:, None]
    ok = (anat.lung_labels(along[..., 0], along[..., 1], along[..., 2]) == side).all(axis=1)
    ok &= np.linalg.norm(t - p, axis=1) >= 5.0
    p, t = p[ok], t[ok]
    d = _unit(t - p)
    e = _unit(np.cross(d, rng.standard_normal(d.shape)))
    rows = [np.column_stack([p, t, np.full(len(t), TWIG_RADIUS), np.full(len(t), TWIG_HU)])]
    for sign in (1.0, -1.0):
        tip = t + TIP_LENGTH * _unit(d + sign * 0.7 * e)
        rows.append(np.column_stack([t, tip, np.full(len(t), TIP_RADIUS),
                                     np.full(len(t), TWIG_HU)]))
    return np.concatenate(rows)


def _grow(anat: Anatomy, side: int, start: np.ndarray, trunk_dirs: tuple, trunk_length: float,
          radius: float, rng) -> list[np.ndarray]:
    """Segments of the trees of one lung grown from ``start`` along ``trunk_dirs`` (x toward
    the left lung's side, mirrored for the right)."""
    dirs = _unit(np.array(trunk_dirs, dtype=float))
    dirs[:, 0] *= -1.0 if side == 1 else 1.0
    starts = np.repeat(np.asarray(start, dtype=float)[None], len(dirs), axis=0)
    length = np.full(len(dirs), trunk_length)
    out = []
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
        out.append(
            np.column_stack([starts, ends, np.full(len(starts), radius), np.full(len(starts), hu)])
        )
        n = len(ends)
        starts = np.repeat(ends, 2, axis=0)
        jitter = _unit(rng.standard_normal((2 * n, 3)))
        dirs = _unit(np.repeat(dirs, 2, axis=0) + 0.75 * jitter)
        length = np.repeat(length, 2) * rng.uniform(0.7, 0.85, 2 * n)
        radius *= 0.78
    return out


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


def render_vessels(
    grid: Grid,
    segments: np.ndarray,
    hu: np.ndarray,
    lung: np.ndarray,
    lesion: np.ndarray | None = None,
) -> None:
    """Draw the capsules into ``hu`` where the lung label is set; with ``lesion`` (labels on
    the same grid), not inside consolidation (label 2), which hides the vessels it engulfs,
    while ground glass lets them show."""
    a_all, b_all, r_all = segments[:, 0:3], segments[:, 3:6], segments[:, 6:7]
    boxes = _boxes(grid, np.minimum(a_all, b_all) - r_all, np.maximum(a_all, b_all) + r_all)
    for seg, sl in zip(segments, boxes, strict=True):
        if sl is None:
            continue
        a, b, r, value = seg[0:3], seg[3:6], float(seg[6]), float(seg[7])
        x, y, z = local_coords(grid, sl)
        m = seg_dist2(x, y, z, a, b) < r * r
        m &= lung[sl] > 0
        if lesion is not None:
            m &= lesion[sl] != CONSOLIDATION_LABEL
        np.copyto(hu[sl], np.float32(value), where=m)


def _boxes(grid: Grid, lo: np.ndarray, hi: np.ndarray) -> list[tuple[slice, slice, slice] | None]:
    """:func:`box` of many ``(n, 3)`` corners at once."""
    ends = [np.searchsorted(c, np.stack([lo[:, k], hi[:, k]])).T.tolist()
            for c, k in ((grid.zf, 2), (grid.ys, 1), (grid.xs, 0))]
    return [(slice(z0, z1), slice(y0, y1), slice(x0, x1))
            if z1 > z0 and y1 > y0 and x1 > x0 else None
            for (z0, z1), (y0, y1), (x0, x1) in zip(*ends, strict=True)]
