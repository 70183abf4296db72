"""Inner structure of lesions: crazy-paving septa and air-filled bronchi (air bronchograms).

Both are fixed in the anatomy frame (they do not move when a lesion grows): a lesion only
reveals the septa and bronchi of the lung it covers.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from .anatomy import seg_dist2
from .render import Grid
from .spec import Lesion
from .vessels import box, local_coords

#: Mean size (mm) of the polygonal cells of thickened interlobular septa (secondary lobules).
SEPTA_CELL_MM = 15.0
#: Half thickness (mm) of a drawn septum; at least half an in-plane voxel so lines stay joined.
SEPTA_HALF_MM = 0.6
#: HU of the air in a bronchus lumen.
LUMEN_HU = -960.0
#: Bronchi of a lesion, coming from its hilum: one trunk on the line from the hilum through
#: the centre and two turned by ``TRUNK_TURN_DEG``, each from ``TRUNK_FROM_MM`` before the
#: centre to its fork (``FORKS_MM`` before the centre), then per generation of two branches
#: ``(length mm, lumen radius mm)``, each turned by ``SPREAD_DEG`` from its parent.
TRUNK_FROM_MM, TRUNK_RADIUS_MM, TRUNK_TURN_DEG = 70.0, 2.8, 28.0
FORKS_MM = (30.0, 15.0, 40.0)
GENERATIONS = ((24.0, 2.3), (18.0, 1.9), (13.0, 1.5), (10.0, 1.2))
SPREAD_DEG = (22.0, 40.0)
#: A lumen is at most this fraction of the lesion radius (small lesions, thin bronchi).
MAX_LUMEN_FRACTION = 0.1


def _hash01(ijk: np.ndarray, seed: int, salt: float) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) of integer lattice nodes ``(n, 3)``."""
    v = ijk @ np.array([12.9898, 78.233, 37.719]) + 0.618 * seed + salt
    h = np.sin(v) * 43758.5453
    return h - np.floor(h)


def septa(points: np.ndarray, seed: int, half_mm: float = SEPTA_HALF_MM) -> np.ndarray:
    """Which ``points`` ``(n, 3)`` (mm) lie on a septum: within ``half_mm`` of a face of the
    Voronoi cells of a jittered lattice (cells ≈ 10–20 mm; a slice shows polygons)."""
    if not len(points):
        return np.zeros(0, dtype=bool)
    lo = np.floor(points.min(0) / SEPTA_CELL_MM) - 1
    hi = np.floor(points.max(0) / SEPTA_CELL_MM) + 2
    axes = [np.arange(a, b) for a, b in zip(lo, hi, strict=True)]
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    jitter = np.column_stack([_hash01(ijk, seed, s) for s in (0.0, 1.7, 3.1)]) - 0.5
    seeds = (ijk + 0.5 + 0.7 * jitter) * SEPTA_CELL_MM
    dist, near = cKDTree(seeds).query(points, k=2)
    gap = np.linalg.norm(seeds[near[:, 1]] - seeds[near[:, 0]], axis=1)
    face = (dist[:, 1] ** 2 - dist[:, 0] ** 2) / (2.0 * gap)
    return face < half_mm


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _turn(d: np.ndarray, theta: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """``d`` turned by ``theta`` (radians) toward a random perpendicular, and the mirror turn."""
    r = rng.standard_normal(3)
    e = _unit(np.array([d[1] * r[2] - d[2] * r[1], d[2] * r[0] - d[0] * r[2],
                        d[0] * r[1] - d[1] * r[0]]))
    return np.cos(theta) * d + np.sin(theta) * e, np.cos(theta) * d - np.sin(theta) * e


def bronchial_tree(lesion: Lesion, hilum: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Segments ``(start, end, lumen radius)`` of the bronchi through a lesion: three trunks
    coming from the hilum, then four generations of bifurcations fanning out to the periphery."""
    key = tuple(float(v) for v in hilum)
    return _tree(int(lesion.seed), lesion.center_mm, key)  # type: ignore[arg-type]


@lru_cache(maxsize=256)
def _tree(seed: int, centre: tuple[float, float, float], hilum: tuple[float, float, float],
          ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The (cached) segments of :func:`bronchial_tree`."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1313]))
    c = np.asarray(centre, dtype=float)
    u = c - np.asarray(hilum, dtype=float)
    u = _unit(u if np.linalg.norm(u) > 1.0 else np.array([np.sign(c[0]) or 1.0, 0.3, -0.2]))
    out, tips = [], []
    for d, fork_mm in zip((u, *_turn(u, np.deg2rad(TRUNK_TURN_DEG), rng)), FORKS_MM, strict=True):
        fork = c - fork_mm * d
        out.append((c - TRUNK_FROM_MM * d, fork, TRUNK_RADIUS_MM))
        tips.append((fork, d))
    for length, radius in GENERATIONS:
        nxt = []
        for start, d in tips:
            for nd in _turn(d, np.deg2rad(rng.uniform(*SPREAD_DEG)), rng):
                end = start + length * nd
                out.append((start, end, radius))
                nxt.append((end, nd))
        tips = nxt
    return out


def draw_bronchi(g: Grid, lesion: Lesion, hilum: np.ndarray, label: np.ndarray,
                 hu: np.ndarray, within: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Air in the lumen of the lesion's bronchi, where the label is the lesion's kind (only
    inside the box ``within`` (lo, hi mm) when given: the lesion's extent)."""
    cap = MAX_LUMEN_FRACTION * lesion.radius_mm
    for a, b, lumen in bronchial_tree(lesion, hilum):
        r = min(lumen, cap)
        lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r
        if within is not None:
            lo, hi = np.maximum(lo, within[0]), np.minimum(hi, within[1])
        sl = box(g, lo, hi) if np.all(lo < hi) else None
        if sl is None:
            continue
        inside = label[sl] == lesion.label
        if not inside.any():
            continue
        x, y, z = local_coords(g, sl)
        m = inside & (seg_dist2(x, y, z, a, b) < r * r)
        np.copyto(hu[sl], np.float32(LUMEN_HU), where=m)
