"""Drawing COVID-like lesions clipped to the lungs, and fitting them to a target volume.

Truth per kind is the label of each voxel of the lesion shapes (consolidation drawn over ground
glass): a consolidation's air bronchograms count as consolidation (radiologists outline the
consolidation with its bronchograms), and the septa and vessels inside ground glass count as
ground glass. What the image shows there (air, septa, vessels) never changes the label.
"""

from __future__ import annotations

import numpy as np

from .anatomy import Anatomy
from .placement import (  # noqa: F401  (re-exported)
    CONSOLIDATION_HU,
    GGO_HU,
    random_lesions,
    random_sites,
    with_cores,
)
from .render import Grid
from .shape import Voxels, lesion_voxels, smooth_noise
from .spec import Lesion
from .texture import SEPTA_HALF_MM, draw_bronchi, septa

MAX_SCALE = 8.0
#: The volume fit stops within this relative error; on grids of ``2 * FIT_COLUMNS`` columns or
#: more it searches on every other row and column first.
FIT_TOLERANCE, FIT_COLUMNS = 0.005, 256
#: Texture amplitude (HU) of ground glass and consolidation, and its length scale (mm).
GGO_TEXTURE_HU, CONSOLIDATION_TEXTURE_HU, TEXTURE_MM = 30.0, 12.0, 8.0
#: Ground glass fades toward the parenchyma over this depth (lesion radii) at its margin,
#: keeping at least ``EDGE_MIN`` of its excess density.
EDGE_DEPTH, EDGE_MIN = 0.3, 0.45
#: Hilum used for the bronchi when no anatomy is given (anatomy frame, x mirrored per lung).
DEFAULT_HILUM = (42.0, 32.0, -11.0)


def _hilum(anat: Anatomy | None, lesion: Lesion) -> np.ndarray:
    side = 1 if lesion.center_mm[0] < 0 else 2
    if anat is not None:
        return anat.hilum(side)
    x, y, z = DEFAULT_HILUM
    return np.array([-x if side == 1 else x, y, z])


def _paint(g: Grid, lesion: Lesion, vox: Voxels, hu: np.ndarray) -> None:
    """HU of a lesion's voxels: textured base value; ground glass fades at its margin, is never
    made less dense than what is there, and shows its septa (crazy paving)."""
    view = hu[vox.sl]
    pts = vox.points(g)
    tex = smooth_noise(pts / TEXTURE_MM, lesion.seed, 7).astype(np.float32)
    if lesion.kind == "consolidation":
        view[vox.idx] = np.float32(lesion.hu) + np.float32(CONSOLIDATION_TEXTURE_HU) * tex
        return
    old = view[vox.idx]
    w = np.clip(vox.depth / EDGE_DEPTH, 0.0, 1.0)
    value = np.float32(lesion.hu) + np.float32(GGO_TEXTURE_HU) * tex
    if lesion.septa_hu > 0:
        pixel = float(abs(g.xs[1] - g.xs[0])) if g.xs.size > 1 else 0.0
        half = max(SEPTA_HALF_MM, 0.5 * pixel)
        value = value + np.float32(lesion.septa_hu) * septa(pts, lesion.seed, half)
    value = old + (EDGE_MIN + (1.0 - EDGE_MIN) * w) * (value - old)
    view[vox.idx] = np.maximum(old, value)


def render_lesions(
    grid: Grid,
    lesions: tuple[Lesion, ...],
    lung: np.ndarray,
    label: np.ndarray,
    hu: np.ndarray | None = None,
    plane_index: np.ndarray | None = None,
    anat: Anatomy | None = None,
) -> None:
    """Draw lesions (ground glass first, consolidation over it) clipped to ``lung > 0``.

    Labels always; with ``hu``, also their values and then the air in their bronchi (toward
    ``anat``'s hila). ``plane_index`` maps the planes of ``lung``/``label`` to fine planes of
    ``grid`` (to draw on the output-slice centre planes only); None means all fine planes, and
    then the labels on the centre planes are exactly those drawn on the centre planes alone.
    """
    zf = grid.zf if plane_index is None else grid.zf[plane_index]
    g = Grid(grid.xs, grid.ys, zf, grid.groups, grid.centre, grid.origin, grid.shift)
    decide = None
    if plane_index is None:
        decide = np.zeros(zf.size, dtype=bool)
        decide[grid.centre] = True
    drawn = []
    for lesion in sorted(lesions, key=lambda les: les.label):
        vox = lesion_voxels(g, lesion, lung, decide)
        if vox is None:
            continue
        label[vox.sl][vox.idx] = lesion.label
        if hu is not None:
            _paint(g, lesion, vox, hu)
            drawn.append((lesion, vox.bounds(g)))
    for lesion, within in drawn:
        if lesion.bronchi and hu is not None:
            draw_bronchi(g, lesion, _hilum(anat, lesion), label, hu, within)


def fit_scale(
    grid: Grid,
    lesions: tuple[Lesion, ...],
    lung_centre: np.ndarray,
    voxel_ml: float,
    target_ml: float,
) -> float:
    """Scale factor on all lesion radii whose exact output-grid volume is closest to target.

    On large grids (``2 * FIT_COLUMNS`` columns or more) the search runs first on every other
    row and column (4× fewer voxels), then the output grid checks (and corrects) its result."""
    if target_ml <= 0 or not lesions:
        return 0.0
    step = max(1, grid.xs.size // FIT_COLUMNS)
    f, last = 1.0, None
    if step > 1:
        sub = Grid(grid.xs[::step], grid.ys[::step], grid.zf, grid.groups, grid.centre,
                   grid.origin, grid.shift)
        f, last = _search(sub, lesions, lung_centre[:, ::step, ::step], voxel_ml * step * step,
                          target_ml, f, None, 12)
    return _search(grid, lesions, lung_centre, voxel_ml, target_ml, f, last, 12)[0]


def _search(grid: Grid, lesions: tuple[Lesion, ...], lung_centre: np.ndarray, voxel_ml: float,
            target_ml: float, f: float, last: tuple[float, float] | None, tries: int,
            ) -> tuple[float, tuple[float, float] | None]:
    """Best scale of up to ``tries`` (from ``f``; ``last`` a previous (scale, volume)) and the
    last (scale, volume) measured."""

    def volume(f: float) -> float:
        lab = np.zeros_like(lung_centre)
        render_lesions(
            grid, tuple(les.scaled(f) for les in lesions), lung_centre, lab, None, grid.centre
        )
        return float(np.count_nonzero(lab)) * voxel_ml

    best_f, best_err = f, np.inf
    for _ in range(tries):
        v = volume(f)
        err = abs(v - target_ml)
        if err < best_err:
            best_f, best_err = f, err
        if err <= FIT_TOLERANCE * target_ml or (v > 0 and f >= MAX_SCALE and v < target_ml):
            return best_f, (f, v)
        f, last = _next_scale(f, v, target_ml, last), (f, v)
    return best_f, last


def _next_scale(f: float, v: float, target: float, last: tuple[float, float] | None) -> float:
    """Next scale of the fit: volume ∝ scale**α, α from the last two tries (3 at first)."""
    if v <= 0:
        return min(2.0 * f, MAX_SCALE)
    alpha = 3.0
    if last is not None and last[1] > 0 and last[0] != f and last[1] != v:
        alpha = float(np.clip(np.log(v / last[1]) / np.log(f / last[0]), 1.0, 4.0))
    step = float(np.clip((target / v) ** (1.0 / alpha), 0.5, 2.0))
    return min(f * step, MAX_SCALE)
