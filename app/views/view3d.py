"""3-D view of the lungs (translucent) and the opacification (solid) with VTK.

Surfaces come from marching cubes (``vtkFlyingEdges3D``) on masks reduced to about
``TARGET_VOXEL_MM`` voxels and lightly smoothed, placed in patient LPS millimetres with the
volume's spacing, direction and origin. The default camera looks at the patient from the front
(patient right on the screen's left, as the coronal slices).

VTK is imported lazily (on first show / ``set_masks``). Where it cannot run — not installed, a
Qt platform without a native window for OpenGL (offscreen, Wayland without XWayland) — the pane
shows "3-D view unavailable: <reason>" instead. :func:`render_offscreen` renders the same scene
to an RGB array without a window (EGL or OSMesa on headless Linux) for tests and exports.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QShowEvent
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from scoat_core.display import COLOURS

log = logging.getLogger(__name__)

#: Voxel size (mm) the masks are reduced to before marching cubes: quick, smooth enough.
TARGET_VOXEL_MM = 2.5
LUNG_OPACITY = 0.18
BACKGROUND = (0.08, 0.08, 0.10)
#: Qt platforms whose windows VTK can draw into.
NATIVE_GL_PLATFORMS = {"xcb", "windows", "cocoa"}


class View3DUnavailableError(RuntimeError):
    """VTK cannot render here; ``str()`` says why."""


def _vtk() -> Any:
    """The VTK modules used here (raises ImportError when VTK is missing)."""
    import vtkmodules.vtkFiltersCore as filters_core
    import vtkmodules.vtkFiltersGeneral as filters_general
    import vtkmodules.vtkInteractionStyle  # registers the interactor styles
    import vtkmodules.vtkRenderingCore as rendering
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401 (registers the OpenGL back-end)
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonCore import vtkOutputWindow
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkCommonMath import vtkMatrix4x4
    from vtkmodules.vtkCommonTransforms import vtkTransform

    class V:
        pass

    v = V()
    v.core, v.general, v.rendering, v.np = filters_core, filters_general, rendering, numpy_support
    v.ImageData, v.Matrix4x4, v.Transform, v.OutputWindow = (vtkImageData, vtkMatrix4x4,
                                                             vtkTransform, vtkOutputWindow)
    return v


# -- scene (no window) -------------------------------------------------------------------------
def _reduce(mask: np.ndarray, spacing_xyz) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Block-mean of a boolean mask to about TARGET_VOXEL_MM voxels, padded by one voxel so that
    surfaces close at the border; returns (float32 [z, y, x], step per axis (z, y, x))."""
    sx, sy, sz = (float(s) for s in spacing_xyz)
    steps = tuple(max(1, round(TARGET_VOXEL_MM / s)) for s in (sz, sy, sx))
    m = np.asarray(mask, bool)
    shape = [-(-n // k) * k for n, k in zip(m.shape, steps, strict=True)]
    padded = np.zeros(shape, np.float32)
    padded[: m.shape[0], : m.shape[1], : m.shape[2]] = m
    kz, ky, kx = steps
    small = padded.reshape(shape[0] // kz, kz, shape[1] // ky, ky, shape[2] // kx, kx)
    small = small.mean(axis=(1, 3, 5))
    from scipy import ndimage

    small = ndimage.gaussian_filter(small, 0.8)
    return np.pad(small, 1), steps


def _affine(spacing_xyz, direction, origin, steps) -> np.ndarray:
    """4×4 from (reduced, padded) index (i=x, j=y, k=z) to LPS mm."""
    d = np.eye(3) if direction is None else np.asarray(direction, float).reshape(3, 3)
    o = np.zeros(3) if origin is None else np.asarray(origin, float)
    kz, ky, kx = steps
    step = np.array([kx, ky, kz], float) * np.asarray(spacing_xyz, float)
    m = np.eye(4)
    m[:3, :3] = d @ np.diag(step)
    # reduced voxel centre c ↔ original index (c - 1 + 0.5) * k - 0.5 (padding and block mean)
    offset = (np.array([0.5, 0.5, 0.5]) - 1.0) * np.array([kx, ky, kz]) - 0.5
    m[:3, 3] = o + d @ (offset * np.asarray(spacing_xyz, float))
    return m


def _surface(v: Any, mask: np.ndarray, spacing_xyz, direction, origin) -> Any | None:
    """Smoothed iso-surface (vtkPolyData in LPS mm) of a mask, or None when the mask is empty."""
    if not np.any(mask):
        return None
    field, steps = _reduce(mask, spacing_xyz)
    image = v.ImageData()
    nz, ny, nx = field.shape
    image.SetDimensions(nx, ny, nz)
    image.GetPointData().SetScalars(v.np.numpy_to_vtk(field.ravel(), deep=True))
    iso = v.core.vtkFlyingEdges3D()
    iso.SetInputData(image)
    iso.SetValue(0, 0.5)
    matrix = v.Matrix4x4()
    for r, row in enumerate(_affine(spacing_xyz, direction, origin, steps)):
        for c, value in enumerate(row):
            matrix.SetElement(r, c, float(value))
    transform = v.Transform()
    transform.SetMatrix(matrix)
    place = v.general.vtkTransformFilter()
    place.SetInputConnection(iso.GetOutputPort())
    place.SetTransform(transform)
    smooth = v.core.vtkWindowedSincPolyDataFilter()  # removes the voxel terraces
    smooth.SetInputConnection(place.GetOutputPort())
    smooth.SetNumberOfIterations(20)
    smooth.SetPassBand(0.1)
    smooth.NormalizeCoordinatesOn()
    normals = v.core.vtkPolyDataNormals()
    normals.SetInputConnection(smooth.GetOutputPort())
    normals.SetFeatureAngle(60)
    normals.Update()
    return normals.GetOutput()


def build_scene(renderer: Any, lung: np.ndarray, opacity: np.ndarray, spacing_xyz,
                direction=None, origin=None) -> int:
    """Add the lung (translucent) and opacity (solid) surfaces to ``renderer``, set an anterior
    camera; returns the number of actors added."""
    v = _vtk()
    renderer.RemoveAllViewProps()
    renderer.SetBackground(*BACKGROUND)
    renderer.SetUseDepthPeeling(1)
    renderer.SetMaximumNumberOfPeels(8)
    layers = [(np.asarray(opacity) > 0, COLOURS["opacity"], 1.0),
              (np.asarray(lung) > 0, COLOURS["lung"], LUNG_OPACITY)]
    n = 0
    for mask, colour, alpha in layers:
        poly = _surface(v, mask, spacing_xyz, direction, origin)
        if poly is None:
            continue
        mapper = v.rendering.vtkPolyDataMapper()
        mapper.SetInputData(poly)
        mapper.ScalarVisibilityOff()
        actor = v.rendering.vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*(c / 255 for c in colour))
        prop.SetOpacity(alpha)
        prop.SetSpecular(0.2 if alpha == 1.0 else 0.0)
        if alpha < 1.0:
            prop.BackfaceCullingOn()  # the far wall of the lungs would double the haze
        renderer.AddActor(actor)
        n += 1
    if n:
        from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation

        legend = vtkCornerAnnotation()
        legend.SetText(0, "Lungs: translucent blue    Opacification: amber")
        legend.SetMaximumFontSize(13)
        legend.GetTextProperty().SetColor(0.8, 0.8, 0.8)
        renderer.AddViewProp(legend)
    anterior_camera(renderer, direction)
    return n


def orientation_marker(interactor: Any) -> Any:
    """A small cube labelled with the patient directions (R/L, A/P, S/I) in the lower-left
    corner that turns with the scene; keep a reference to the returned widget."""
    from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
    from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor

    cube = vtkAnnotatedCubeActor()  # faces on the LPS axes
    for face, text in (("XPlus", "L"), ("XMinus", "R"), ("YPlus", "P"), ("YMinus", "A"),
                       ("ZPlus", "S"), ("ZMinus", "I")):
        getattr(cube, f"Set{face}FaceText")(text)
    cube.SetFaceTextScale(0.6)
    cube.GetCubeProperty().SetColor(0.25, 0.25, 0.3)
    cube.GetTextEdgesProperty().SetColor(0.6, 0.6, 0.6)
    marker = vtkOrientationMarkerWidget()
    marker.SetOrientationMarker(cube)
    marker.SetInteractor(interactor)
    marker.SetViewport(0.0, 0.06, 0.16, 0.24)
    marker.SetEnabled(1)
    marker.InteractiveOff()
    return marker


def anterior_camera(renderer: Any, direction=None) -> None:
    """Look at the patient from the front, head up (patient right on the screen's left)."""
    camera = renderer.GetActiveCamera()
    renderer.ResetCamera()
    focal = np.array(camera.GetFocalPoint())
    distance = camera.GetDistance()
    camera.SetPosition(*(focal + np.array([0.0, -distance, 0.0])))  # anterior is −y in LPS
    camera.SetViewUp(0.0, 0.0, 1.0)
    renderer.ResetCamera()
    camera.Zoom(1.3)
    renderer.ResetCameraClippingRange()


# -- offscreen ---------------------------------------------------------------------------------
class _VtkMessages:
    """Collects VTK's warnings and errors (instead of printing them) while active."""

    def __init__(self, v: Any) -> None:
        from vtkmodules.vtkCommonCore import vtkStringOutputWindow

        self.v, self.window = v, vtkStringOutputWindow()

    def __enter__(self) -> _VtkMessages:
        self.previous = self.v.OutputWindow.GetInstance()
        self.v.OutputWindow.SetInstance(self.window)
        return self

    def __exit__(self, *exc: object) -> None:
        self.v.OutputWindow.SetInstance(self.previous)

    def text(self) -> str:
        lines = [ln.strip() for ln in self.window.GetOutput().splitlines() if ln.strip()]
        return lines[-1][:200] if lines else ""


def _offscreen_window(v: Any) -> Any:
    """An offscreen render window: EGL, then OSMesa on Linux without a display; the default
    (native) window elsewhere."""
    headless = sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
    if headless:
        import vtkmodules.vtkRenderingOpenGL2 as gl

        for name in ("vtkEGLRenderWindow", "vtkOSOpenGLRenderWindow"):
            cls = getattr(gl, name, None)
            if cls is None:
                continue
            window = cls()
            window.SetOffScreenRendering(1)
            if window.SupportsOpenGL():
                return window
        raise View3DUnavailableError("no offscreen OpenGL (EGL or OSMesa) on this machine")
    window = v.rendering.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    return window


def render_offscreen(lung: np.ndarray, opacity: np.ndarray, spacing_xyz,
                     size: tuple[int, int] = (400, 400), direction=None,
                     origin=None) -> np.ndarray:
    """The 3-D scene as an RGB uint8 array (height, width, 3) rendered without a window.

    Raises :class:`View3DUnavailableError` (VTK missing, no offscreen OpenGL)."""
    try:
        v = _vtk()
    except ImportError as exc:
        raise View3DUnavailableError(f"VTK is not installed ({exc})") from exc
    with _VtkMessages(v) as messages:
        window = _offscreen_window(v)
        window.SetSize(int(size[0]), int(size[1]))
        renderer = v.rendering.vtkRenderer()
        window.AddRenderer(renderer)
        window.SetAlphaBitPlanes(1)
        window.SetMultiSamples(0)  # depth peeling needs no multisampling
        build_scene(renderer, lung, opacity, spacing_xyz, direction, origin)
        window.Render()
        grab = v.rendering.vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        image = grab.GetOutput()
        width, height, _ = image.GetDimensions()
        scalars = image.GetPointData().GetScalars()
        if scalars is None or width * height == 0:
            reason = messages.text() or "the offscreen render produced no image"
            raise View3DUnavailableError(reason)
        rgb = v.np.vtk_to_numpy(scalars).reshape(height, width, -1)[::-1, :, :3].copy()
        window.Finalize()
    return rgb


# -- widget ------------------------------------------------------------------------------------
class View3D(QWidget):
    """Interactive 3-D pane (rotate: left drag, zoom: wheel / right drag, pan: middle drag)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = QLabel("No analysis to show in 3-D yet.")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #bbb; background: #141419; padding: 12px")
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.message)
        self.vtk_widget: Any = None
        self.renderer: Any = None
        self.unavailable_reason = ""
        self._pending: tuple | None = None
        self._direction = None
        self._marker: Any = None

    # -- public -----------------------------------------------------------------------------
    def set_masks(self, lung: np.ndarray, opacity: np.ndarray, spacing_xyz,
                  direction=None, origin=None) -> None:
        """Show these masks ([z, y, x], any integer labels; > 0 is inside)."""
        self._pending = (lung, opacity, tuple(spacing_xyz), direction, origin)
        if self.isVisible() or self.vtk_widget is not None:
            self._show_pending()
        elif not self.unavailable_reason:
            self.message.setText("3-D view: shown when this pane is opened.")

    def clear(self) -> None:
        self._pending = None
        if self.renderer is not None:
            self.renderer.RemoveAllViewProps()
            self.vtk_widget.GetRenderWindow().Render()

    def reset_view(self) -> None:
        """Back to the anterior view."""
        if self.renderer is not None:
            anterior_camera(self.renderer, self._direction)
            self.vtk_widget.GetRenderWindow().Render()

    @property
    def available(self) -> bool:
        return self.vtk_widget is not None

    def snapshot(self) -> QImage | None:
        """The rendered scene as a QImage (``QWidget.grab`` cannot read an OpenGL window)."""
        if self.vtk_widget is None or self._stack.currentWidget() is not self.vtk_widget:
            return None
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

        window = self.vtk_widget.GetRenderWindow()
        window.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.ReadFrontBufferOff()
        grab.Update()
        data = grab.GetOutput()
        w, h, _ = data.GetDimensions()
        pixels = vtk_to_numpy(data.GetPointData().GetScalars()).reshape(h, w, -1)[::-1, :, :3]
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        return QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()

    # -- internals --------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._pending is not None:
            self._show_pending()

    def _show_pending(self) -> None:
        if not self._ensure_vtk():
            return
        lung, opacity, spacing, direction, origin = self._pending
        self._pending = None
        self._direction = direction
        try:
            n = build_scene(self.renderer, lung, opacity, spacing, direction, origin)
        except Exception as exc:  # VTK pipeline errors: keep the app running
            log.exception("3-D scene failed")
            self._unavailable(f"{type(exc).__name__}: {exc}")
            return
        if n == 0:
            self.message.setText("Nothing to show in 3-D: the masks are empty.")
            self._stack.setCurrentWidget(self.message)
            return
        self._stack.setCurrentWidget(self.vtk_widget)
        self.vtk_widget.GetRenderWindow().Render()

    def _ensure_vtk(self) -> bool:
        if self.vtk_widget is not None:
            return True
        if self.unavailable_reason:
            return False
        try:
            v = _vtk()
            from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
            from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
        except ImportError as exc:
            return self._unavailable(f"VTK is not installed ({exc})")
        platform = QGuiApplication.platformName()
        if platform not in NATIVE_GL_PLATFORMS:  # VTK would draw into a window that is not there
            hint = " (try QT_QPA_PLATFORM=xcb)" if platform.startswith("wayland") else ""
            return self._unavailable(f"no OpenGL window on the Qt platform '{platform}'{hint}")
        try:
            with _VtkMessages(v) as messages:
                widget = QVTKRenderWindowInteractor(self)
                window = widget.GetRenderWindow()
                if hasattr(window, "SupportsOpenGL") and not window.SupportsOpenGL():
                    raise View3DUnavailableError(messages.text() or "OpenGL 3.2 is not available")
                window.SetAlphaBitPlanes(1)  # depth peeling (translucent lungs) needs both
                window.SetMultiSamples(0)
                renderer = v.rendering.vtkRenderer()
                window.AddRenderer(renderer)
                widget.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
                widget.Initialize()
                self._marker = orientation_marker(widget)
        except Exception as exc:
            return self._unavailable(str(exc) or type(exc).__name__)
        self.vtk_widget, self.renderer = widget, renderer
        self._stack.addWidget(widget)
        return True

    def _unavailable(self, reason: str) -> bool:
        self.unavailable_reason = reason
        self.message.setText(f"3-D view unavailable: {reason}")
        self._stack.setCurrentWidget(self.message)
        log.info("3-D view unavailable: %s", reason)
        return False
