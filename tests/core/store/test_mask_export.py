"""A stored analysis written as ``scoat analyze`` writes it (issue 15: export masks from the
app): the same files, masks equal to the stored ones, clear errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from scoat_core.analysis.output import FILES, SEG_FILE, counted_opacity_volume
from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import quantify
from scoat_core.errors import UserError
from scoat_core.io.exams import find_exams
from scoat_core.phantom import make_timeline, write_timeline
from scoat_core.store import Store
from scoat_core.store.mask_export import (
    MaskExportError,
    export_analysis,
    metrics_from_json,
    stored_result,
)


@pytest.fixture(scope="module")
def phantom():
    return make_timeline(1, matrix=48, z_extent_mm=60, n_sites=2)[0]


@pytest.fixture
def store(phantom, tmp_path):
    """A store with the phantom imported as DICOM and its truth saved as the analysis."""
    write_timeline([phantom], tmp_path / "src", nifti=False)
    store = Store.open(tmp_path / "db" / "scoat.db")
    store.import_inventory(find_exams(tmp_path / "src"))
    result = AnalysisResult(
        lung=phantom.lung, opacity=phantom.lesion,
        metrics=quantify(phantom.ct, phantom.lung, phantom.lesion),
        model={"name": "tiny", "width": 4, "arch": "scoat_net", "sha256": "a" * 64},
        device="cpu", seconds=3.0, stage_seconds={"opacity": 2.0}, warnings=[])
    exam = store.exams(store.patients()[0].id)[0]
    store.save_analysis(exam.selected.id, result, "0.1.0")
    yield store
    store.close()


def _stored(store):
    exam = store.exams(store.patients()[0].id)[0]
    return exam.selected, store.analysis(exam.selected.id)


def test_metrics_round_trip(phantom):
    metrics = quantify(phantom.ct, phantom.lung, phantom.lesion)
    assert metrics_from_json(json.loads(json.dumps(metrics.to_json()))) == metrics


def test_export_writes_the_files_of_scoat_analyze(store, tmp_path):
    series, row = _stored(store)
    export = export_analysis(store, series, row, tmp_path / "out")
    assert sorted(export.files) == sorted([*FILES, SEG_FILE]), export.notes
    assert export.notes == []
    lung, opacity = store.load_masks(row)
    written_lung = sitk.GetArrayFromImage(sitk.ReadImage(str(export.files["lung_mask.nii.gz"])))
    np.testing.assert_array_equal(written_lung, lung.array)
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(export.files["opacity_mask.nii.gz"])))
    result = stored_result(row, lung, opacity)
    np.testing.assert_array_equal(written, counted_opacity_volume(result).array)
    payload = json.loads(export.files["metrics.json"].read_text())
    assert payload["lov_ml"] == pytest.approx(row.metrics["lov_ml"])
    assert payload["analysis_version"] == row.metrics["analysis_version"]
    assert "definitions" in payload


def test_without_the_dicom_source_the_seg_is_left_out_and_said(store, tmp_path):
    series, row = _stored(store)
    store.load_volume(series)  # cached: the CT no longer needs the source
    shutil.rmtree(tmp_path / "src")
    export = export_analysis(store, series, row, tmp_path / "out")
    assert SEG_FILE not in export.files and "lung_mask.nii.gz" in export.files
    assert export.notes and "no longer there" in export.notes[0]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_a_clear_error(store, tmp_path):
    series, row = _stored(store)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UserError) as info:
            export_analysis(store, series, row, locked / "out")
    finally:
        locked.chmod(0o700)
    assert str(locked) in str(info.value)


def test_a_write_error_names_the_file(store, tmp_path, monkeypatch):
    import scoat_core.store.mask_export as mask_export

    series, row = _stored(store)

    def fail(*_args, **_kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "lung_mask.nii.gz"))

    monkeypatch.setattr(mask_export, "write_analysis", fail)
    with pytest.raises(MaskExportError, match=r"Could not write .*lung_mask\.nii\.gz: No space"):
        export_analysis(store, series, row, Path(tmp_path / "out"))
