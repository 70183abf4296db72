"""Voxelising the analytic anatomy on the fine grid (body, bones, organs, lungs, airways)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .anatomy import HU, Anatomy, _ellipse
from .spec import PhantomSpec

RIB_PITCH = 22.0
RIB_WIDTH = 11.0
RIB_DROP = 70.0
CHUNK = 8


@dataclass
class Grid:
    """Sample positions in the anatomy frame (mm); fine planes are sorted by z.

    ``groups[k]`` are the fine planes averaged into output slice k (a boxcar over the slice
    thickness, midpoint rule, odd count) and ``centre[k]`` the one exactly at the slice centre.
    """

    xs: np.ndarray
    ys: np.ndarray
    zf: np.ndarray
    groups: np.ndarray
    centre: np.ndarray
    origin: tuple[float, float, float]
    shift: np.ndarray

    @property
    def fine_shape(self) -> tuple[int, int, int]:
        return (self.zf.size, self.ys.size, self.xs.size)


def make_grid(spec: PhantomSpec) -> Grid:
    """Output grid centred on the scanner isocentre, fine z samples for thick slices."""
    rows, cols = spec.shape_rc
    sx, sy, sz = spec.spacing
    nz = spec.n_slices
    origin = (-(cols - 1) / 2 * sx, -(rows - 1) / 2 * sy, -(nz - 1) / 2 * sz)
    shift = np.asarray(spec.shift_mm, dtype=float)
    xs = origin[0] + sx * np.arange(cols) - shift[0]
    ys = origin[1] + sy * np.arange(rows) - shift[1]
    n_sub = int(np.ceil(spec.slice_thickness_mm / spec.fine_step_mm - 1e-9))
    n_sub = max(1, n_sub + (1 - n_sub % 2))
    offsets = (np.arange(n_sub) - (n_sub - 1) / 2) * (spec.slice_thickness_mm / n_sub)
    centres = origin[2] + sz * np.arange(nz) - shift[2]
    z_all = np.round(centres[:, None] + offsets[None, :], 6)
    zf, inverse = np.unique(z_all, return_inverse=True)
    groups = inverse.reshape(nz, n_sub)
    return Grid(xs, ys, zf, groups, groups[:, (n_sub - 1) // 2].copy(), origin, shift)


def lung_texture(shape: tuple[int, int], spacing: tuple[float, float], rng) -> np.ndarray:
    """Two smooth in-plane fields (HU) mixed along z into a mild parenchymal texture."""
    sigma = (3.0 / spacing[1], 3.0 / spacing[0])
    fields = []
    for _ in range(2):
        f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
        fields.append(f * (14.0 / max(float(f.std()), 1e-6)))
    return np.stack(fields)


def _table_mask(anat: Anatomy, grid: Grid) -> np.ndarray:
    """Curved scanner table below the patient, fixed in the scanner frame."""
    xp = (grid.xs + grid.shift[0])[None, :]
    yp = (grid.ys + grid.shift[1])[:, None]
    top = anat.body_b + 8.0 + 0.0015 * xp**2
    half = 0.45 * (grid.xs.size * (grid.xs[1] - grid.xs[0]) if grid.xs.size > 1 else 400.0)
    return (yp > top) & (yp < top + 12.0) & (np.abs(xp) < min(200.0, half))


def _put(dst: np.ndarray, value, where: np.ndarray) -> None:
    np.copyto(dst, np.asarray(value, dtype=dst.dtype), where=where)


def _body_layers(anat: Anatomy, x, y, z, hu, body) -> np.ndarray:
    """Skin/fat, muscle, ribs, sternum; fills the cavity with soft tissue; returns the cavity."""
    a, b = anat.body_axes(z)
    skin = _ellipse(x, y, 0.0, 0.0, a, b)
    body[...] = skin
    _put(hu, HU["fat"], skin)
    _put(hu, HU["muscle"], _ellipse(x, y, 0.0, 0.0, a - anat.fat, b - anat.fat))
    ca, cb = anat.cavity_axes(z)
    cavity = _ellipse(x, y, 0.0, 0.0, ca, cb)
    ring = _ellipse(x, y, 0.0, 0.0, ca + anat.rib, cb + anat.rib) & ~cavity
    phi = np.abs(np.arctan2(x / anat.cavity_mid[0], y / anat.cavity_mid[1])) / np.pi
    q = z - (anat.z_apex - 8.0 - 12 * RIB_PITCH) + RIB_DROP * phi
    rib = ring & (q > 0) & (q < 12 * RIB_PITCH) & (np.mod(q, RIB_PITCH) < RIB_WIDTH)
    _put(hu, HU["bone"], rib & (phi < 0.8))
    _put(hu, HU["cartilage"], rib & (phi >= 0.8))
    zs = (z > anat.z_base + 0.3 * anat.height) & (z < anat.z_apex - 10.0)
    _put(hu, HU["bone"], ring & zs & (np.abs(x) < 13.0) & (y < 0))
    _put(hu, HU["mediastinum"], cavity)
    return cavity


def _organs(anat: Anatomy, x, y, z, hu, cavity) -> None:
    """Abdomen below the domes, heart with its fat, aorta, stomach bubble."""
    dome = anat.dome_z(x, y)
    below = cavity & (z < dome)
    _put(hu, np.where(x < 0, HU["liver"], HU["abdomen"]), below)
    _put(hu, HU["pericardial_fat"], anat.in_heart(x, y, z, margin=4.0) & cavity)
    _put(hu, HU["heart"], anat.in_heart(x, y, z))
    aorta = (x - 24.0) ** 2 + (y - (anat.spine_y - 26.0)) ** 2 < 12.0**2
    _put(hu, HU["heart"], aorta & (z < anat.carina_z + 25.0) & cavity)
    ca, cb = anat.cavity_mid
    zc = anat.z_base + anat.dome_left - 30.0
    bubble = ((x - 0.45 * ca) / 28.0) ** 2 + ((y + 0.1 * cb) / 22.0) ** 2 + ((z - zc) / 14.0) ** 2
    _put(hu, HU["air"], (bubble < 1.0) & below & (z < dome - 6.0))


def _spine(anat: Anatomy, x, y, z, hu, body) -> None:
    """Vertebral bodies with discs, neural arch with canal and spinous process (inside skin)."""
    r2 = x**2 + (y - anat.spine_y) ** 2
    disc = np.mod(z - anat.z_base, 26.0) < 5.0
    _put(hu, HU["bone"], r2 < 15.0**2)
    _put(hu, np.where(disc, HU["disc"], HU["marrow"]), r2 < 12.5**2)
    yc = anat.spine_y + 24.0
    c2 = x**2 + (y - yc) ** 2
    spinous = (np.abs(x) < 4.0) & (y > yc) & (y < yc + 18.0)
    _put(hu, HU["bone"], ((c2 < 13.0**2) | spinous) & (body > 0))
    _put(hu, HU["canal"], c2 < 8.0**2)


def _lungs(anat: Anatomy, x, y, z, hu, lung, tex) -> None:
    """Lung labels and parenchyma (denser posteriorly, mild texture), then airways."""
    lung[...] = anat.lung_labels(x, y, z)
    inside = lung > 0
    cb = anat.cavity_axes(z)[1]
    value = HU["lung"] + 25.0 * (y / cb) + tex
    _put(hu, value, inside)
    _put(hu, HU["mediastinum"], anat.in_airway(x, y, z, margin=1.5) & ~inside)
    _put(hu, HU["air"], anat.in_airway(x, y, z))


def render_anatomy(anat: Anatomy, grid: Grid, tex: np.ndarray):
    """Fine-grid HU (float32), lung labels and body mask (uint8) of the analytic anatomy."""
    shape = grid.fine_shape
    hu = np.full(shape, HU["air"], dtype=np.float32)
    lung = np.zeros(shape, dtype=np.uint8)
    body = np.zeros(shape, dtype=np.uint8)
    table = _table_mask(anat, grid)
    rb, cbx = _crop(grid, anat.body_a + 2.0, anat.body_b + 2.0)
    ca, cb = anat.cavity_mid
    rl, cl = _crop(grid, ca + 2.0, cb + 2.0)
    xb, yb = grid.xs[cbx][None, None, :], grid.ys[rb][None, :, None]
    xl, yl = grid.xs[cl][None, None, :], grid.ys[rl][None, :, None]
    for z0 in range(0, shape[0], CHUNK):
        zs = slice(z0, min(z0 + CHUNK, shape[0]))
        z = grid.zf[zs][:, None, None]
        h = hu[zs]
        if table.any():
            _put(h, HU["table"], table[None])
        hb = h[:, rb, cbx]
        cavity = _body_layers(anat, xb, yb, z, hb, body[zs, rb, cbx])
        _organs(anat, xb, yb, z, hb, cavity)
        if np.any(anat.u(z) < 1.02):
            phase = 2 * np.pi * z / 37.0
            t = tex[0][rl, cl] * np.cos(phase) + tex[1][rl, cl] * np.sin(phase)
            _lungs(anat, xl, yl, z, h[:, rl, cl], lung[zs, rl, cl], t)
        _spine(anat, xb, yb, z, hb, body[zs, rb, cbx])
    return hu, lung, body


def _crop(grid: Grid, half_x: float, half_y: float) -> tuple[slice, slice]:
    """Row and column slices covering |x| < half_x, |y| < half_y (anatomy frame)."""
    r0, r1 = np.searchsorted(grid.ys, [-half_y, half_y])
    c0, c1 = np.searchsorted(grid.xs, [-half_x, half_x])
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))
