"""ComparisonView: linked panes on the same anatomy, labels, change map, layouts, W/L, export."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from app.views.comparison import ComparisonView, TimePoint
from scoat_core import display
from scoat_core.followup.comparison import compute_registrations, slice_through
from scoat_core.phantom import make_timeline

SMALL = {"matrix": 64, "slice_spacing_mm": 5.0, "slice_thickness_mm": 5.0}


def pixels(image: QImage) -> np.ndarray:
    """RGB uint8 [rows, cols, 3] copy of a QImage."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


@pytest.fixture(scope="module")
def timeline():
    """Three exams (true LOV about 100 → 320 → 160 mL), the patient shifted between them."""
    exams = make_timeline(3, seed=0, **SMALL)
    points = [TimePoint(i, f"Exam {i + 1}", e.ct, e.lung.array, e.lesion.array,
                        {"lov_ml": e.truth.lesion_ml_total,
                         "po_percent": e.truth.percent_involved})
              for i, e in enumerate(exams)]
    return exams, points, compute_registrations(points)


def shift(exams, i: int) -> np.ndarray:
    """Baseline LPS → exam i LPS of the same anatomy (phantom truth)."""
    return np.subtract(exams[i].spec.shift_mm, exams[0].spec.shift_mm)


def make_view(qtbot, points, regs, size=(1200, 420)) -> ComparisonView:
    view = ComparisonView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.set_time_points(points, regs)
    view.show()
    qtbot.waitExposed(view)
    return view


def click_lps(pane, lps) -> None:
    """Go to the slice through ``lps`` and left-click the pixel there."""
    vol = pane.volume()
    x, y, z = vol.lps_to_index(np.asarray(lps, float))
    index, row, col = display.voxel_to_slice(pane.plane, (z, y, x), vol.shape)
    pane.set_slice(index)
    QTest.mouseClick(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pane.map_from_pixel(row, col).toPoint())


