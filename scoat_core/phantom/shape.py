"""The voxels of one lesion: a union of spheres with an irregular, noise-perturbed margin."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .render import Grid
from .spec import Lesion
from .vessels import box, local_coords

#: Wave numbers (radians per lesion radius) and amplitudes of the margin noise: three coarse
#: lobulations and three finer irregularities. The margin uses the noise clipped to
#: ±``NOISE_BOUND`` (about 1.5 standard deviations).
WAVES = ((4.0, 0.5), (4.0, 0.5), (4.0, 0.5), (10.0, 0.25), (10.0, 0.25), (10.0, 0.25))
NOISE_BOUND = 1.1
#: Salt of the margin noise: one pattern per seed, so a core sharing its site's seed has the
#: same bulges (a scaled copy inside it at the same margin, poking out where more irregular).
MARGIN_SALT = 0


@dataclass
class Voxels:
    """Lesion voxels: ``idx`` (z, y, x indices) inside the box ``sl`` of the grid, and
    ``depth`` — how far inside the margin each one lies (in lesion radii, > 0)."""

    sl: tuple[slice, slice, slice]
    idx: tuple[np.ndarray, np.ndarray, np.ndarray]
    depth: np.ndarray

    def points(self, g: Grid) -> np.ndarray:
        """``(n, 3)`` anatomy-frame positions (mm) of the voxels."""
        iz, iy, ix = self.idx
        sz, sy, sx = self.sl
        return np.column_stack([g.xs[sx][ix], g.ys[sy][iy], g.zf[sz][iz]])

    def bounds(self, g: Grid, pad_mm: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` anatomy-frame corners (mm) of the box around the voxels."""
        sz, sy, sx = self.sl
        axes = (g.xs[sx], g.ys[sy], g.zf[sz])
        idx = self.idx[::-1]
        lo = np.array([a[i.min()] for a, i in zip(axes, idx, strict=True)])
        hi = np.array([a[i.max()] for a, i in zip(axes, idx, strict=True)])
        return np.minimum(lo, hi) - pad_mm, np.maximum(lo, hi) + pad_mm


