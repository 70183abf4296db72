"""PNG figures and mask exports as the user makes them, from the File menu (issue 15): the PNG
is rendered at the preferences' DPI with a header, a legend and a scale bar; the masks are the
files ``scoat analyze`` writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtGui import QImage

from scoat_core import display
from scoat_core.report.figure import scale_bar
from tests.app.patients import click_item, click_tab
from tests.app.test_main_window import wait_idle
from tests.app.test_menu_actions import PATIENT, action, patient_dir  # noqa: F401

PNG_ACTION = "&Export current view as PNG…"
MASKS_ACTION = "Export &masks (NIfTI + DICOM SEG)…"
DPI = 200  # not a multiple of 96: sizes are rounded, not truncated


@pytest.fixture
def window(analysed_window, patient_dir):  # noqa: F811
    """The first exam analysed (open in the Viewer), the second not."""
    return analysed_window(patient_dir, PATIENT, 0, skip={(PATIENT, 1)})


@pytest.fixture
def window_both(analysed_window, patient_dir):  # noqa: F811
    """Both exams analysed: Compare shows them."""
    return analysed_window(patient_dir, PATIENT, 0)


def save_png_to(monkeypatch, path: Path) -> list[str]:
    """The save dialog answers ``path``; returns the default file names it was offered."""
    import app.main_window as main_window

    offered: list[str] = []

    def answer(_parent, _title, name="", *_args, **_kwargs):
        offered.append(name)
        return str(path), ""

    monkeypatch.setattr(main_window.QFileDialog, "getSaveFileName", staticmethod(answer))
    return offered


def as_array(image: QImage) -> np.ndarray:
    """RGB uint8 [rows, cols, 3] of a QImage."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    row = rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), np.uint8, rgb.height() * row)
    return buf.reshape(rgb.height(), row)[:, : 3 * rgb.width()].reshape(
        rgb.height(), rgb.width(), 3).copy()


def longest_white_run(pixels: np.ndarray) -> int:
    """Longest horizontal run of near-white pixels in any row."""
    white = np.all(pixels >= 225, axis=-1)
    best = 0
    for row in white:
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if len(starts):
            best = max(best, int((ends - starts).max()))
    return best


def test_viewer_png_is_a_figure_rendered_at_the_dpi(qtbot, window, tmp_path, monkeypatch):
    from app.export.figure import render_viewer_figure

    window.prefs.export_dpi = DPI
    click_tab(qtbot, window, "Viewer")
    data = window.exam_data
    png = tmp_path / "viewer.png"
    offered = save_png_to(monkeypatch, png)
    action(window, PNG_ACTION).trigger()
    assert not window.errors, window.errors
    date = data["exam"].study_date.isoformat()
    panes = window.viewer.visible_panes()
    view = "-".join(p.plane for p in panes)
    assert offered == [f"{PATIENT}_{date}_{view}.png"]

    image = QImage(str(png))
    scale = DPI / 96
    assert image.dotsPerMeterX() == image.dotsPerMeterY() == round(DPI / 0.0254)
    left = panes[0].mapTo(window.viewer, panes[0].rect().topLeft()).x()
    right = panes[-1].mapTo(window.viewer, panes[-1].rect().topLeft()).x() + panes[-1].width()
    assert image.width() == round((right - left) * scale)  # the panes' on-screen size × dpi/96
    header, _name = window._png_header(window.viewer)
    metrics = data["analysis"].metrics
    assert header[0].startswith(PATIENT)
    assert header[1].startswith(f"Exam {date}")
    assert header[2] == f"LOV {metrics['lov_ml']:.1f} mL · PO {metrics['po_percent']:.1f} %"
    figure = render_viewer_figure(window.viewer, header, window._png_legend(), DPI)
    assert figure.panes.width() == right - left
    assert figure.panes.height() == max(p.height() for p in panes)
    assert image.size() == figure.image.size()
    logical_h = figure.header_height + figure.panes.height() + figure.footer_height
    assert image.height() == round(logical_h * scale)
    pixels = as_array(image)
    top = round(figure.header_height * scale)
    assert longest_white_run(pixels[:top]) > 0  # the header's text is drawn
    legend = window._png_legend()
    assert [e.rgb for e in legend] == [display.COLOURS[k] for k in ("opacity", "high", "lung")]
    alpha = window.viewer.axial.overlay_style()[1]  # fills blended over grey, as on the CT
    width, level = window.viewer.axial.window_level()
    greys = [int(display.window_to_uint8(np.array([e.typical_hu or 0.0]), width, level)[0])
             for e in legend]
    swatches = [tuple(round(c * alpha + g * (1 - alpha)) for c in e.rgb)
                if e.kind == "fill" else e.rgb for e, g in zip(legend, greys, strict=True)]
    for colour in swatches:  # each swatch in the header, in the viewer's colour
        assert np.any(np.all(np.abs(pixels[:top].astype(int) - colour) <= 2, axis=-1)), colour

    # the axial pane's scale bar: mm / pixel spacing × on-screen pixels per CT pixel × dpi/96
    axial = window.viewer.axial
    spacing_x = display.pixel_size_mm(data["volume"].spacing, "axial")[1]
    px_per_mm = axial.view_transform().m11() / spacing_x
    bar = scale_bar(px_per_mm, axial.width() * 0.3)
    placed = next(b for b in figure.bars if b.plane == "axial")
    assert placed.bar.mm == bar.mm and placed.bar.label == f"{bar.mm:g} mm"
    expected = bar.mm / spacing_x * axial.view_transform().m11() * scale
    footer = pixels[round((figure.header_height + figure.panes.height()) * scale):]
    axial_columns = footer[:, : round(axial.width() * scale)]
    assert abs(longest_white_run(axial_columns) - expected) <= 1.0
    assert axial.label() and PATIENT in axial.label()  # the pane's own label is back


