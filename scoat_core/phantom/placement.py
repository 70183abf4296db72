"""Where and what the random COVID-like lesions are: sites, satellites, consolidation cores.

COVID-19 pneumonia on CT is multifocal and bilateral, predominantly peripheral (subpleural),
posterior and in the lower zones: ground glass, often with consolidation inside or next to it,
crazy paving in some lesions, a few consolidations without a ground-glass rim.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .anatomy import Anatomy
from .spec import Blob, Lesion

#: Default HU ranges of the lesions' base values (inside the -750..-300 / -100..+50 ranges).
GGO_HU = (-650.0, -420.0)
CONSOLIDATION_HU = (-60.0, 30.0)
#: Extra density of thickened septa (crazy paving) over the ground glass.
SEPTA_HU = (220.0, 320.0)
#: Chances that a site is subpleural, posterior, in the lower zone (``u`` < ``LOWER_ZONE``).
PREDOMINANCE = (0.85, 0.85, 0.85)
SUBPLEURAL_MM, LOWER_ZONE = 12.0, 0.45
#: A subpleural site's centre moves this many radii toward the pleura (it hugs it).
PLEURAL_SHIFT = 0.3
#: Cores are more irregular than their site: this much more margin noise.
CORE_EXTRA_MARGIN = 0.2


def _seed_of(rng) -> int:
    return int(rng.integers(1, 2**31 - 1))


def _candidate_points(anat: Anatomy, rng, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """Random points inside the lungs and their traits ``(n, 3)``: subpleural (within
    ``SUBPLEURAL_MM`` of the costal or diaphragmatic pleura), posterior half (of the lung
    volume), lower zone."""
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
    lateral = np.where(p[:, 0] < 0, -1.0, 1.0)[:, None] * np.array([1.0, 0.0, 0.0])
    for step in (lateral, (0, 1, 0), (0, -1, 0), (0, 0, -1)):
        q = p + SUBPLEURAL_MM * np.asarray(step, float)
        near |= anat.lung_labels(q[:, 0], q[:, 1], q[:, 2]) != lab
    traits = np.column_stack([near, p[:, 1] > np.median(p[:, 1]), anat.u(p[:, 2]) < LOWER_ZONE])
    return p, traits


def _blobs(rng, n: int, normal: np.ndarray | None = None) -> tuple[Blob, ...]:
    """One unit sphere plus ``n - 1`` smaller offset spheres: a blobby shape (offsets along
    the pleura when its ``normal`` is given: a subpleural patch)."""
    out = [(0.0, 0.0, 0.0, 1.0)]
    for _ in range(n - 1):
        d = rng.standard_normal(3)
        if normal is not None:
            d -= (d @ normal) * normal
        d *= rng.uniform(0.35, 0.8) / np.linalg.norm(d)
        out.append((float(d[0]), float(d[1]), float(d[2]), float(rng.uniform(0.5, 0.85))))
    return tuple(out)


def _pleural_normal(anat: Anatomy, p: np.ndarray) -> np.ndarray | None:
    """Outward unit direction to the costal or diaphragmatic pleura nearest to ``p`` (within
    ``SUBPLEURAL_MM`` along the axes), None when deeper."""
    side = anat.lung_labels(*p)
    steps = np.array([(-1.0 if p[0] < 0 else 1.0, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, -1)])
    for depth in np.arange(3.0, SUBPLEURAL_MM + 1e-9, 3.0):
        q = p[None] + depth * steps
        out = anat.lung_labels(q[:, 0], q[:, 1], q[:, 2]) != side
        if out.any():
            v = steps[out].sum(axis=0)
            return v / np.linalg.norm(v)
    return None


def _site(rng, anat: Anatomy, centre: np.ndarray, radius: float) -> Lesion:
    """A ground-glass site at ``centre``; a subpleural one hugs the pleura (centre moved
    ``PLEURAL_SHIFT`` radii outward, spread along it)."""
    normal = _pleural_normal(anat, centre)
    if normal is not None:
        centre = centre + PLEURAL_SHIFT * radius * normal
    return Lesion(
        kind="ggo",
        center_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
        radius_mm=radius,
        hu=float(np.round(rng.uniform(*GGO_HU))),
        blobs=_blobs(rng, int(rng.integers(3, 6)), normal),
        seed=_seed_of(rng),
        margin=float(rng.uniform(0.2, 0.35)),
        bronchi=True,
    )


def random_sites(anat: Anatomy, seed: int, n: int,
                 chances: tuple[float, float, float] = PREDOMINANCE) -> list[Lesion]:
    """``n`` ground-glass sites at COVID-like places (each subpleural, posterior and lower
    with these ``chances``); the first two in different lungs."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 303]))
    if n <= 0:
        return []
    points, traits = _candidate_points(anat, rng)
    side = np.where(points[:, 0] < 0, 1, 2)
    out = []
    for i in range(n):
        want = rng.random(3) < np.asarray(chances)
        ok = np.all(traits == want, axis=1)
        if i < 2:
            ok &= side == 1 + i % 2
        pool = np.flatnonzero(ok) if ok.any() else np.arange(len(points))
        k = int(rng.choice(pool))
        out.append(_site(rng, anat, points[k], float(rng.uniform(14.0, 26.0))))
    return out


