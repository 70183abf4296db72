"""Helpers of the main-window tests: a store with analysed phantom patients, a shown window,
user clicks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem

from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import quantify
from scoat_core.io.exams import find_exams
from scoat_core.phantom import make_timeline, write_timeline
from scoat_core.store import Store
from tests.app.test_main_window import make_window

#: Stage times saved with the phantom analyses (what an analysis measured on this machine).
STAGE_SECONDS = {"lung mask": 10.0, "opacity": 30.0, "volumetry": 0.5}
SMALL = {"matrix": 64, "z_extent_mm": 120.0, "slice_spacing_mm": 5.0}


def truth_result(ph, sha: str | None) -> AnalysisResult:
    """The phantom's true masks as an analysis (no network: fast, exact)."""
    return AnalysisResult(
        lung=ph.lung, opacity=ph.lesion, metrics=quantify(ph.ct, ph.lung, ph.lesion),
        model={"name": "tiny", "width": 4, "arch": "scoat_net", "sha256": sha or ""},
        device="cpu", seconds=40.5, stage_seconds=dict(STAGE_SECONDS), warnings=[])


def phantom_patients(root: Path, seeds=(3, 5), n_exams: int = 2, **spec) -> dict[str, list]:
    """One phantom timeline per seed (patients ``PHANTOM-000<seed>``) written as DICOM under
    ``root``; returns patient ID → its phantoms."""
    out = {}
    for seed in seeds:
        phantoms = make_timeline(n_exams, seed=seed, **{**SMALL, **spec})
        write_timeline(phantoms, root / f"patient-{seed}", nifti=False)
        out[phantoms[0].ct.info.patient_id] = phantoms
    return out


def analysed_store(data_dir: Path, source: Path, truths: dict[str, list], sha: str | None,
                   skip: set[tuple[str, int]] = frozenset()) -> None:
    """The app's database in ``data_dir`` with ``source`` imported and each exam analysed
    (truth masks), except the ``(patient ID, exam index)`` in ``skip``."""
    with Store.open(data_dir / "scoat.db") as store:
        store.import_inventory(find_exams(source))
        for patient in store.patients():
            phantoms = truths[patient.patient_id]
            for i, exam in enumerate(store.exams(patient.id)):
                if (patient.patient_id, i) not in skip:
                    store.save_analysis(exam.selected.id, truth_result(phantoms[i], sha),
                                        "0.1.0")


def shown_window(qtbot, **kwargs):
    """A main window (``make_window``'s) shown at 1400×900 and exposed."""
    window = make_window(qtbot, **kwargs)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def close(window) -> None:
    """Close the window and its store."""
    window.close()
    window.store.close()


def item_of(window, patient_id: str, exam_index: int | None = None) -> QTreeWidgetItem:
    """The patient's row in the patient list (or its ``exam_index``-th exam's)."""
    browser = window.browser
    for i in range(browser.topLevelItemCount()):
        item = browser.topLevelItem(i)
        if item.text(0).startswith(patient_id):
            return item if exam_index is None else item.child(exam_index)
    raise LookupError(f"{patient_id} is not in the patient list")


def click_item(qtbot, window, patient_id: str, exam_index: int | None = None) -> None:
    """Click a row of the patient list, as a user does."""
    browser = window.browser
    item = item_of(window, patient_id, exam_index)
    browser.scrollToItem(item)
    rect = browser.visualItemRect(item)
    qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert browser.currentItem() is item


def click_tab(qtbot, window, title: str) -> None:
    """Click a tab of the main window by its title."""
    bar = window.tabs.tabBar()
    (index,) = [i for i in range(bar.count()) if bar.tabText(i) == title]
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert window.tabs.currentIndex() == index


def single_slice(ph, z: int | None = None):
    """The phantom's CT, lungs and lesions at one axial slice (the middle by default)."""
    from scoat_core.volume import Volume

    z = ph.ct.shape[0] // 2 if z is None else z
    origin = tuple(ph.ct.index_to_lps(np.array([0.0, 0.0, float(z)])))

    def cut(v: Volume, is_hu: bool) -> Volume:
        out = Volume(v.array[z:z + 1].copy(), spacing=v.spacing, origin=origin,
                     direction=v.direction, is_hu=is_hu)
        out.info = ph.ct.info
        return out

    return cut(ph.ct, True), cut(ph.lung, False), cut(ph.lesion, False)
