"""SliceView: slice stepping, window/level, presets, zoom/pan, cursor linking, overlays."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.views.slice_view import SliceView
from scoat_core import display
from scoat_core.phantom import make_phantom
from scoat_core.volume import Volume

NO_MOD = Qt.KeyboardModifier.NoModifier
SHAPE = (12, 20, 24)  # z, y, x


def ramp_volume(shape=SHAPE, spacing=(0.8, 0.8, 2.5), origin=(-10.0, 20.0, -50.0)) -> Volume:
    """HU that differ from slice to slice in every plane (all within the lung window)."""
    z, y, x = np.indices(shape)
    return Volume((-1300 + 40 * z + 15 * y + x).astype(np.int16), spacing=spacing, origin=origin)


def pixels(image: QImage) -> np.ndarray:
    """RGB uint8 [rows, cols, 3] copy of a QImage."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def make_view(qtbot, plane="axial", volume=None, size=(300, 300)) -> SliceView:
    view = SliceView(plane)
    qtbot.addWidget(view)
    view.resize(*size)
    view.set_volume(ramp_volume() if volume is None else volume)
    view.show()
    return view


def wheel(view: SliceView, notches: int, modifiers=NO_MOD, pos: QPointF | None = None) -> None:
    pos = QPointF(view.width() / 2, view.height() / 2) if pos is None else pos
    event = QWheelEvent(pos, view.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, event)


def key(view: SliceView, k, modifiers=NO_MOD) -> None:
    QTest.keyClick(view, k, modifiers)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(matrix=64, slice_spacing_mm=5.0, slice_thickness_mm=5.0, seed=2,
                        noise_hu=5.0)


# ------------------------------------------------------------ no volume
def test_empty_pane_does_not_crash(qtbot):
    view = SliceView("coronal")
    qtbot.addWidget(view)
    view.resize(200, 150)
    view.show()
    view.set_volume(None)
    wheel(view, 2)
    for k in (Qt.Key.Key_Up, Qt.Key.Key_End, Qt.Key.Key_2, Qt.Key.Key_Plus, Qt.Key.Key_R):
        key(view, k)
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, NO_MOD, QPoint(50, 50))
    view.set_slice(3)
    view.set_cursor_lps((1.0, 2.0, 3.0))
    view.set_masks(None, None)
    assert view.n_slices() == 0 and view.slice_index() == 0 and view.cursor_lps() is None
    assert view.render_image().isNull() and view.annotations() == {}
    assert not view.grab().isNull()
    with pytest.raises(ValueError, match="does not match"):
        view.set_masks(np.zeros((2, 2, 2), np.uint8), None)
    with pytest.raises(ValueError, match="plane"):
        SliceView("oblique")


# ------------------------------------------------------------ stepping
def test_wheel_and_keys_step_slices_and_change_the_image(qtbot):
    view = make_view(qtbot)
    seen: list[int] = []
    view.slice_changed.connect(seen.append)
    assert view.n_slices() == 12 and view.slice_index() == 6
    before = pixels(view.render_image())
    wheel(view, 1)
    assert view.slice_index() == 7 and seen == [7]
    after = pixels(view.render_image())
    assert after.mean() > before.mean() + 5  # 40 HU brighter per slice
    wheel(view, -3)
    assert view.slice_index() == 4
    expected = {Qt.Key.Key_Up: 5, Qt.Key.Key_Down: 4, Qt.Key.Key_PageUp: 11,
                Qt.Key.Key_PageDown: 1, Qt.Key.Key_End: 11, Qt.Key.Key_Home: 0}
    for k, index in expected.items():
        key(view, k)
        assert view.slice_index() == index, k
    key(view, Qt.Key.Key_Down)  # clamped at the first slice: no signal
    assert view.slice_index() == 0 and seen[-1] == 0 and seen.count(0) == 1
    view.set_slice(99)
    assert view.slice_index() == 11


# ------------------------------------------------------------ window/level
def test_right_drag_changes_window_and_pixels(qtbot, monkeypatch):
    view = make_view(qtbot)
    changes: list[tuple[float, float]] = []
    view.window_changed.connect(lambda w, lev: changes.append((w, lev)))
    menus: list[bool] = []
    monkeypatch.setattr(SliceView, "context_menu", lambda self: menus.append(True))
    before = pixels(view.render_image())
    start = QPoint(150, 150)
    QTest.mousePress(view, Qt.MouseButton.RightButton, NO_MOD, start)
    QTest.mouseMove(view, start + QPoint(40, 30))
    QTest.mouseRelease(view, Qt.MouseButton.RightButton, NO_MOD, start + QPoint(40, 30))
    width, level = view.window_level()
    assert width > 1500 and level > -600  # right: wider; down: higher level (darker)
    assert changes[-1] == (width, level)
    assert pixels(view.render_image()).mean() < before.mean() - 3
    assert not menus  # a drag is not a click


