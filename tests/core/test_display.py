"""Display helpers: windowing, slice orientation, pixel ↔ voxel, letters, overlays, key slices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scoat_core import display
from scoat_core.volume import Volume

PLANES = ("axial", "coronal", "sagittal")
SHAPE = (5, 6, 7)  # z, y, x: all different so a swapped axis shows


def coords() -> np.ndarray:
    """Array whose value encodes its own voxel index: 100·z + 10·y + x."""
    z, y, x = np.indices(SHAPE)
    return 100 * z + 10 * y + x


# ------------------------------------------------------------------ windowing
def test_window_maps_level_and_edges():
    hu = np.array([-1400.0, -1350.0, -600.0, 150.0, 3000.0])
    out = display.window_to_uint8(hu, 1500, -600)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 127, 255, 255]


def test_window_of_integer_image_and_tiny_width():
    hu = np.array([[-1, 0, 1]], np.int16)
    assert display.window_to_uint8(hu, 0, 0).tolist() == [[0, 127, 255]]  # width clamped to 1


def test_window_nan_is_black_without_warning():
    with np.errstate(all="raise"):
        out = display.window_to_uint8(np.array([np.nan, 0.0]), 100, 0)
    assert out.tolist() == [0, 127]


def test_presets_are_the_clinical_windows():
    assert display.PRESETS["lung"] == (1500.0, -600.0)
    assert display.PRESETS["mediastinum"] == (400.0, 40.0)


# ------------------------------------------------------------- orientation
def test_slice_counts_and_pixel_sizes():
    assert [display.n_slices(SHAPE, p) for p in PLANES] == [5, 6, 7]
    spacing = (0.7, 0.8, 2.5)
    assert display.pixel_size_mm(spacing, "axial") == (0.8, 0.7)
    assert display.pixel_size_mm(spacing, "coronal") == (2.5, 0.7)
    assert display.pixel_size_mm(spacing, "sagittal") == (2.5, 0.8)


def test_extract_is_radiological():
    a = coords()
    axial = display.extract(a, "axial", 2)
    assert axial.shape == (6, 7) and axial[1, 3] == 213  # row = y (anterior on top), col = x
    coronal = display.extract(a, "coronal", 4)
    assert coronal.shape == (5, 7)
    assert coronal[0, 0] == 440  # top row is the highest z (superior)
    assert coronal[-1, 6] == 46
    sagittal = display.extract(a, "sagittal", 3)
    assert sagittal.shape == (5, 6) and sagittal[0, 5] == 453


@pytest.mark.parametrize("plane", PLANES)
def test_pixel_voxel_round_trip_matches_extract(plane):
    a = coords()
    for index in range(display.n_slices(SHAPE, plane)):
        image = display.extract(a, plane, index)
        for row, col in itertools.product(range(image.shape[0]), range(image.shape[1])):
            zyx = display.slice_to_voxel(plane, index, row, col, SHAPE)
            assert a[tuple(int(v) for v in zyx)] == image[row, col]
            assert display.voxel_to_slice(plane, zyx, SHAPE) == (index, row, col)


def test_voxel_to_slice_rounds_the_slice_but_not_the_pixel():
    index, row, col = display.voxel_to_slice("coronal", (1.25, 2.6, 3.5), SHAPE)
    assert (index, row, col) == (3, 2.75, 3.5)
    assert isinstance(index, int)


def test_orientation_letters_identity():
    eye = np.eye(3)
    assert display.orientation_letters(eye, "axial") == {
        "left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert display.orientation_letters(eye, "coronal") == {
        "left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert display.orientation_letters(eye, "sagittal") == {
        "left": "A", "right": "P", "top": "S", "bottom": "I"}


def test_orientation_letters_flipped_axes():
    flipped = np.diag([-1.0, -1.0, -1.0])  # x to the right, y anterior, z inferior
    assert display.orientation_letters(flipped, "axial") == {
        "left": "L", "right": "R", "top": "P", "bottom": "A"}
    assert display.orientation_letters(flipped, "coronal")["top"] == "I"


@pytest.mark.parametrize("plane", PLANES)
def test_orientation_letters_agree_with_geometry(plane):
    """For any axis permutation/flip, the letter at the right (bottom) edge is where the LPS
    position moves when going one column right (one row down) on the screen."""
    rng = np.random.default_rng(3)
    for perm in itertools.permutations(range(3)):
        direction = np.eye(3)[:, perm] * rng.choice([-1.0, 1.0], 3)
        vol = Volume(np.zeros(SHAPE), spacing=(0.7, 0.8, 2.5), direction=direction)
        letters = display.orientation_letters(direction, plane)

        def lps(row, col, vol=vol):
            z, y, x = display.slice_to_voxel(plane, 1, row, col, SHAPE)
            return vol.index_to_lps((x, y, z))

        for edge, step in (("right", lps(2, 3) - lps(2, 2)), ("bottom", lps(3, 2) - lps(2, 2))):
            axis = int(np.argmax(np.abs(step)))
            letter = ("LR", "PA", "SI")[axis][0 if step[axis] > 0 else 1]
            assert letters[edge] == letter, (perm, edge)


# ---------------------------------------------------------------- overlays
def test_mask_edges_ring_and_border():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True
    edges = display.mask_edges(m)
    assert edges.sum() == 16 and not edges[3, 3] and edges[1, 3]
    full = display.mask_edges(np.ones((4, 5), bool))  # touching the border: closed there
    assert full.sum() == 4 * 5 - 2 * 3 and not full[1:3, 1:4].any()
    assert not display.mask_edges(np.zeros((3, 3), np.uint8)).any()
    labels = np.zeros((5, 5), np.uint8)
    labels[1:4, 1:4] = 2
    assert display.mask_edges(labels).sum() == 8


def test_compose_fill_blends_each_colour_once():
    gray = np.full((4, 4), 100, np.uint8)
    opacity = np.zeros((4, 4), bool)
    opacity[:2, :2] = True
    high = np.zeros((4, 4), bool)
    high[0, 0] = True
    rgb = display.compose(gray, opacity=opacity, high=high, alpha=0.5)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert rgb[3, 3].tolist() == [100, 100, 100]
    assert rgb[1, 1].tolist() == [178, 138, 50]  # (100 + amber) / 2, rounded
    assert rgb[0, 0].tolist() == [165, 70, 110]  # (100 + magenta) / 2: not over the amber
    assert gray.tolist() == np.full((4, 4), 100).tolist()  # input untouched


def test_compose_alpha_is_clipped_and_zero_alpha_leaves_grey():
    gray = np.full((3, 3), 80, np.uint8)
    mask = np.ones((3, 3), bool)
    assert (display.compose(gray, opacity=mask, alpha=0.0) == 80).all()
    assert display.compose(gray, opacity=mask, alpha=5.0)[1, 1].tolist() == [255, 176, 0]


def test_compose_contour_and_lung():
    gray = np.zeros((9, 9), np.uint8)
    opacity = np.zeros((9, 9), bool)
    opacity[2:7, 2:7] = True
    lung = np.zeros((9, 9), np.uint8)
    lung[0:9, 0:4] = 1
    rgb = display.compose(gray, opacity=opacity, lung=lung, mode="contour")
    assert rgb[2, 4].tolist() == list(display.COLOURS["opacity"])
    assert rgb[4, 5].tolist() == [0, 0, 0]  # inside the contour: grey image
    assert rgb[4, 0].tolist() == list(display.COLOURS["lung"])  # lung edge at the border
    assert rgb[4, 1].tolist() == [0, 0, 0]  # lung interior


def test_compose_accepts_views_and_custom_colours():
    a = np.arange(36, dtype=np.uint8).reshape(6, 6)
    view = a[::-1]  # like a coronal slice: not contiguous
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = True
    rgb = display.compose(view, opacity=mask, alpha=1.0, colours={"opacity": (1, 2, 3)})
    assert rgb[0, 0].tolist() == [1, 2, 3]
    assert rgb[0, 1].tolist() == [31, 31, 31]


def test_compose_rejects_unknown_mode():
    with pytest.raises(ValueError, match="fill"):
        display.compose(np.zeros((2, 2), np.uint8), mode="outline")  # type: ignore[arg-type]


# -------------------------------------------------------------- key slices
def test_key_slices():
    opacity = np.zeros((10, 8, 6), np.uint8)
    opacity[7, 2:5, :] = 1
    opacity[3, 2, 0] = 1
    assert display.key_slices(opacity) == (7, 2)
    lung = np.zeros_like(opacity)
    lung[2:5, 4:7, 1:3] = 1
    assert display.key_slices(np.zeros_like(opacity), lung) == (3, 5)
    assert display.key_slices(np.zeros_like(opacity)) == (5, 4)


def test_window_and_slice_titles():
    """What the viewer's Window box and slice line read (issue 15)."""
    assert display.window_title(1500, -600) == "Lung (W1500 L−600)"
    assert display.window_title(400.2, 40) == "Mediastinum (W400 L40)"
    assert display.window_title(1620.4, -560.6) == "Custom (W1620 L−561)"
    assert display.preset_of(400, 40) == "mediastinum" and display.preset_of(401, 40) is None
    assert display.slice_title(132, 255, [None] * 132 + [123] + [None] * 122) == \
        "Im 123 (slice 133/255)"
    assert display.slice_title(4, 12) == "Slice 5/12"
    assert display.slice_title(4, 12, [7] * 11) == "Slice 5/12"  # not this grid's numbers


