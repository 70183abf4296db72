"""What File › Import shows (issue 15): the DICOM InstanceNumber in the viewer, a question
before a second copy of an exam, a patient list that is readable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt

from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.volume import ExamInfo, Volume
from tests.app.test_main_window import _trigger, make_window, tiny_model, wait_idle

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N_SLICES = 12


def write_ct(folder: Path, *, patient: str = "P1", day: date = date(2020, 3, 1), seed: int = 0,
             manufacturer: str = "", model: str = "") -> list[Path]:
    """A small DICOM CT series (32×32 pixels, 12 slices 2 mm apart); paths in slice order."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1024, 400, size=(N_SLICES, 32, 32)).astype(np.int16)
    info = ExamInfo(patient_id=patient, patient_name=f"Test^{patient}", study_date=day,
                    manufacturer=manufacturer, model=model, kernel="B70f")
    volume = Volume(arr, spacing=(0.7, 0.7, 2.0), origin=(-11.0, -11.0, -40.0), info=info)
    return write_dicom_series(volume, folder, uid_prefix="1.2.826.0.1.3680043.8.498.")


def patch_dialogs(monkeypatch, folder: Path | None = None, file: Path | None = None) -> None:
    import app.main_window as main_window

    dialog = main_window.QFileDialog
    monkeypatch.setattr(dialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    monkeypatch.setattr(dialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(file), "")))


def open_only_exam(qtbot, window) -> int:
    (patient,) = window.store.patients()
    (exam,) = window.store.exams(patient.id)
    window.browser.select(2, exam.id)
    wait_idle(qtbot, window)
    return exam.id


def slice_line(window) -> str:
    return window.viewer.axial.annotations()["bottom_left"].splitlines()[0]


# ------------------------------------------------------------ the DICOM InstanceNumber
def test_the_viewer_shows_the_instance_number_not_only_the_index(qtbot, app_env, tmp_path,
                                                                 monkeypatch):
    """A series numbered from the top (Im 150 is the lowest slice): after File › Import folder
    the pane reads the InstanceNumber PACS shows, and its own index beside it; so it does when
    the exam is opened again from the app's CT cache."""
    folder = tmp_path / "ct"
    for k, path in enumerate(write_ct(folder)):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = 150 - k
        ds.save_as(path)
    patch_dialogs(monkeypatch, folder=folder)
    window = make_window(qtbot)
    window.resize(1200, 800)
    window.show()
    _trigger(window, "&Import folder")
    wait_idle(qtbot, window)
    exam_pk = open_only_exam(qtbot, window)
    pane = window.viewer.axial
    k = pane.slice_index()
    assert slice_line(window) == f"Im {150 - k} (slice {k + 1}/{N_SLICES})"
    pane.setFocus()
    qtbot.keyClick(pane, Qt.Key.Key_Up)  # up: the next slice superior, one Im lower
    assert slice_line(window) == f"Im {149 - k} (slice {k + 2}/{N_SLICES})"
    qtbot.keyClick(pane, Qt.Key.Key_Home)
    assert slice_line(window) == f"Im 150 (slice 1/{N_SLICES})"

    assert window.store.exam(exam_pk).selected.ct_cached
    window.exam_pk = None
    window.viewer.set_exam(None)
    window.open_exam(exam_pk)  # now read from the cache (NIfTI + its JSON)
    wait_idle(qtbot, window)
    k = pane.slice_index()
    assert slice_line(window) == f"Im {150 - k} (slice {k + 1}/{N_SLICES})"
    window.close()
    window.store.close()


# ------------------------------------------------------------ the same exam twice
@pytest.mark.parametrize("answer", ["Skip", "Import anyway as another exam"])
def test_the_same_exam_in_another_format_asks_first(qtbot, app_env, tmp_path, monkeypatch,
                                                    answer):
    """File › Import file… of the NIfTI written from an exam imported as DICOM: the user is
    asked, and gets one exam (Skip) or two of the same day (Import anyway)."""
    import app.main_window as main_window
    from app.main_window import MainWindow
    from scoat_core.io.images import write_image

    folder = tmp_path / "ct"
    write_ct(folder)
    asked: list[str] = []

    def answer_box(box) -> int:
        asked.append(box.text())
        buttons = [b for b in box.buttons() if b.text() == answer]
        if buttons:
            buttons[0].click()
        return 0

    monkeypatch.setattr(main_window.QMessageBox, "exec", answer_box)
    window = MainWindow(interactive=True, model_loader=tiny_model)
    qtbot.addWidget(window)
    patch_dialogs(monkeypatch, folder=folder)
    _trigger(window, "&Import folder")
    wait_idle(qtbot, window)
    (patient,) = window.store.patients()
    (exam,) = window.store.exams(patient.id)
    nifti = tmp_path / "converted" / "P1_20200301.nii.gz"
    write_image(window.store.load_volume(exam.selected), nifti)
    assert asked == []

    patch_dialogs(monkeypatch, file=nifti)
    _trigger(window, "Import &file")
    wait_idle(qtbot, window)
    (question,) = asked
    assert "2020-03-01" in question and "P1_20200301.nii.gz" in question
    assert "already imported" in question and str(folder) in question
    exams = window.store.exams(patient.id)
    assert [e.study_date for e in exams] == [date(2020, 3, 1)] * (1 if answer == "Skip" else 2)
    assert len(window.store.patients()) == 1

    patch_dialogs(monkeypatch, folder=folder)  # the same DICOM again: a re-import, not asked
    _trigger(window, "&Import folder")
    wait_idle(qtbot, window)
    assert len(asked) == 1 and len(window.store.exams(patient.id)) == len(exams)
    window.close()
    window.store.close()


