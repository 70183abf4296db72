"""3-D view: a clear message where VTK cannot run, and an offscreen render of a phantom."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from app.views import view3d
from app.views.view3d import View3D, View3DUnavailableError, render_offscreen
from scoat_core.phantom import make_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(matrix=96, z_extent_mm=160, slice_spacing_mm=4, slice_thickness_mm=4)


def _amber(rgb: np.ndarray) -> np.ndarray:
    """Pixels of the opacity colour (amber, shaded and seen through the lung haze)."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > 120) & (r > b + 60) & (g > b + 20)


def _missing_vtk():
    raise ImportError("No module named 'vtkmodules'")


def test_message_instead_of_view_when_vtk_is_missing(qtbot, monkeypatch, phantom):
    monkeypatch.setattr(view3d, "_vtk", _missing_vtk)
    view = View3D()
    qtbot.addWidget(view)
    view.show()
    view.set_masks(phantom.lung.array, phantom.lesion.array, phantom.ct.spacing)
    assert not view.available
    assert view.message.isVisible()
    assert view.message.text() == ("3-D view unavailable: VTK is not installed "
                                   "(No module named 'vtkmodules')")
    with pytest.raises(View3DUnavailableError, match="VTK is not installed"):
        render_offscreen(phantom.lung.array, phantom.lesion.array, phantom.ct.spacing)


def test_message_on_a_qt_platform_without_opengl_windows(qtbot, monkeypatch, phantom):
    pytest.importorskip("vtkmodules", reason="VTK is not installed")
    monkeypatch.setattr(view3d.QGuiApplication, "platformName", staticmethod(lambda: "offscreen"))
    view = View3D()
    qtbot.addWidget(view)
    view.set_masks(phantom.lung.array, phantom.lesion.array, phantom.ct.spacing)
    assert view.message.text() == "3-D view: shown when this pane is opened."  # built lazily
    view.show()
    assert not view.available
    assert view.message.text().startswith("3-D view unavailable: no OpenGL window on the Qt "
                                          "platform 'offscreen'")


def test_offscreen_render_shows_opacity_with_patient_right_on_screen_left(phantom):
    pytest.importorskip("vtkmodules", reason="VTK is not installed")
    lung, lesion = phantom.lung.array, phantom.lesion.array
    try:
        rgb = render_offscreen(lung, lesion, phantom.ct.spacing, size=(240, 200),
                               direction=phantom.ct.direction, origin=phantom.ct.origin)
    except View3DUnavailableError as exc:
        pytest.skip(f"no offscreen OpenGL here: {exc}")
    assert rgb.shape == (200, 240, 3) and rgb.dtype == np.uint8
    assert rgb.reshape(-1, 3).std(axis=0).min() > 5  # not a uniform image
    assert _amber(rgb).sum() > 50
    from PySide6.QtGui import QImage

    QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0],
           QImage.Format.Format_RGB888).save("/tmp/scoat_view3d_test.png")

    # the right lung (label 1) drawn as "opacity" must appear on the screen's left half
    right = render_offscreen(lung, lung == 1, phantom.ct.spacing, size=(120, 100))
    xs = np.nonzero(_amber(right))[1]
    assert xs.size > 50 and np.median(xs) < 60

    empty = render_offscreen(np.zeros_like(lung), np.zeros_like(lesion), phantom.ct.spacing,
                             size=(60, 60))
    assert empty.reshape(-1, 3).std(axis=0).max() < 1  # background only