def test_right_click_without_drag_opens_the_menu(qtbot, monkeypatch):
    view = make_view(qtbot)

    shown: list[object] = []

    class FakeMenu:
        def exec(self, pos):
            shown.append(pos)

    monkeypatch.setattr(SliceView, "context_menu", lambda self: FakeMenu())
    QTest.mouseClick(view, Qt.MouseButton.RightButton, NO_MOD, QPoint(100, 100))
    assert len(shown) == 1 and view.window_level() == display.PRESETS["lung"]


def test_presets_by_key_api_and_menu(qtbot):
    view = make_view(qtbot)
    key(view, Qt.Key.Key_2)
    assert view.window_level() == (400.0, 40.0)
    key(view, Qt.Key.Key_1)
    assert view.window_level() == (1500.0, -600.0)
    view.apply_preset("mediastinum")
    assert view.window_level() == (400.0, 40.0)
    with pytest.raises(ValueError, match="preset"):
        view.apply_preset("bone")
    view.set_window(0, 10)
    assert view.window_level() == (1.0, 10.0)
    actions = {a.text().split("\t")[0].split(" (")[0]: a for a in view.context_menu().actions()}
    actions["Lung window"].trigger()
    assert view.window_level() == (1500.0, -600.0)
    actions["Opacity contour"].trigger()
    assert view.overlay_style()[0] == "contour"
    actions["Lung contour"].trigger()  # toggles off
    assert view.overlay_style()[2] is False


# ------------------------------------------------------------ zoom and pan
def test_zoom_pan_and_reset(qtbot):
    view = make_view(qtbot)
    anchor = QPointF(100.0, 120.0)
    under = view.map_to_pixel(anchor)
    wheel(view, 2, Qt.KeyboardModifier.ControlModifier, anchor)
    assert view.zoom() == pytest.approx(1.15**2) and view.slice_index() == 6
    assert view.map_to_pixel(anchor) == pytest.approx(under)  # zoom about the mouse
    key(view, Qt.Key.Key_Plus)
    assert view.zoom() == pytest.approx(1.15**2 * 1.25)
    key(view, Qt.Key.Key_Minus)
    assert view.zoom() == pytest.approx(1.15**2)
    rect = view.image_rect()
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     QPoint(150, 150))
    QTest.mouseMove(view, QPoint(180, 170))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                       QPoint(180, 170))
    assert view.image_rect().topLeft() - rect.topLeft() == QPointF(30, 20)
    assert view.cursor_lps() is None  # Shift+drag pans, it does not set the cursor
    key(view, Qt.Key.Key_R)
    assert view.zoom() == 1.0 and view.pan() == QPointF(0, 0)
    QTest.mousePress(view, Qt.MouseButton.MiddleButton, NO_MOD, QPoint(150, 150))
    QTest.mouseMove(view, QPoint(140, 150))
    QTest.mouseRelease(view, Qt.MouseButton.MiddleButton, NO_MOD, QPoint(140, 150))
    assert view.pan() == QPointF(-10, 0)
    QTest.mouseDClick(view, Qt.MouseButton.LeftButton, NO_MOD, QPoint(150, 150))
    assert view.pan() == QPointF(0, 0)


def test_coronal_keeps_the_physical_aspect(qtbot):
    volume = ramp_volume(shape=(20, 40, 40), spacing=(0.5, 0.5, 2.0))
    view = make_view(qtbot, "coronal", volume)  # 20 mm wide, 40 mm tall
    rect = view.image_rect()
    assert rect.height() / rect.width() == pytest.approx(2.0)
    assert rect.height() == pytest.approx(300) and rect.center() == QPointF(150, 150)
    image = view.render_image()
    assert (image.width(), image.height()) == (40, 80)
    native = view.render_image(physical_aspect=False)
    assert (native.width(), native.height()) == (40, 20)


# ------------------------------------------------------------ cursor
def test_click_sets_cursor_and_other_panes_follow(qtbot):
    volume = ramp_volume()
    axial, coronal, sagittal = (make_view(qtbot, p, volume) for p in
                                ("axial", "coronal", "sagittal"))
    emitted: list[tuple] = []
    axial.cursor_changed.connect(emitted.append)
    axial.cursor_changed.connect(coronal.set_cursor_lps)
    axial.cursor_changed.connect(sagittal.set_cursor_lps)
    axial.set_slice(3)
    QTest.mouseClick(axial, Qt.MouseButton.LeftButton, NO_MOD,
                     axial.map_from_pixel(13, 5).toPoint())
    (point,) = emitted
    assert isinstance(point, tuple) and len(point) == 3
    assert point == pytest.approx(tuple(volume.index_to_lps((5, 13, 3))), abs=0.6)
    assert coronal.slice_index() == 13 and sagittal.slice_index() == 5
    assert coronal.cursor_lps() == point
    # and back: a click in the coronal pane moves the axial pane to that slice
    coronal.cursor_changed.connect(axial.set_cursor_lps)
    row = display.voxel_to_slice("coronal", (8, 13, 5), SHAPE)[1]
    QTest.mouseClick(coronal, Qt.MouseButton.LeftButton, NO_MOD,
                     coronal.map_from_pixel(row, 5).toPoint())
    assert axial.slice_index() == 8
    assert axial.cursor_value() == volume.array[8, 13, 5]
    assert "HU" in axial.annotations()["bottom_right"]