def test_hover_text_names_the_sides_in_mm():
    """Issue 15: HU and LPS position under the mouse; each letter names the patient side."""
    text = display.hover_text(-812.4, (-12.34, 45.0, -158.0), "axial", 153)
    assert text == "HU −812 at R 12.3 P 45.0 I 158.0 mm (axial slice 154)"
    assert display.position_text((3.0, -4.25, 0.0)) == "L 3.0 A 4.2 S 0.0 mm"
    assert display.position_text((-0.04, 0.0, 7.0)).startswith("L 0.0")  # no "R 0.0"
    assert display.hover_text(None, (0, 0, 0), "sagittal", 0).startswith("HU – at ")
    assert display.hover_text(0.25, (0, 0, 0), "coronal", 4, is_hu=False).startswith(
        "Value 0.25 at")


def test_reference_lines_cross_each_plane_where_extract_puts_the_slice():
    shape = (12, 20, 24)
    assert display.reference_line("axial", "coronal", 7, shape) == ("row", 7.0)
    assert display.reference_line("axial", "sagittal", 9, shape) == ("col", 9.0)
    assert display.reference_line("coronal", "axial", 2, shape) == ("row", 9.0)  # superior up
    assert display.reference_line("coronal", "sagittal", 5, shape) == ("col", 5.0)
    assert display.reference_line("sagittal", "axial", 11, shape) == ("row", 0.0)
    assert display.reference_line("sagittal", "coronal", 3, shape) == ("col", 3.0)
    with pytest.raises(ValueError):
        display.reference_line("axial", "axial", 0, shape)
    assert set(display.LAYOUTS) == set(display.LAYOUT_TITLES)
    assert display.LAYOUTS["1x2"] == ("axial", "coronal")
