"""The same CT in another format (issue 15): found before import by a pure query; and the
slices' DICOM InstanceNumbers kept by the CT cache."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest

from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.io.exams import find_exams
from scoat_core.io.images import write_image
from scoat_core.store import Store
from scoat_core.volume import ExamInfo, Volume

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DAY = date(2020, 3, 1)


def write_ct(folder: Path, patient: str = "P1", day: date = DAY) -> Volume:
    rng = np.random.default_rng(0)
    arr = rng.integers(-1024, 400, size=(8, 24, 24)).astype(np.int16)
    info = ExamInfo(patient_id=patient, study_date=day,
                    study_uid=f"1.2.826.0.1.3680043.8.498.{day:%Y%m%d}")
    volume = Volume(arr, spacing=(0.7, 0.7, 2.0), origin=(-8.0, -8.0, -30.0), info=info)
    for k, path in enumerate(write_dicom_series(volume, folder)):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = 80 - k
        ds.save_as(path)
    return volume


def moved(volume: Volume, dz: float) -> Volume:
    x, y, z = volume.origin
    return Volume(volume.array, volume.spacing, (x, y, z + dz), volume.direction)


def test_same_patient_date_and_geometry_is_a_candidate(tmp_path):
    volume = write_ct(tmp_path / "dicom")
    with Store.open(tmp_path / "db" / "scoat.db") as store:
        assert store.same_exam_candidates(find_exams(tmp_path / "dicom")) == []  # nothing yet
        store.import_inventory(find_exams(tmp_path / "dicom"))
        (patient,) = store.patients()
        (exam,) = store.exams(patient.id)
        assert store.same_exam_candidates(find_exams(tmp_path / "dicom")) == []  # a re-import

        nifti = write_image(moved(volume, 0.3), tmp_path / "nifti" / "P1_20200301.nii.gz")
        inventory = find_exams(nifti)
        (same,) = store.same_exam_candidates(inventory)
        assert (same.patient_pk, same.exam_pk, same.study_date) == (patient.id, exam.id, DAY)
        assert same.stored_source == tmp_path / "dicom" and same.new_source == str(nifti)
        assert same.entry is inventory.patients[0].exams[0]
        assert store.exams(patient.id) == [exam]  # a query: nothing written
        assert inventory.without_exams([same.entry]).patients == []

        others = {"other day": write_image(volume, tmp_path / "o1" / "P1_20200302.nii.gz"),
                  "other patient": write_image(volume, tmp_path / "o2" / "P2_20200301.nii.gz"),
                  "other origin": write_image(moved(volume, 0.8),
                                              tmp_path / "o3" / "P1_20200301.nii.gz"),
                  "other grid": write_image(Volume(volume.array[1:], volume.spacing,
                                                   volume.origin),
                                            tmp_path / "o4" / "P1_20200301.nii.gz")}
        for what, path in others.items():
            assert store.same_exam_candidates(find_exams(path)) == [], what


def test_a_series_stored_without_its_origin_matches_on_the_rest(tmp_path):
    """Series imported before the origin was recorded: shape, spacing and date decide."""
    volume = write_ct(tmp_path / "dicom")
    with Store.open(tmp_path / "db" / "scoat.db") as store:
        store.import_inventory(find_exams(tmp_path / "dicom"))
        with sqlite3.connect(store.db_path) as conn:
            info = json.loads(conn.execute("SELECT info FROM series").fetchone()[0])
            assert info["origin"] == pytest.approx([-8.0, -8.0, -30.0])
            del info["origin"]
            conn.execute("UPDATE series SET info = ?", (json.dumps(info),))
        nifti = write_image(moved(volume, 30.0), tmp_path / "P1_20200301.nii.gz")
        assert len(store.same_exam_candidates(find_exams(nifti))) == 1


def test_the_ct_cache_keeps_the_instance_numbers(tmp_path):
    write_ct(tmp_path / "dicom")
    with Store.open(tmp_path / "db" / "scoat.db") as store:
        store.import_inventory(find_exams(tmp_path / "dicom"))
        series = store.exams(store.patients()[0].id)[0].selected
        first = store.load_volume(series)  # from the source, then cached
        assert first.instance_numbers == tuple(range(80, 72, -1))
        assert store.series_row(series.id).ct_cached
        again = store.load_volume(series)  # from the cache
        assert again.instance_numbers == first.instance_numbers
        assert again.origin == pytest.approx(first.origin)