def test_anonymised_png_names_no_patient(qtbot, window, tmp_path, monkeypatch):
    window.prefs.anonymise_reports = True
    window.prefs.export_dpi = 96
    png = tmp_path / "anonymous.png"
    offered = save_png_to(monkeypatch, png)
    action(window, PNG_ACTION).trigger()
    assert offered and offered[0].startswith("anonymised_") and PATIENT not in offered[0]
    header, _ = window._png_header(window.viewer)
    assert header[0] == "Anonymised" and not any(PATIENT in line for line in header)
    assert QImage(str(png)).width() > 0
    for tab, view in (("Timeline", "timeline"), ("Compare", "comparison")):
        click_tab(qtbot, window, tab)
        wait_idle(qtbot, window)
        header, name = window._png_header(window.tabs.currentWidget())
        assert name.startswith("anonymised_") and name.endswith(f"_{view}.png"), name
        assert header[0] == "Anonymised"


def test_anonymised_comparison_png_names_no_patient(qtbot, window_both, tmp_path,
                                                   monkeypatch):
    window = window_both
    window.prefs.anonymise_reports = True
    click_tab(qtbot, window, "Compare")
    wait_idle(qtbot, window)
    assert window.comparison is not None and not window.comparison.isHidden()
    drawn: list[str] = []
    render = window.comparison.render_image

    def spy(*args, **kwargs):
        drawn.extend(pane.label() for pane in window.comparison.panes())
        return render(*args, **kwargs)

    monkeypatch.setattr(window.comparison, "render_image", spy)
    png = tmp_path / "compare.png"
    offered = save_png_to(monkeypatch, png)
    action(window, PNG_ACTION).trigger()
    assert not window.errors, window.errors
    assert offered[0].startswith("anonymised_") and offered[0].endswith("_comparison.png")
    assert len(drawn) == 2 and all(label and PATIENT not in label for label in drawn), drawn
    assert all(PATIENT in pane.label() for pane in window.comparison.panes())  # restored
    assert QImage(str(png)).height() > render().height()  # the header above


def test_timeline_png_has_the_header_and_default_name(qtbot, window, tmp_path, monkeypatch):
    window.prefs.export_dpi = DPI
    click_tab(qtbot, window, "Timeline")
    png = tmp_path / "timeline.png"
    offered = save_png_to(monkeypatch, png)
    action(window, PNG_ACTION).trigger()
    assert offered[0].startswith(f"{PATIENT}_") and offered[0].endswith("_timeline.png")
    plain = window.plot.export_image(DPI, title=False)
    image = QImage(str(png))
    assert image.width() == plain.width() and image.height() > plain.height()
    assert image.dotsPerMeterX() == round(DPI / 0.0254)


def test_export_masks_from_the_menu(qtbot, window, tmp_path, monkeypatch):
    import SimpleITK as sitk

    import app.main_window as main_window
    from scoat_core.analysis.quantify import counted_opacity

    out = tmp_path / "masks"
    out.mkdir()
    monkeypatch.setattr(main_window.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(out)))
    action(window, MASKS_ACTION).trigger()
    wait_idle(qtbot, window)
    assert not window.errors, window.errors
    names = {p.name for p in out.iterdir()}
    assert names == {"lung_mask.nii.gz", "opacity_mask.nii.gz", "metrics.json", "metrics.csv",
                     "analysis_seg.dcm"}
    lung, opacity = window.exam_arrays()
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "lung_mask.nii.gz")))
    np.testing.assert_array_equal(written, lung)
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "opacity_mask.nii.gz")))
    np.testing.assert_array_equal(written, counted_opacity(lung, opacity).astype(np.uint8))
    spacing = sitk.ReadImage(str(out / "lung_mask.nii.gz")).GetSpacing()
    assert np.allclose(spacing, window.exam_data["volume"].spacing)


def test_export_masks_says_what_is_wrong(qtbot, window, tmp_path, monkeypatch):
    import app.main_window as main_window

    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    monkeypatch.setattr(main_window.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(not_a_folder)))
    action(window, MASKS_ACTION).trigger()
    wait_idle(qtbot, window)
    assert len(window.errors) == 1
    assert str(not_a_folder) in window.errors[0] and "is a file" in window.errors[0]
    assert "Unexpected" not in window.errors[0] and "Traceback" not in window.errors[0]

    window.errors.clear()
    click_item(qtbot, window, PATIENT, 1)  # not analysed
    wait_idle(qtbot, window)
    action(window, MASKS_ACTION).trigger()
    wait_idle(qtbot, window)
    assert window.errors == ["Export masks: This exam is not analysed yet: analyse it first "
                             "(Analysis menu)."]
