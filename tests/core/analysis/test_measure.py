"""Ruler and ellipse ROI on hand-computed cases, with anisotropic voxels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoat_core.analysis.measure import (
    ELLIPSE,
    RULER,
    Measurement,
    distance_mm,
    ellipse_mask,
    ellipse_stats,
    measurement_text,
    pixel_area_mm2,
    roi_text,
    ruler_text,
)
from scoat_core.volume import Volume


def grid(spacing=(0.5, 2.0, 3.0), shape=(2, 10, 10), direction=None) -> Volume:
    """HU = x + 10 y (+ 100 z): every pixel's value says where it is."""
    z, y, x = np.indices(shape)
    return Volume((x + 10 * y + 100 * z).astype(np.int16), spacing=spacing,
                  direction=np.eye(3) if direction is None else direction)


def test_ruler_uses_the_spacing_of_each_axis():
    v = grid(spacing=(0.7, 0.7, 5.0))
    assert distance_mm(v, (0, 0, 1), (3, 4, 1)) == pytest.approx(3.5)  # 2.1, 2.8 mm
    assert distance_mm(v, (1, 1, 0), (1, 1, 2)) == pytest.approx(10.0)  # two 5-mm slices
    w = grid(spacing=(0.5, 2.0, 1.0))
    assert distance_mm(w, (0, 0, 0), (6, 2, 0)) == pytest.approx(5.0)  # 3 mm by 4 mm
    assert distance_mm(w, (0.5, 0.25, 0), (0, 0, 0)) == pytest.approx(math.hypot(0.25, 0.5))


def test_ruler_ignores_flipped_axes():
    flipped = grid(spacing=(0.5, 2.0, 1.0), direction=np.diag([-1.0, -1.0, 1.0]))
    assert distance_mm(flipped, (0, 0, 0), (6, 2, 0)) == pytest.approx(5.0)
    assert pixel_area_mm2(flipped) == pytest.approx(1.0)


def test_ellipse_pixels_mean_sd_and_area():
    v = grid(spacing=(0.5, 2.0, 3.0))
    # centre (4, 3), radii 2 × 1 px: row 3 holds x = 2…6, rows 2 and 4 only x = 4
    mask = ellipse_mask((10, 10), (2, 2), (6, 4))
    assert sorted(zip(*np.nonzero(mask), strict=True)) == [
        (2, 4), (3, 2), (3, 3), (3, 4), (3, 5), (3, 6), (4, 4)]
    stats = ellipse_stats(v, 0, (6, 4, 0), (2, 2, 0))  # corners in either order
    assert stats.n_pixels == 7
    assert stats.area_mm2 == pytest.approx(7 * 0.5 * 2.0)  # pixels × pixel area, not 7
    assert stats.mean == pytest.approx(238 / 7)  # 32…36, 24, 44
    assert stats.sd == pytest.approx(math.sqrt(210 / 6))  # sample SD
    assert (stats.min, stats.max) == (24.0, 44.0)
    on_slice_1 = ellipse_stats(v, 1, (2, 2, 1), (6, 4, 1))
    assert on_slice_1.mean == pytest.approx(238 / 7 + 100)


def test_ellipse_at_the_edge_and_single_pixel():
    v = grid()
    corner = ellipse_stats(v, 0, (-2, -2, 0), (2, 2, 0))  # only the quarter inside the slice
    assert corner.n_pixels == 6 and corner.min == 0.0
    one = ellipse_stats(v, 0, (5, 5, 0), (5, 5, 0))
    assert (one.n_pixels, one.mean, one.sd) == (1, 55.0, 0.0)
    assert ellipse_stats(v, 0, (20, 20, 0), (30, 30, 0)) is None  # off the slice
    assert ellipse_stats(v, 5, (2, 2, 5), (6, 4, 5)) is None  # no such slice


def test_texts_on_the_image():
    assert ruler_text(42.345) == "42.3 mm"
    v = Volume(np.full((1, 40, 40), -812, np.int16), spacing=(0.5, 0.5, 1.0))
    ellipse = Measurement(ELLIPSE, 0, ((0, 0, 0), (19, 19, 0)))
    stats = ellipse_stats(v, 0, *ellipse.points)
    assert roi_text(stats) == (f"mean −812 HU, SD 0, {stats.n_pixels * 0.25:.0f} mm²\n"
                               "min −812, max −812 HU")
    ruler = Measurement(RULER, 0, ((0, 0, 0), (0, 20, 0)), label="nodule")
    assert measurement_text(v, ruler) == "nodule: 10.0 mm"


def test_measurement_checks_its_fields():
    with pytest.raises(ValueError):
        Measurement("angle", 0, ((0, 0, 0), (1, 1, 0)))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Measurement(RULER, 0, ((0, 0), (1, 1)))  # type: ignore[arg-type]
    m = Measurement(RULER, np.int64(3), ([1, 2, 3], [4, 5, 3]))  # type: ignore[arg-type]
    assert m.points == ((1.0, 2.0, 3.0), (4.0, 5.0, 3.0)) and type(m.slice_index) is int