def test_click_in_the_baseline_lands_on_the_same_anatomy_in_every_follow_up(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    base, *follow = view.panes()
    landmark = np.add(exams[0].lesions[0].center_mm, exams[0].spec.shift_mm)  # a lesion centre
    with qtbot.waitSignal(view.exam_focused) as focused:
        click_lps(base, landmark)
    assert focused.args == [0]
    clicked = np.array(base.cursor_lps())
    assert np.linalg.norm(clicked - landmark) < 4  # within the 5 mm slice
    assert np.allclose(view.baseline_cursor(), clicked)
    for i, pane in enumerate(follow, start=1):
        expected = clicked + shift(exams, i)  # the landmark in that exam's own coordinates
        assert np.linalg.norm(shift(exams, i)) > 3
        assert np.linalg.norm(np.array(pane.cursor_lps()) - expected) < 3.0
        assert abs(pane.slice_index() - slice_through(pane.volume(), "axial", expected)) <= 1
    assert base.cursor_lps() == tuple(clicked)  # no echo back into the clicked pane


def test_click_in_a_follow_up_maps_back_to_the_baseline(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    target = np.add(exams[2].lesions[1].center_mm, exams[2].spec.shift_mm)
    with qtbot.waitSignal(view.exam_focused) as focused:
        click_lps(view.panes()[2], target)
    assert focused.args == [2]
    clicked = np.array(view.panes()[2].cursor_lps())
    in_baseline = clicked - shift(exams, 2)
    assert np.linalg.norm(np.array(view.baseline_cursor()) - in_baseline) < 3.0
    assert np.linalg.norm(np.array(view.panes()[0].cursor_lps()) - in_baseline) < 3.0
    expected_1 = in_baseline + shift(exams, 1)
    assert np.linalg.norm(np.array(view.panes()[1].cursor_lps()) - expected_1) < 3.0


def test_scrolling_one_pane_moves_the_others_to_the_same_anatomy(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    base = view.panes()[0]
    for index in (18, 30, 31):
        base.set_slice(index)  # as a wheel step does: slice_changed
        assert base.slice_index() == index  # not moved back by the linked panes
        centre_z = base.slice_position_mm()
        for i in (1, 2):
            pane = view.panes()[i]
            expected_z = centre_z + shift(exams, i)[2]
            assert abs(pane.slice_position_mm() - expected_z) <= 5.0 / 2 + 1.0
    view.panes()[1].step(-3)  # scrolling a follow-up moves the baseline too
    expected_base = view.panes()[1].slice_position_mm() - shift(exams, 1)[2]
    assert abs(base.slice_position_mm() - expected_base) <= 3.5


def test_initial_slices_show_the_baseline_key_slice_and_the_same_anatomy(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    key_z, _ = display.key_slices(exams[0].lesion.array, exams[0].lung.array)
    assert view.panes()[0].slice_index() == key_z
    z0 = view.panes()[0].slice_position_mm()
    assert abs(view.panes()[1].slice_position_mm() - (z0 + shift(exams, 1)[2])) <= 3.5


def test_labels_show_date_scanner_lov_and_po(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    labels = [p.label() for p in view.panes()]
    assert labels[0].startswith("2020-02-01 · baseline\nSIEMENS SOMATOM Definition AS\n")
    assert labels[1].startswith("2020-02-06 · day 5\nGE LightSpeed VCT\n")
    for label, exam in zip(labels, exams, strict=True):
        assert f"LOV {exam.truth.lesion_ml_total:.1f} mL" in label
        assert f"PO {exam.truth.percent_involved:.1f} %" in label
        assert "not registered" not in label


def test_missing_registration_passes_lps_through_and_says_so(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, {2: regs[2]})
    assert "not registered" in view.panes()[1].label()
    assert "not registered" not in view.panes()[2].label()
    point = np.add(exams[0].lesions[0].center_mm, exams[0].spec.shift_mm)
    view.go_to_baseline_point(point)
    assert np.allclose(view.panes()[1].cursor_lps(), point)  # identity
    assert np.linalg.norm(np.array(view.panes()[2].cursor_lps()) - (point + shift(exams, 2))) < 3


def test_window_level_and_overlay_style_are_linked(qtbot, timeline):
    _, points, regs = timeline
    view = make_view(qtbot, points, regs)
    view.panes()[1].apply_preset("mediastinum")
    assert [p.window_level() for p in view.panes()] == [(400.0, 40.0)] * 3
    view.panes()[0].set_window(900, -300)
    assert [p.window_level() for p in view.panes()] == [(900.0, -300.0)] * 3
    view.panes()[2].set_overlay_style("contour", 0.45, False, True)
    assert all(p.overlay_style() == ("contour", 0.45, False, True) for p in view.panes())
    view.set_plane("coronal")  # new panes keep the shared window and style
    assert [p.window_level() for p in view.panes()] == [(900.0, -300.0)] * 3
    assert view.panes()[1].overlay_style()[0] == "contour"


def _blend(gray: np.ndarray, colour, alpha: float) -> np.ndarray:
    return np.rint(gray[..., None] * (1 - alpha) + np.asarray(colour, float) * alpha)


def test_change_map_draws_new_opacity_red_in_the_follow_up(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    assert view.change_labels(0) is None  # nothing to compare the baseline with
    view.set_change_map(True)
    assert view.change_toggle.isChecked()
    labels = view.change_labels(1)
    pane = view.panes()[1]
    z = int((labels == 1).sum(axis=(1, 2)).argmax())  # the slice with the most new opacity
    pane.set_slice(z)
    rgb = pixels(pane.render_image(physical_aspect=False)).astype(float)
    gray = display.window_to_uint8(exams[1].ct.array[z], *pane.window_level()).astype(float)
    lung_edge = display.mask_edges(exams[1].lung.array[z])
    new = (labels[z] == 1) & ~lung_edge
    persistent = (labels[z] == 3) & ~lung_edge
    assert new.sum() > 10
    red = _blend(gray, display.COLOURS["new"], 0.6)
    match = np.all(np.abs(rgb - red) <= 1, axis=-1)
    assert match[new].mean() > 0.95 and match[~new & ~lung_edge].mean() < 0.02
    if persistent.any():
        amber = _blend(gray, display.COLOURS["persistent"], 0.6)
        assert np.all(np.abs(rgb - amber) <= 1, axis=-1)[persistent].mean() > 0.95
    assert "no change map" not in pane.label()
    view.set_change_map(False)  # back to the exam's own opacity overlay
    assert not view.change_toggle.isChecked()
    rgb_off = pixels(pane.render_image(physical_aspect=False)).astype(float)
    assert np.all(np.abs(rgb_off - red) <= 1, axis=-1)[new].mean() < 0.05
    assert np.abs(rgb_off - rgb)[new].max() > 30


def test_change_map_needs_a_registration(qtbot, timeline):
    _, points, regs = timeline
    view = make_view(qtbot, points, {1: regs[1]})
    view.set_change_map(True)
    assert view.change_labels(1) is not None and view.change_labels(2) is None
    assert "no change map" in view.panes()[2].label()
    assert "no change map" not in view.panes()[1].label()
    first = view.change_labels(1)
    view.set_plane("coronal")
    assert view.change_labels(1) is first  # cached per pair


@pytest.mark.parametrize(("n", "shape"), [(2, (1, 2)), (3, (1, 3)), (4, (2, 2))])
def test_layouts(qtbot, timeline, n, shape):
    _, points, regs = timeline
    points = [*points, dataclasses.replace(points[1], key=7, label="again")]
    view = make_view(qtbot, points[:n], regs, size=(1280, 720))
    assert view.grid_shape() == shape and len(view.panes()) == n
    xs = {p.geometry().x() for p in view.panes()}
    ys = {p.geometry().y() for p in view.panes()}
    assert (len(ys), len(xs)) == shape


def test_more_than_four_exams_are_refused(qtbot, timeline):
    _, points, regs = timeline
    view = ComparisonView()
    qtbot.addWidget(view)
    with pytest.raises(ValueError, match="1 to 4"):
        view.set_time_points(points + points[:2], regs)


def test_panes_share_one_physical_scale(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    mm_per_px = []
    for pane in view.panes():
        rect = pane.image_rect()
        mm_per_px.append(pane.volume().shape[2] * pane.volume().spacing[0] / rect.width())
    assert exams[1].ct.spacing[0] != exams[0].ct.spacing[0]  # two fields of view
    assert np.allclose(mm_per_px, mm_per_px[0], rtol=0.01)


def test_plane_change_keeps_the_linked_point(qtbot, timeline):
    exams, points, regs = timeline
    view = make_view(qtbot, points, regs)
    point = np.add(exams[0].lesions[0].center_mm, exams[0].spec.shift_mm)
    view.go_to_baseline_point(point)
    view.set_plane("coronal")
    assert view.plane() == "coronal" and all(p.plane == "coronal" for p in view.panes())
    for i, pane in enumerate(view.panes()):
        expected = point + shift(exams, i)
        assert np.linalg.norm(np.array(pane.cursor_lps()) - expected) < 3.0
        assert abs(pane.slice_index() - slice_through(pane.volume(), "coronal", expected)) <= 1
    with pytest.raises(ValueError):
        view.set_plane("oblique")


def test_render_image_puts_the_panes_side_by_side(qtbot, timeline, tmp_path):
    _, points, regs = timeline
    view = make_view(qtbot, points, regs)
    view.set_change_map(True)
    z = int((view.change_labels(1) == 1).sum(axis=(1, 2)).argmax())
    view.panes()[1].set_slice(z)
    image = view.render_image(pane_px=300)
    assert not image.isNull()
    assert 3 * 300 <= image.width() <= 3 * 300 + 20 and image.height() > 300
    rgb = pixels(image).astype(int)
    third = image.width() // 3
    reddish = (rgb[..., 0] - rgb[..., 1] > 80) & (rgb[..., 2] < 120)
    assert reddish[:, third:2 * third].sum() > 50  # the new opacity of the day-5 exam
    assert image.save(str(tmp_path / "comparison.png"))
