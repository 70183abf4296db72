"""Issue 14: a re-import with other pixels under the same UIDs makes the old analysis stale at
once, before the exam is opened (the import already reads the CT and records its hash)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import quantify
from scoat_core.io.exams import find_exams
from scoat_core.io.images import write_image
from scoat_core.phantom import make_phantom
from scoat_core.store import Store

SHA = "a" * 64


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(matrix=32, z_extent_mm=40, slice_spacing_mm=5, slice_thickness_mm=5)


def result(ph) -> AnalysisResult:
    return AnalysisResult(lung=ph.lung, opacity=ph.lesion,
                          metrics=quantify(ph.ct, ph.lung, ph.lesion),
                          model={"name": "truth", "sha256": SHA}, device="cpu", seconds=1.0,
                          stage_seconds={}, warnings=[])


def analysed(tmp_path: Path, src: Path, ph) -> tuple[Store, int]:
    """A store with ``src`` imported as the app does (``load=True``) and its exam analysed."""
    store = Store.open(tmp_path / "db" / "scoat.sqlite")
    store.import_inventory(find_exams(src, load=True))
    (patient,) = store.patients()
    (exam,) = store.exams(patient.id)
    store.load_volume(exam.selected)  # as the app does before analysing
    store.save_analysis(exam.selected.id, result(ph), "0.1.0")
    assert not store.analysis(exam.selected.id).is_stale(SHA)
    return store, exam.selected.id


def test_dicom_reimport_with_other_pixels_is_stale_before_it_is_opened(tmp_path, phantom):
    from scoat_core.io.dicom_write import write_dicom_series

    src = tmp_path / "src"
    write_dicom_series(phantom.ct, src / "dicom")
    store, series = analysed(tmp_path, src, phantom)
    with store:
        store.import_inventory(find_exams(src, load=True))  # the same files: still current
        assert not store.analysis(series).is_stale(SHA)
        for f in sorted((src / "dicom").glob("*.dcm")):  # same UIDs, other pixels
            ds = pydicom.dcmread(f)
            ds.PixelData = (ds.pixel_array.astype(np.int16) + 300).tobytes()
            ds.save_as(f)
        store.import_inventory(find_exams(src, load=True))
        row = store.analysis(series)  # no load_volume in between
        assert row.ct_changed and row.is_stale(SHA)


def test_volume_file_rewritten_under_its_name_is_stale_before_it_is_opened(tmp_path, phantom):
    src = tmp_path / "src"
    path = write_image(phantom.ct, src / "PAT1_20200301.nii.gz")
    store, series = analysed(tmp_path, src, phantom)
    with store:
        write_image(phantom.ct.derive(phantom.ct.array + 300, is_hu=True), path)
        store.import_inventory(find_exams(src, load=False))  # volume files are always read
        row = store.analysis(series)
        assert row.ct_changed and row.is_stale(SHA)
