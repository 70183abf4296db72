"""The patient list says why an exam has no usable series (issue 14), in its tooltips."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

import pydicom

from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.io.exams import find_exams
from scoat_core.phantom import make_phantom
from scoat_core.store import Store


@pytest.mark.parametrize("case", ["no PixelSpacing", "MR"])
def test_an_exam_without_a_usable_series_gives_the_reason_in_its_tooltip(qtbot, tmp_path, case):
    from app.views.patient_browser import PatientBrowser

    src = tmp_path / "src" / "series"
    if case == "MR":
        from pydicom.data import get_testdata_file

        src.mkdir(parents=True)
        pydicom.dcmread(get_testdata_file("MR_small.dcm")).save_as(src / "mr.dcm")
        expected = "MR"
    else:
        write_dicom_series(make_phantom(matrix=24, z_extent_mm=20, slice_spacing_mm=5).ct, src)
        for f in src.glob("*.dcm"):
            ds = pydicom.dcmread(f)
            del ds.PixelSpacing
            ds.save_as(f)
        expected = "no PixelSpacing"
    with Store.open(tmp_path / "db" / "scoat.sqlite") as store:
        store.import_inventory(find_exams(src.parent, load=True))  # as the app's import does
        browser = PatientBrowser(store)
        qtbot.addWidget(browser)
        browser.refresh()
        item = browser.topLevelItem(0).child(0)
        assert item.text(1) == "no usable series"
        for column in (0, 1):
            tip = item.toolTip(column)
            assert "no usable series: series" in tip.lower() and expected in tip, (column, tip)
