"""COVID-like lesions: random placement, drawing clipped to the lungs, fitting a target volume."""

from __future__ import annotations

import numpy as np

from .anatomy import Anatomy
from .render import Grid
from .spec import Lesion
from .vessels import box, local_coords

#: Default HU ranges of drawn lesion values (inside the -700..-300 / -100..+50 clinical ranges).
GGO_HU = (-650.0, -380.0)
CONSOLIDATION_HU = (-70.0, 30.0)
MAX_SCALE = 8.0


def _candidate_points(anat: Anatomy, rng, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """Random points inside the lungs and a COVID-like weight (subpleural, posterior, lower)."""
    ca, cb = anat.cavity_mid
    p = np.column_stack(
        [
            rng.uniform(-ca, ca, n),
            rng.uniform(-cb, cb, n),
            rng.uniform(anat.z_base, anat.z_apex, n),
        ]
    )
    lab = anat.lung_labels(p[:, 0], p[:, 1], p[:, 2])
    p, lab = p[lab > 0], lab[lab > 0]
    near = np.zeros(len(p), dtype=bool)
    for step in ((12, 0, 0), (-12, 0, 0), (0, 12, 0), (0, -12, 0), (0, 0, -12)):
        q = p + np.array(step, float)
        near |= anat.lung_labels(q[:, 0], q[:, 1], q[:, 2]) != lab
    weight = np.where(near, 6.0, 1.0)
    weight *= np.where(p[:, 1] > 0.0, 2.5, 1.0)
    weight *= np.where(anat.u(p[:, 2]) < 0.5, 2.0, 1.0)
    return p, weight / weight.sum()


def _blobs(rng, n: int) -> tuple[tuple[float, float, float, float], ...]:
    """One unit sphere plus ``n - 1`` smaller offset spheres: a blobby shape."""
    out = [(0.0, 0.0, 0.0, 1.0)]
    for _ in range(n - 1):
        d = rng.standard_normal(3)
        d *= rng.uniform(0.35, 0.8) / np.linalg.norm(d)
        out.append((float(d[0]), float(d[1]), float(d[2]), float(rng.uniform(0.5, 0.85))))
    return tuple(out)


def random_sites(anat: Anatomy, seed: int, n: int) -> list[Lesion]:
    """``n`` ground-glass lesions at COVID-like places (mostly subpleural, posterior, basal)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 303]))
    if n <= 0:
        return []
    points, weight = _candidate_points(anat, rng)
    idx = rng.choice(len(points), size=n, replace=len(points) < n, p=weight)
    return [
        Lesion(
            kind="ggo",
            center_mm=tuple(float(v) for v in points[i]),  # type: ignore[arg-type]
            radius_mm=float(rng.uniform(14.0, 26.0)),
            hu=float(np.round(rng.uniform(*GGO_HU))),
            blobs=_blobs(rng, int(rng.integers(3, 6))),
        )
        for i in idx
    ]


def with_cores(sites: list[Lesion], fractions: list[float], seed: int) -> list[Lesion]:
    """Add a consolidation core (≈ ``fraction`` of the site volume) to each site; 0 = none."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 404]))
    cores = []
    for site, frac in zip(sites, fractions, strict=True):
        hu = float(np.round(rng.uniform(*CONSOLIDATION_HU)))
        if frac > 0:
            cores.append(
                Lesion(
                    "consolidation",
                    site.center_mm,
                    site.radius_mm * frac ** (1 / 3),
                    hu,
                    site.blobs,
                )
            )
    return list(sites) + cores


def random_lesions(anat: Anatomy, seed: int, n: int) -> tuple[Lesion, ...]:
    """Default lesions of a phantom: ``n`` GGO sites, about half with a consolidation core."""
    sites = random_sites(anat, seed, n)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 505]))
    fractions = [float(rng.uniform(0.15, 0.4)) if rng.random() < 0.5 else 0.0 for _ in sites]
    return tuple(with_cores(sites, fractions, seed))


def render_lesions(
    grid: Grid,
    lesions: tuple[Lesion, ...],
    lung: np.ndarray,
    label: np.ndarray,
    hu: np.ndarray | None = None,
    plane_index: np.ndarray | None = None,
) -> None:
    """Draw lesions (GGO first, consolidation over it) clipped to ``lung > 0``.

    ``plane_index`` maps the planes of ``lung``/``label`` to fine planes of ``grid`` (used to
    draw on the output-slice centre planes only); None means all fine planes.
    """
    zf = grid.zf if plane_index is None else grid.zf[plane_index]
    g = Grid(grid.xs, grid.ys, zf, grid.groups, grid.centre, grid.origin, grid.shift)
    for lesion in sorted(lesions, key=lambda les: les.label):
        for cx, cy, cz, r in lesion.spheres():
            c = np.array([cx, cy, cz])
            sl = box(g, c - r, c + r)
            if sl is None:
                continue
            x, y, z = local_coords(g, sl)
            m = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < r * r
            m &= lung[sl] > 0
            label[sl][m] = lesion.label
            if hu is not None:
                hu[sl][m] = lesion.hu


def fit_scale(
    grid: Grid,
    lesions: tuple[Lesion, ...],
    lung_centre: np.ndarray,
    voxel_ml: float,
    target_ml: float,
) -> float:
    """Scale factor on all lesion radii whose exact output-grid volume is closest to target."""
    if target_ml <= 0 or not lesions:
        return 0.0

    def volume(f: float) -> float:
        lab = np.zeros_like(lung_centre)
        render_lesions(
            grid, tuple(les.scaled(f) for les in lesions), lung_centre, lab, None, grid.centre
        )
        return float(np.count_nonzero(lab)) * voxel_ml

    best_f, best_err, f = 1.0, np.inf, 1.0
    for _ in range(12):
        v = volume(f)
        err = abs(v - target_ml)
        if err < best_err:
            best_f, best_err = f, err
        if err <= 0.005 * target_ml:
            break
        step = 2.0 if v <= 0 else float(np.clip((target_ml / v) ** (1 / 3), 0.5, 2.0))
        f = min(f * step, MAX_SCALE)
    return best_f