def satellites(anat: Anatomy, sites: list[Lesion], seed: int, n: int) -> list[Lesion]:
    """``n`` smaller ground-glass sites, each beside a site (in the same lung, 1.8–2.2 radii
    away): separate foci while small, merging with their neighbour as the lesions grow."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 313]))
    out = []
    for i in range(n if sites else 0):
        host = sites[i % len(sites)]
        c = np.asarray(host.center_mm)
        side = 1 if c[0] < 0 else 2
        for _ in range(40):
            d = rng.standard_normal(3) * np.array([1.0, 1.0, 1.6])
            p = c + d / np.linalg.norm(d) * host.radius_mm * rng.uniform(1.8, 2.2)
            if anat.lung_labels(*p) == side:
                break
        out.append(_site(rng, anat, p, host.radius_mm * float(rng.uniform(0.6, 0.85))))
    return out


def with_cores(sites: list[Lesion], fractions: list[float], seed: int) -> list[Lesion]:
    """Add a consolidation core (≈ ``fraction`` of the site volume) to each site: 0 = none,
    >= 1 = the whole site is consolidation (no ground-glass rim). Cores keep their site's
    centre, blobs and seed (bronchi, bulges) with a more irregular margin: mostly inside the
    ground glass, here and there reaching past it."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 404]))
    kept, cores = [], []
    for site, frac in zip(sites, fractions, strict=True):
        hu = float(np.round(rng.uniform(*CONSOLIDATION_HU)))
        if frac > 0:
            r = site.radius_mm * min(frac, 1.0) ** (1 / 3)
            margin = min(site.margin + CORE_EXTRA_MARGIN, 0.6)
            cores.append(dataclasses.replace(site, kind="consolidation", radius_mm=r, hu=hu,
                                             septa_hu=0.0, margin=margin))
        if frac < 1:
            kept.append(site)
    return kept + cores


def random_lesions(anat: Anatomy, seed: int, n: int) -> tuple[Lesion, ...]:
    """Default lesions of a phantom: ``n`` sites; about 40 % with a consolidation core, 15 %
    consolidation without rim, the rest ground glass; crazy paving in about 40 % of the ground
    glass. At least one core and (from 3 sites) one crazy-paving site."""
    sites = random_sites(anat, seed, n)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 505]))
    draw = rng.random(len(sites))
    fractions = [1.0 if d < 0.15 else float(rng.uniform(0.15, 0.4)) if d < 0.55 else 0.0
                 for d in draw]
    if sites and not any(0 < f < 1 for f in fractions):
        fractions[0] = 0.3
    paving = [f < 1 and rng.random() < 0.4 for f in fractions]
    if len(sites) >= 3 and not any(paving):
        paving[next(i for i, f in enumerate(fractions) if f < 1)] = True
    sites = [
        dataclasses.replace(s, septa_hu=float(np.round(rng.uniform(*SEPTA_HU)))) if p else s
        for s, p in zip(sites, paving, strict=True)
    ]
    return tuple(with_cores(sites, fractions, seed))