def test_set_cursor_lps_with_flipped_direction(qtbot):
    volume = ramp_volume()
    volume.direction = np.diag([-1.0, 1.0, -1.0])
    views = [make_view(qtbot, p, volume) for p in ("axial", "coronal", "sagittal")]
    point = tuple(volume.index_to_lps((7, 11, 2)))
    for view in views:
        view.set_cursor_lps(point)
        assert view.cursor_lps() == pytest.approx(point)
    assert [v.slice_index() for v in views] == [2, 11, 7]
    assert views[0].annotations()["left"] == "L" and views[1].annotations()["top"] == "I"


def test_crosshair_is_drawn(qtbot):
    view = make_view(qtbot)
    view.set_cursor_lps(tuple(view.volume().index_to_lps((12, 10, 6))))
    x = round(view.map_from_pixel(10, 12).x())
    shot = pixels(view.grab().toImage())
    band = shot[60:90, x - 1 : x + 2].reshape(-1, 3).astype(int)
    yellow = (band[:, 0] > 200) & (band[:, 1] > 170) & (band[:, 2] < 90)
    assert yellow.any()
    view.set_cursor_lps(None)
    shot = pixels(view.grab().toImage())
    band = shot[60:90, x - 1 : x + 2].reshape(-1, 3).astype(int)
    assert not ((band[:, 0] > 200) & (band[:, 2] < 90)).any()


# ------------------------------------------------------------ annotations
def test_orientation_letters_and_corner_texts(qtbot):
    axial = make_view(qtbot, "axial")
    coronal = make_view(qtbot, "coronal")
    a, c = axial.annotations(), coronal.annotations()
    assert (a["left"], a["right"], a["top"], a["bottom"]) == ("R", "L", "A", "P")
    assert (c["left"], c["right"], c["top"], c["bottom"]) == ("R", "L", "S", "I")
    axial.set_slice(4)
    axial.set_label("2020-02-01  GE LightSpeed\nLOV 120 mL")
    a = axial.annotations()
    assert a["bottom_left"] == "Slice 5/12\nz −40.0 mm"  # origin z −50 + 4 × 2.5
    assert a["bottom_right"] == "W 1500  L −600"
    assert a["top_left"].startswith("2020-02-01") and a["top_right"] == "Axial"
    assert coronal.annotations()["bottom_left"].endswith("y 28.0 mm")  # 20 + 10 × 0.8


def test_set_volume_keeps_window_and_resets_slice(qtbot):
    view = make_view(qtbot)
    view.apply_preset("mediastinum")
    view.set_masks(np.ones(SHAPE, np.uint8), None)
    view.set_slice(2)
    view.set_cursor_lps((0.0, 30.0, -45.0))
    view.set_volume(ramp_volume(shape=(30, 20, 24)))
    assert view.window_level() == (400.0, 40.0) and view.slice_index() == 15
    assert view.cursor_lps() is None
    plain = pixels(view.render_image())
    assert (plain[..., 0] == plain[..., 2]).all()  # the masks of the old exam are gone
    eight_bit = Volume(np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6), is_hu=False)
    view.set_volume(eight_bit)
    assert view.window_level() == (119.0, 59.5)  # non-HU data: full range


