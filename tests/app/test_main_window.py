"""The main window end to end, offscreen, with a small phantom timeline and a tiny network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtWidgets import QApplication

from scoat_core.analysis.pipeline import LoadedModel
from scoat_core.models.registry import create_model


def tiny_model() -> LoadedModel:
    import torch

    torch.manual_seed(0)
    net = create_model("scoat_net", width=4).eval()
    return LoadedModel(net, None, 0.5, {"name": "tiny", "width": 4, "arch": "scoat_net",
                                        "sha256": "0" * 64})


@pytest.fixture(scope="module")
def timeline_dir(tmp_path_factory) -> Path:
    from scoat_core.phantom import make_timeline, write_timeline

    out = tmp_path_factory.mktemp("timeline")
    write_timeline(make_timeline(2, seed=3, matrix=64, z_extent_mm=200.0,
                                 slice_spacing_mm=5.0), out)
    return out


def make_window(qtbot, **kwargs):
    from app.main_window import MainWindow

    window = MainWindow(interactive=False, model_loader=tiny_model, **kwargs)
    qtbot.addWidget(window)
    return window


def wait_idle(qtbot, window, timeout_ms: int = 60000) -> None:
    qtbot.waitUntil(lambda: not window.busy(), timeout=timeout_ms)


def test_import_analyse_restart(qtbot, app_env, timeline_dir, tmp_path):
    window = make_window(qtbot)
    window.import_path(timeline_dir)
    wait_idle(qtbot, window)
    patients = window.store.patients()
    assert len(patients) == 1 and patients[0].n_exams == 2
    assert window.browser.topLevelItemCount() == 1
    assert window.browser.topLevelItem(0).childCount() == 2

    progress: list[float] = []
    window.analyse_patients([patients[0].id])
    qtbot.waitUntil(lambda: window.job is not None, timeout=10000)
    window.job.progress.connect(lambda f, *_: progress.append(f))
    wait_idle(qtbot, window, 120000)
    assert not window.errors, window.errors
    assert progress and max(progress) <= 1.0
    rows = [r for _, r in window.store.analyses_for_patient(patients[0].id)]
    assert all(r is not None for r in rows)
    # the plot has one point per analysed exam, the table one row each
    assert len(window.plot.x_values()) == 2
    assert len(window.table.rows()) == 2
    # the shown exam carries its masks
    lung, opacity = window.exam_arrays()
    assert lung is not None and lung.any() and opacity is not None

    # exports: PNG of the viewer, PDF report
    from app.export.png import save_png

    png = save_png(window.viewer.render_image(), tmp_path / "view.png", dpi=150)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = tmp_path / "report.pdf"
    window.export_pdf(pdf, anonymise=True)
    wait_idle(qtbot, window)
    assert pdf.read_bytes()[:4] == b"%PDF"
    metrics = {r.id: r.metrics["lov_ml"] for r in rows}
    window.close()
    window.store.close()

    # a restart shows everything at once, no recomputation
    again = make_window(qtbot)
    assert again.store.patients()[0].n_exams == 2
    rows2 = [r for _, r in again.store.analyses_for_patient(patients[0].id)]
    assert {r.id: r.metrics["lov_ml"] for r in rows2} == metrics
    assert not again.busy()
    again.close()
    again.store.close()


def test_cancel_leaves_no_result(qtbot, app_env, timeline_dir):
    window = make_window(qtbot)
    window.import_path(timeline_dir)
    wait_idle(qtbot, window)
    exam_pk = window.store.exams(window.store.patients()[0].id)[0].id
    window.analyse_exams([exam_pk])
    qtbot.waitUntil(lambda: window.job is not None, timeout=10000)
    window.cancel_jobs()
    wait_idle(qtbot, window)
    series = window.store.exam(exam_pk).selected
    assert window.store.analysis(series.id) is None
    window.close()
    window.store.close()


def test_an_exam_without_lungs_is_marked_in_the_list(qtbot, app_env, tmp_path, erase_lungs):
    from scoat_core.phantom import make_timeline, write_timeline

    folder = tmp_path / "patient"
    write_timeline(make_timeline(2, seed=4, matrix=64, z_extent_mm=200.0, slice_spacing_mm=5.0),
                   folder, nifti=False)
    erase_lungs(sorted(folder.iterdir())[1] / "dicom")
    window = make_window(qtbot)
    window.import_path(folder)
    wait_idle(qtbot, window)
    patient = window.store.patients()[0]
    window.analyse_patients([patient.id])
    wait_idle(qtbot, window, 120000)
    assert len(window.errors) == 1 and "no lungs found" in window.errors[0]
    bad = window.store.exams(patient.id)[1].selected
    assert "no lungs found" in window.store.failure(bad.id, window.model_sha or "")
    texts = [window.browser.topLevelItem(0).child(i).text(1) for i in range(2)]
    assert texts[0].startswith("LOV") and texts[1].startswith("analysis failed: no lungs found")
    assert "/" not in texts[1]  # the path is in the tooltip, not the list
    window.open_exam(window.store.exams(patient.id)[1].id)
    wait_idle(qtbot, window)
    assert "analysis failed: no lungs found" in window.viewer.axial.label()
    window.close()
    window.store.close()


def test_single_slice_exam_has_no_coronal_pane(qtbot, app_env, tmp_path):
    from scoat_core.io.images import write_image
    from scoat_core.phantom import make_phantom
    from scoat_core.volume import Volume

    ph = make_phantom(matrix=64, z_extent_mm=200.0, slice_spacing_mm=5.0)
    z = ph.ct.shape[0] // 2
    one = Volume(ph.ct.array[z:z + 1].copy(), spacing=ph.ct.spacing, origin=ph.ct.origin,
                 is_hu=True)
    write_image(one, tmp_path / "one_20200101.nii.gz")
    window = make_window(qtbot)
    window.resize(1200, 800)
    window.show()
    window.import_path(tmp_path / "one_20200101.nii.gz")
    wait_idle(qtbot, window)
    exam_pk = window.store.exams(window.store.patients()[0].id)[0].id
    window.open_exam(exam_pk)
    wait_idle(qtbot, window)
    assert window.viewer.axial.isVisible() and not window.viewer.coronal.isVisible()
    assert window.viewer.render_image().width() == window.viewer.axial.width()
    window.close()
    window.store.close()


def test_bad_input_is_reported_not_raised(qtbot, app_env, tmp_path):
    bad = tmp_path / "not-ct"
    bad.mkdir()
    (bad / "notes.txt").write_text("hello")
    window = make_window(qtbot)
    window.import_path(bad)
    wait_idle(qtbot, window)
    assert window.errors and "not-ct" in window.errors[0]
    assert window.store.patients() == []
    window.close()
    window.store.close()


def test_viewer_follows_slice_keys(qtbot, app_env, timeline_dir):
    window = make_window(qtbot)
    window.import_path(timeline_dir)
    wait_idle(qtbot, window)
    exam_pk = window.store.exams(window.store.patients()[0].id)[0].id
    window.browser.select(2, exam_pk)
    wait_idle(qtbot, window)
    pane = window.viewer.axial
    before = np.asarray(pane.render_image().constBits()).copy()
    pane.set_slice(pane.slice_index() + 3)
    after = np.asarray(pane.render_image().constBits()).copy()
    assert not np.array_equal(before, after)
    window.close()
    window.store.close()


def test_a_squeezed_patient_list_is_not_restored(qtbot, app_env):
    from app.dialogs.preferences import Preferences
    from app.main_window import BROWSER_MIN_WIDTH

    prefs = Preferences()
    prefs.settings.setValue("window/split", [70, 566])  # saved from a tiny window
    prefs.sync()
    window = make_window(qtbot)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    assert window.browser.width() >= BROWSER_MIN_WIDTH
    window.close()  # a non-interactive run (screenshot, test) leaves the saved layout alone
    window.store.close()
    assert [int(x) for x in Preferences().settings.value("window/split")] == [70, 566]


def test_no_leaked_top_level_windows(qtbot, app_env):
    before = {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}
    window = make_window(qtbot)
    window.show()
    window.close()
    window.store.close()
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets()
              if w.isVisible() and id(w) not in before]
    assert leaked == []


def test_screenshot_command(tmp_path, timeline_dir):
    """``scoat-app PATH --screenshot FILE`` renders the window and exits 0."""
    out = tmp_path / "shot.png"
    env = {"SCOAT_APP_DATA": str(tmp_path / "data"), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "app.main", str(timeline_dir), "--screenshot",
                        str(out), "--size", "1200x800"], env=env, capture_output=True,
                       text=True, timeout=240, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)


def _trigger(window, text: str) -> None:
    from PySide6.QtGui import QAction

    (action,) = [a for a in window.findChildren(QAction) if a.text().startswith(text)]
    action.trigger()


def test_import_that_finds_nothing_says_why(qtbot, app_env, tmp_path, monkeypatch):
    """File > Import folder… on a folder whose only volume has NaN voxels: the message names the
    file and the reason, as `scoat info` does."""
    import app.main_window as main_window
    from scoat_core.io.images import write_image
    from scoat_core.volume import Volume

    folder = tmp_path / "in"
    arr = np.full((4, 8, 8), -1000, np.float32)
    arr[1, 2, 3] = np.nan
    write_image(Volume(arr, spacing=(1.0, 1.0, 2.0)), folder / "bad.nii.gz")
    monkeypatch.setattr(main_window.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(folder)))
    window = make_window(qtbot)
    _trigger(window, "&Import folder")
    wait_idle(qtbot, window)
    assert window.store.patients() == []
    (error,) = window.errors
    assert error.startswith("Nothing imported: ")
    assert "bad.nii.gz: 1 voxels are NaN or infinite" in error
    window.close()
    window.store.close()


def test_an_exam_without_a_usable_series_says_why(qtbot, app_env, tmp_path, monkeypatch):
    """File > Import folder… on an MR study: opening it names why its series is excluded."""
    import pydicom
    from pydicom.data import get_testdata_file

    import app.main_window as main_window

    folder = tmp_path / "mr"
    folder.mkdir()
    pydicom.dcmread(get_testdata_file("MR_small.dcm")).save_as(folder / "mr.dcm")
    monkeypatch.setattr(main_window.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(folder)))
    window = make_window(qtbot)
    _trigger(window, "&Import folder")
    wait_idle(qtbot, window)
    (patient,) = window.store.patients()
    (exam,) = window.store.exams(patient.id)
    window.errors.clear()
    window.open_exam(exam.id)
    (error,) = window.errors
    assert error.startswith("Cannot open: This exam has no usable CT series: ")
    assert "MR" in error
    window.close()
    window.store.close()


def test_viewer_hover_status_line_and_remembered_layout(qtbot, app_env):
    """Issue 15: HU and mm under the mouse in the status line; View > Layout is remembered."""
    from scoat_core.volume import Volume
    from tests.app.mouse import hover, leave

    z, y, x = np.indices((16, 40, 48))
    volume = Volume((-1000 + 10 * z + y + x).astype(np.int16), spacing=(0.8, 0.8, 2.5))
    window = make_window(qtbot)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    window.viewer.set_exam(volume, label="hover")
    pane = window.viewer.axial
    hover(pane, pane.map_from_pixel(3, 4).toPoint())
    message = window.statusBar().currentMessage()
    hu = -1000 + 10 * pane.slice_index() + 3 + 4
    assert message.startswith(f"HU {hu} at L 3.2 P 2.4 S ".replace("-", "−")), message
    leave(pane)  # off the pane: the disclaimer again
    assert window.statusBar().currentMessage() == "Research software — not for diagnostic use."

    assert window.layout_actions["1x2"].isChecked()
    _trigger(window, "Layout 1×3")
    assert window.viewer.sagittal.isVisible() and window.viewer.coronal.isVisible()
    assert window.viewer.layout_box.currentData() == "1x3"
    window.close()
    window.store.close()
    again = make_window(qtbot)
    assert again.viewer.view_layout() == "1x3" and again.layout_actions["1x3"].isChecked()
    again.close()
    again.store.close()
