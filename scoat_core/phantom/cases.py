"""Hard cases for the lung mask: dense lesions against the heart, the mediastinum and the wall."""

from __future__ import annotations

from .anatomy import make_anatomy
from .spec import Lesion

#: Where :func:`abutting_lesions` puts its three lesions, in order.
ABUTTING_SITES = ("heart", "mediastinum", "chest wall")
#: Margin irregularity of these lesions (see :class:`Lesion`).
MARGIN = 0.3


def covid_lesion(center: tuple[float, float, float], radius: float, core_hu: float,
                 rim: bool = True, seed: int = 0) -> tuple[Lesion, ...]:
    """A consolidation core (0.8 × the site, with air bronchograms) inside a ground-glass site
    of irregular margin, the COVID pattern the phantom draws; ``rim=False`` gives the
    consolidation alone, at the full radius. Site and core share ``seed``: the core is the
    site's shape scaled (a rim all around) and has the same bronchi."""
    core = Lesion("consolidation", center, radius, core_hu, seed=seed, margin=MARGIN,
                  bronchi=True)
    if not rim:
        return (core,)
    site = Lesion("ggo", center, radius, -500.0, seed=seed, margin=MARGIN, bronchi=True)
    return (site, core.scaled(0.8))


def abutting_lesions(seed: int, rim: bool = True) -> tuple[Lesion, ...]:
    """Lesions against the heart (left), the mediastinum (right, mid height) and the chest wall
    (right, lower third) of the anatomy of ``seed``."""
    anat = make_anatomy(seed)
    hx, hy, hz, ax, ay, _ = anat.heart_params()
    z_mid = anat.z_base + 0.55 * anat.height
    z_low = anat.z_base + 0.4 * anat.height
    wall_x = -(anat.cavity_axes(z_low)[0] - 1.5) + 14.0
    return (
        *covid_lesion((hx + ax + 12.0, hy + 0.3 * ay, hz), 30.0, 10.0, rim, seed=1),
        *covid_lesion((-24.0, 0.1 * anat.cavity_mid[1], z_mid), 28.0, 15.0, rim, seed=2),
        *covid_lesion((wall_x, 0.0, z_low), 26.0, 0.0, rim, seed=3),
    )