# ------------------------------------------------------------ overlays
def test_overlay_colours_where_the_masks_are(qtbot, phantom):
    ct, lesion, lung = phantom.ct, phantom.lesion.array, phantom.lung.array
    z, _ = display.key_slices(lesion, lung)
    view = make_view(qtbot, "axial", ct)
    view.set_masks(lesion, lung)
    view.set_slice(z)
    rgb = pixels(view.render_image()).astype(int)
    hu = ct.array[z]
    opacity = lesion[z] > 0
    high = opacity & (hu > -200)
    low = opacity & ~high
    assert low.any() and high.any()
    grey = rgb[..., 0] == rgb[..., 2]
    assert not grey[opacity].any()
    edges = display.mask_edges(lung[z])
    assert grey[~opacity & ~edges].all()
    assert (rgb[edges & ~opacity] == display.COLOURS["lung"]).all()
    amber, magenta = rgb[low & ~edges], rgb[high & ~edges]  # the lung contour is on top
    assert (amber[:, 0] > amber[:, 1]).all() and (amber[:, 1] > amber[:, 2]).all()
    assert (magenta[:, 2] > magenta[:, 1]).all()

    view.set_overlay_style("contour", show_lung=False, show_high=False)
    rgb = pixels(view.render_image()).astype(int)
    coloured = rgb[..., 0] != rgb[..., 2]
    assert (coloured == display.mask_edges(opacity)).all()
    view.set_overlay_style("none", show_lung=False)
    rgb = pixels(view.render_image())
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_alpha_changes_the_fill(qtbot, phantom):
    z, _ = display.key_slices(phantom.lesion.array)
    view = make_view(qtbot, "axial", phantom.ct)
    view.set_masks(phantom.lesion, phantom.lung)  # Volumes are accepted too
    view.set_slice(z)
    styles: list[tuple] = []
    view.overlay_style_changed.connect(lambda *s: styles.append(s))
    opacity = phantom.lesion.array[z] > 0
    faint = pixels(view.render_image())
    view.set_overlay_style("fill", alpha=0.9)
    strong = pixels(view.render_image())
    assert styles == [("fill", 0.9, True, True)]
    diff = np.abs(strong.astype(int) - faint.astype(int)).sum(axis=2)
    under_lung_contour = display.mask_edges(phantom.lung.array[z])
    assert (diff[opacity & ~under_lung_contour] > 0).all() and (diff[~opacity] == 0).all()


def test_grey_slice_is_cached_when_only_overlays_change(qtbot, monkeypatch):
    view = make_view(qtbot)
    view.set_masks(np.ones(SHAPE, np.uint8), np.ones(SHAPE, np.uint8))
    calls: list[int] = []
    original = display.window_to_uint8
    monkeypatch.setattr(display, "window_to_uint8",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    view.render_image()
    view.set_overlay_style("contour")
    view.render_image()
    view.set_overlay_style("fill", alpha=0.2, show_lung=False)
    view.grab()
    assert len(calls) == 1
    view.set_window(1000, -500)
    view.render_image()
    assert len(calls) == 2


def test_extra_overlay_provider(qtbot):
    view = make_view(qtbot)
    asked: list[tuple[str, int]] = []

    def provider(plane: str, index: int):
        asked.append((plane, index))
        if index != 6:
            return None
        rgba = np.zeros((20, 24, 4), np.uint8)
        rgba[2:5, 3:9] = (255, 0, 0, 255)
        return rgba

    view.set_extra_overlay(provider)
    rgb = pixels(view.render_image())
    assert asked == [("axial", 6)]
    assert (rgb[2:5, 3:9] == (255, 0, 0)).all() and (rgb[10, 10, 0] == rgb[10, 10, 2])
    view.set_slice(7)
    assert (pixels(view.render_image())[..., 0] == pixels(view.render_image())[..., 2]).all()
    view.set_extra_overlay(lambda plane, index: np.zeros((3, 3, 4), np.uint8))  # wrong shape
    view.grab()  # ignored, no crash
    half = np.zeros((20, 24, 4), np.uint8)
    half[0, 0] = (0, 0, 255, 128)
    view.set_extra_overlay(half)  # an array: on the current slice (7) only
    assert pixels(view.render_image())[0, 0, 2] > 150
    view.set_slice(6)
    assert pixels(view.render_image())[0, 0, 2] == pixels(view.render_image())[0, 0, 0]
    view.set_extra_overlay(None)


def test_screenshot_of_a_pane(qtbot, phantom, tmp_path):
    view = make_view(qtbot, "coronal", phantom.ct, size=(360, 260))
    view.set_masks(phantom.lesion, phantom.lung)
    view.set_label("2020-02-01  Synthetic CT")
    path = tmp_path / "coronal.png"
    assert view.grab().save(str(path))
    shot = pixels(QImage(str(path))).astype(int)
    assert shot.shape == (260, 360, 3)
    assert shot[:, :20].max() > 150  # the 'R' letter on the dark left margin


def test_many_signals_and_repaints_do_not_abort_python(tmp_path):
    """PySide6 6.12.0 on Python < 3.12 drops a reference to None/True per void call/emit; the
    guard in app.views.slice_view keeps CPython from aborting after a few thousand of them."""
    script = tmp_path / "many.py"
    script.write_text(
        "import numpy as np\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from app.views.slice_view import SliceView\n"
        "from scoat_core.volume import Volume\n"
        "app = QApplication([])\n"
        "view = SliceView()\n"
        "view.set_volume(Volume(np.zeros((4, 8, 8), np.int16)))\n"
        "for k in range(12000):\n"
        "    view.set_window(100 + k % 7, 0)\n"
        "    view.update()\n"
        "print('ok')\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-500:]
