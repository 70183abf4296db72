"""Analytic adult chest anatomy in the anatomy frame (LPS mm from the chest centre).

Every shape function is elementwise and broadcasts, so the same code labels a grid chunk
(``x`` of shape (1, 1, nx), ``y`` (1, ny, 1), ``z`` (nz, 1, 1)) or a list of points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: HU of the tissues before texture, blur and noise.
HU = {
    "air": -1000.0,
    "fat": -100.0,
    "muscle": 45.0,
    "mediastinum": 30.0,
    "liver": 60.0,
    "abdomen": 45.0,
    "heart": 40.0,
    "pericardial_fat": -90.0,
    "bone": 700.0,
    "marrow": 300.0,
    "disc": 80.0,
    "cartilage": 120.0,
    "canal": 20.0,
    "table": 150.0,
    "lung": -850.0,
}

MEDIASTINUM_HALF_WIDTH = 14.0
AIRWAY_WALL = 2.0


def _ellipse(x, y, cx, cy, a, b) -> np.ndarray:
    """Inside the axis-aligned ellipse centred (cx, cy) with semi-axes (a, b)."""
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 < 1.0


def seg_dist2(x, y, z, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distance of points to the segment a→b (broadcasting)."""
    d = np.asarray(b, float) - np.asarray(a, float)
    length2 = max(float(d @ d), 1e-12)
    wx, wy, wz = x - a[0], y - a[1], z - a[2]
    t = np.clip((wx * d[0] + wy * d[1] + wz * d[2]) / length2, 0.0, 1.0)
    return (wx - t * d[0]) ** 2 + (wy - t * d[1]) ** 2 + (wz - t * d[2]) ** 2