@lru_cache(maxsize=256)
def waves(seed: int, salt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wave vectors ``(k, 3)``, phases and amplitudes of a seeded smooth noise."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(salt), 909]))
    dirs = rng.standard_normal((len(WAVES), 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    k = dirs * np.array([w for w, _ in WAVES])[:, None]
    phase = rng.uniform(0.0, 2 * np.pi, len(WAVES))
    amp = np.array([a for _, a in WAVES])
    return k.astype(np.float32), phase.astype(np.float32), amp.astype(np.float32)


def smooth_noise(q: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Sum of seeded plane waves at points ``q`` ``(n, 3)``: smooth, zero mean, std ≈ 0.7
    (float32)."""
    k, phase, amp = waves(seed, salt)
    arg = q.astype(np.float32) @ k.T
    arg += phase
    return np.cos(arg, out=arg) @ amp


def lesion_voxels(g: Grid, lesion: Lesion, lung: np.ndarray,
                  decide: np.ndarray | None = None) -> Voxels | None:
    """The voxels of ``lesion`` inside ``lung > 0`` on grid ``g`` (None if there are none).

    A point p is inside when ``min_k |p - c_k| / r_k < 1 + margin * noise(direction)``, the
    noise depending only on the direction of p from the centre, so :meth:`Lesion.scaled`
    scales the shape about its centre. Sampling leaves specks off the tips of the lobulated
    margin: only the largest face-connected component is kept, as found on the planes flagged
    by ``decide`` (all planes when None; voxels of the other planes are all kept), so drawing
    on all fine planes gives, on the output slices' centre planes, what drawing on those planes
    alone gives.
    """
    s = np.asarray(lesion.spheres(), dtype=float)
    grow = 1.0 + lesion.margin * NOISE_BOUND
    sl = box(g, (s[:, :3] - grow * s[:, 3:]).min(0), (s[:, :3] + grow * s[:, 3:]).max(0))
    if sl is None:
        return None
    d2 = _min_distance2(g, sl, s, grow)
    idx = np.nonzero((d2 < grow * grow) & (lung[sl] > 0))
    if not idx[0].size:
        return None
    d = np.sqrt(d2[idx])
    limit = np.float32(1.0)
    if lesion.margin > 0:
        n = np.clip(_direction_noise(g, sl, idx, lesion), -NOISE_BOUND, NOISE_BOUND)
        limit = 1.0 + np.float32(lesion.margin) * n
    keep = d < limit
    if not keep.any():
        return None
    depth = (limit - d)[keep] if np.ndim(limit) else limit - d[keep]
    iz, iy, ix = (i[keep] for i in idx)
    main = _main_component((iz, iy, ix), None if decide is None else decide[sl[0]])
    return Voxels(sl, (iz[main], iy[main], ix[main]), depth[main].astype(np.float32))


def _direction_noise(g: Grid, sl: tuple[slice, slice, slice],
                     idx: tuple[np.ndarray, ...], lesion: Lesion) -> np.ndarray:
    """Margin noise at voxels ``idx`` of box ``sl``: a function of their direction from the
    lesion centre (float32)."""
    c = lesion.center_mm
    axes = (g.zf[sl[0]], g.ys[sl[1]], g.xs[sl[2]])
    q = [(a - o).astype(np.float32)[i] for a, o, i in zip(axes, (c[2], c[1], c[0]), idx,
                                                            strict=True)]
    norm = np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    np.maximum(norm, np.float32(1e-6), out=norm)
    k, phase, amp = waves(lesion.seed, MARGIN_SALT)
    arg = np.empty((norm.size, len(phase)), dtype=np.float32)
    np.multiply.outer(q[2] / norm, k[:, 0], out=arg)
    arg += np.multiply.outer(q[1] / norm, k[:, 1])
    arg += np.multiply.outer(q[0] / norm, k[:, 2])
    arg += phase
    return np.cos(arg, out=arg) @ amp


def _min_distance2(g: Grid, sl: tuple[slice, slice, slice], spheres: np.ndarray,
                   grow: float) -> np.ndarray:
    """``min_k (|p - c_k| / r_k)²`` over the box ``sl`` (float32; each sphere evaluated only in
    its own box, ``grow`` × its radius; larger than ``grow²`` elsewhere)."""
    shape = tuple(t.stop - t.start for t in sl)
    d2 = np.full(shape, np.float32(2.0 * grow * grow), dtype=np.float32)
    for cx, cy, cz, r in spheres:
        c = np.array([cx, cy, cz])
        own = box(g, c - grow * r, c + grow * r)
        if own is None:
            continue
        sz, sy, sx = (slice(max(a.start, b.start), min(a.stop, b.stop))
                      for a, b in zip(own, sl, strict=True))
        sub = (sz, sy, sx)
        if any(t.stop <= t.start for t in sub):
            continue
        x, y, z = (v.astype(np.float32) for v in local_coords(g, sub))
        inv = np.float32(1.0 / (r * r))
        term = ((x - np.float32(cx)) ** 2 * inv + (y - np.float32(cy)) ** 2 * inv)
        term = term + (z - np.float32(cz)) ** 2 * inv
        local = tuple(slice(t.start - o.start, t.stop - o.start)
                      for t, o in zip(sub, sl, strict=True))
        np.minimum(d2[local], term, out=d2[local])
    return d2


def _main_component(idx: tuple[np.ndarray, ...], decide: np.ndarray | None) -> np.ndarray:
    """Voxels of ``idx`` on planes not flagged in ``decide``, and those of the largest
    face-connected component among the flagged planes (taken as consecutive)."""
    if decide is None:
        return _largest_component(idx)
    on = decide[idx[0]]
    keep = ~on
    if on.any():
        rank = np.cumsum(decide) - 1
        keep[on] = _largest_component((rank[idx[0][on]], idx[1][on], idx[2][on]))
    return keep


def _largest_component(idx: tuple[np.ndarray, ...]) -> np.ndarray:
    """Which voxels of ``idx`` belong to their largest face-connected component."""
    lo = [int(i.min()) for i in idx]
    local = tuple(i - o for i, o in zip(idx, lo, strict=True))
    mask = np.zeros([int(i.max()) + 1 for i in local], dtype=bool)
    mask[local] = True
    lab, n = ndimage.label(mask)
    if n <= 1:
        return np.ones(idx[0].size, dtype=bool)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab[local] == int(counts.argmax())