def test_another_exam_of_the_same_day_is_not_asked_about(qtbot, app_env, tmp_path, monkeypatch):
    """Same patient, day and grid but 5 mm further (a second scan): imported without asking."""
    import app.main_window as main_window
    from scoat_core.io.images import write_image

    asked: list[str] = []
    monkeypatch.setattr(main_window.QMessageBox, "exec", lambda box: asked.append(box.text()))
    folder = tmp_path / "ct"
    write_ct(folder)
    window = make_window(qtbot)
    window.interactive = True
    patch_dialogs(monkeypatch, folder=folder)
    _trigger(window, "&Import folder")
    wait_idle(qtbot, window)
    (patient,) = window.store.patients()
    volume = window.store.load_volume(window.store.exams(patient.id)[0].selected)
    x, y, z = volume.origin
    other = Volume(volume.array, volume.spacing, (x, y, z + 5.0), volume.direction)
    write_image(other, tmp_path / "P1_20200301.nii.gz")
    patch_dialogs(monkeypatch, file=tmp_path / "P1_20200301.nii.gz")
    _trigger(window, "Import &file")
    wait_idle(qtbot, window)
    assert asked == [] and len(window.store.exams(patient.id)) == 2
    window.close()
    window.store.close()


# ------------------------------------------------------------ the patient list
def test_the_patient_list_shows_whole_texts_and_counts_exams(qtbot, app_env, tmp_path,
                                                            monkeypatch):
    """As shown in the window after File › Import folder: the scanner column as wide as its
    longest text (a cut one keeps it in its tooltip), "1 exam" and "2 exams"."""
    root = tmp_path / "in"
    write_ct(root / "a1", day=date(2020, 3, 1), manufacturer="GE MEDICAL SYSTEMS",
             model="LightSpeed VCT")
    write_ct(root / "a2", day=date(2020, 3, 9), seed=1, manufacturer="GE MEDICAL SYSTEMS",
             model="Revolution CT with a very long model name, longer than any column may be")
    write_ct(root / "b1", patient="P2", seed=2, manufacturer="SIEMENS", model="SOMATOM")
    patch_dialogs(monkeypatch, folder=root)
    window = make_window(qtbot)
    window.resize(1500, 900)
    window.show()
    qtbot.waitExposed(window)
    _trigger(window, "&Import folder")
    wait_idle(qtbot, window)
    browser = window.browser
    patients = {browser.topLevelItem(i).text(0).split()[0]: browser.topLevelItem(i)
                for i in range(browser.topLevelItemCount())}
    assert patients["P1"].text(0).endswith("(2 exams)")
    assert patients["P2"].text(0).endswith("(1 exam)")
    metrics = browser.fontMetrics()
    exams = [p.child(j) for p in patients.values() for j in range(p.childCount())]
    texts = {item.text(2) for item in exams}
    assert "GE MEDICAL SYSTEMS LightSpeed VCT" in texts
    for item in exams:
        for column in (1, 2, 3):
            text, width = item.text(column), browser.columnWidth(column)
            assert item.toolTip(column) == text
            assert width >= metrics.horizontalAdvance(text) or 250 <= width <= 400, (column, text)
    assert 250 <= browser.columnWidth(2) <= 400  # the very long one is cut, whole in its tooltip
    for item in exams:  # the exam date, one level in, is never cut
        assert browser.columnWidth(0) >= metrics.horizontalAdvance(item.text(0)) \
            + 2 * browser.indentation()
    assert browser.columnWidth(2) < metrics.horizontalAdvance(max(texts, key=len))
    window.close()
    window.store.close()