@dataclass(frozen=True)
class Anatomy:
    """Shape parameters of one phantom patient (mm, anatomy frame)."""

    body_a: float
    body_b: float
    fat: float
    muscle: float
    rib: float
    z_base: float
    z_apex: float
    dome_right: float
    dome_left: float
    base_lift_right: float
    heart_shift: float

    # ------------------------------------------------------------ body
    @property
    def height(self) -> float:
        return self.z_apex - self.z_base

    def u(self, z):
        """Height fraction: 0 at the lowest lung point, 1 at the apex."""
        return (z - self.z_base) / self.height

    def body_axes(self, z):
        """Semi-axes (a, b) of the skin outline at height z (narrower toward the neck)."""
        narrow = np.clip((self.u(z) - 0.6) / 0.5, 0.0, 1.0)
        return self.body_a * (1.0 - 0.15 * narrow), self.body_b * (1.0 - 0.06 * narrow)

    def cavity_axes(self, z):
        """Semi-axes of the thoracic cavity (inside the rib cage)."""
        a, b = self.body_axes(z)
        layers = self.fat + self.muscle + self.rib
        return a - layers, b - layers

    @property
    def cavity_mid(self) -> tuple[float, float]:
        layers = self.fat + self.muscle + self.rib
        return self.body_a - layers, self.body_b - layers

    # ------------------------------------------------------------ landmarks
    @property
    def spine_y(self) -> float:
        return self.cavity_mid[1] - 16.0

    @property
    def trachea_y(self) -> float:
        return self.spine_y - 45.0

    @property
    def carina_z(self) -> float:
        return self.z_base + 0.62 * self.height

    def bronchi(self) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Main bronchi as ``(start, end, radius)`` segments from the carina."""
        c = np.array([0.0, self.trachea_y, self.carina_z])
        right = c + np.array([-34.0, 6.0, -22.0])
        left = c + np.array([40.0, 10.0, -32.0])
        return [(c, right, 7.0), (c, left, 6.0)]

    def heart_params(self) -> tuple[float, float, float, float, float, float]:
        """Heart ellipsoid ``(cx, cy, cz, ax, ay, az)``."""
        ca, cb = self.cavity_mid
        return (
            0.15 * ca + self.heart_shift,
            -0.4 * cb,
            self.z_base + 0.42 * self.height,
            0.38 * ca,
            0.46 * cb,
            0.23 * self.height,
        )

    def hilum(self, side: int) -> np.ndarray:
        """A point in the hilum of lung ``side`` (1 right, 2 left)."""
        sign = -1.0 if side == 1 else 1.0
        return np.array([sign * 42.0, self.trachea_y + 12.0, self.carina_z - 30.0])

    # ------------------------------------------------------------ lungs
    def lung_geometry(self, z):
        """Per-height lung ellipse ``(|cx|, cy, rx, ry)``: full width low, tapering to the apex."""
        ca, cb = self.cavity_mid
        u = self.u(z)
        t = np.clip((u - 0.55) / 0.45, 0.0, 1.0)
        s = np.sqrt(np.clip(1.0 - t**2, 1e-6, 1.0))
        s = np.where(u > 1.0, 1e-6, s)
        cx = 0.5 * ca * (1.0 - 0.2 * t)
        return cx, 0.06 * cb + 0.1 * cb * t, 0.56 * ca * s, 0.95 * cb * s

    def dome_z(self, x, y):
        """Height of the lung base (diaphragm dome, costophrenic recesses lowest)."""
        ca, cb = self.cavity_mid
        right = x < 0
        base = np.where(right, self.z_base + self.base_lift_right, self.z_base)
        dome = np.where(right, self.dome_right, self.dome_left)
        q = ((np.abs(x) - 0.5 * ca) / (0.58 * ca)) ** 2 + ((y + 0.2 * cb) / (0.95 * cb)) ** 2
        return base + dome * np.clip(1.0 - q, 0.0, 1.0) ** 0.6

    def in_heart(self, x, y, z, margin: float = 0.0) -> np.ndarray:
        cx, cy, cz, ax, ay, az = self.heart_params()
        m = margin
        return ((x - cx) / (ax + m)) ** 2 + ((y - cy) / (ay + m)) ** 2 + (
            (z - cz) / (az + m)
        ) ** 2 < 1.0

    def in_airway(self, x, y, z, margin: float = 0.0) -> np.ndarray:
        """Inside the trachea or a main bronchus (lumen radius + margin)."""
        r = 9.0 + margin
        out = (z > self.carina_z) & ((x**2 + (y - self.trachea_y) ** 2) < r * r)
        zmin = min(float(b[1][2]) for b in self.bronchi()) - 10.0
        z_arr = np.asarray(z)
        if np.any((z_arr >= zmin) & (z_arr <= self.carina_z + 10.0)):
            for a, b, rad in self.bronchi():
                out = out | (seg_dist2(x, y, z, a, b) < (rad + margin) ** 2)
        return out

    def spine_exclusion(self, x, y) -> np.ndarray:
        """Paravertebral region and descending aorta, never lung."""
        spine = x**2 + (y - self.spine_y) ** 2 < 25.0**2
        spine |= x**2 + (y - self.spine_y - 24.0) ** 2 < 18.0**2
        aorta = (x - 24.0) ** 2 + (y - (self.spine_y - 26.0)) ** 2 < 15.0**2
        return spine | aorta

    def lung_labels(self, x, y, z) -> np.ndarray:
        """0 outside the lungs, 1 right lung (x < 0), 2 left lung (x > 0)."""
        cx, cy, rx, ry = self.lung_geometry(z)
        inside = _ellipse(np.abs(x), y, cx, cy, rx, ry)
        ca, cb = self.cavity_axes(z)
        inside &= _ellipse(x, y, 0.0, 0.0, ca - 1.5, cb - 1.5)
        inside &= z > self.dome_z(x, y)
        inside &= np.abs(x) > MEDIASTINUM_HALF_WIDTH
        inside &= ~self.spine_exclusion(x, y)
        inside &= ~self.in_heart(x, y, z, margin=4.0)
        inside &= ~self.in_airway(x, y, z, margin=AIRWAY_WALL)
        return np.where(inside, np.where(x < 0, 1, 2), 0).astype(np.uint8)


def make_anatomy(seed: int) -> Anatomy:
    """A plausible adult chest (total lung volume ~3.5–5 L) drawn from ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 101]))
    w = rng.uniform(0.95, 1.05)
    h = rng.uniform(0.94, 1.06)
    return Anatomy(
        body_a=165.0 * w,
        body_b=112.0 * w * rng.uniform(0.96, 1.04),
        fat=rng.uniform(8.0, 18.0),
        muscle=9.0,
        rib=9.0,
        z_base=-122.0 * h,
        z_apex=106.0 * h,
        dome_right=rng.uniform(50.0, 62.0) * h,
        dome_left=rng.uniform(42.0, 54.0) * h,
        base_lift_right=rng.uniform(6.0, 14.0),
        heart_shift=rng.uniform(-6.0, 6.0),
    )
