"""Measurements kept with their exam: add, list, delete, restart, cascade, the 4 → 5 migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scoat_core.analysis.measure import ELLIPSE, RULER, Measurement
from scoat_core.io.exams import find_exams
from scoat_core.phantom import make_timeline, write_timeline
from scoat_core.store import Store

RULER_M = Measurement(RULER, 5, ((10.5, 12.0, 5.0), (30.0, 40.25, 5.0)))
ELLIPSE_M = Measurement(ELLIPSE, 3, ((8.0, 8.0, 3.0), (20.0, 14.0, 3.0)), label="GGO")


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    """Two dated DICOM exams of one small phantom patient."""
    root = tmp_path_factory.mktemp("measure-sources")
    write_timeline(make_timeline(2, matrix=32, z_extent_mm=40, n_sites=1), root, nifti=False)
    return find_exams(root)


def open_with(db: Path, inventory) -> tuple[Store, list]:
    store = Store.open(db)
    store.import_inventory(inventory)
    (patient,) = store.patients()
    return store, store.exams(patient.id)


def test_measurements_are_kept_with_the_exam_across_a_restart(tmp_path, inventory):
    db = tmp_path / "scoat.sqlite"
    store, (first, second) = open_with(db, inventory)
    with store:
        ruler = store.add_measurement(first.id, RULER_M, first.selected.id)
        ellipse = store.add_measurement(first.id, ELLIPSE_M, first.selected.id)
        store.add_measurement(second.id, RULER_M, second.selected.id)
        assert ruler.id and ruler.created and ruler.points == RULER_M.points
        with pytest.raises(KeyError):  # a series of another exam
            store.add_measurement(first.id, RULER_M, second.selected.id)
        with pytest.raises(KeyError):
            store.add_measurement(9999, RULER_M)
    with Store.open(db) as store:  # a restart
        listed = store.measurements(first.id)
        assert listed == [ellipse, ruler]  # by slice: 3, then 5
        assert listed[0].label == "GGO" and listed[0].kind == ELLIPSE
        assert store.measurements(first.id, first.selected.id) == [ellipse, ruler]
        assert store.measurements(first.id, first.selected.id + 1000) == []
        store.delete_measurement(ruler.id)
        with pytest.raises(KeyError):
            store.delete_measurement(ruler.id)
        assert store.measurements(first.id) == [ellipse]
        assert len(store.measurements(second.id)) == 1
        store.delete_exam(first.id)  # its measurements go with it
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 1


def test_a_version_4_database_gains_the_measurements_table(tmp_path, inventory, monkeypatch):
    import scoat_core.store.schema as schema

    db = tmp_path / "v4.sqlite"
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 4)
    store, exams = open_with(db, inventory)
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert "measurements" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    monkeypatch.undo()
    assert schema.SCHEMA_VERSION == 5
    with Store.open(db) as store:
        (patient,) = store.patients()
        assert [e.id for e in store.exams(patient.id)] == [e.id for e in exams]  # rows kept
        assert store.measurements(exams[0].id) == []
        saved = store.add_measurement(exams[0].id, ELLIPSE_M, exams[0].selected.id)
        assert store.measurements(exams[0].id) == [saved]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        columns = {r[1] for r in conn.execute("PRAGMA table_info(measurements)")}
        assert columns == {"id", "exam_pk", "series_pk", "kind", "slice_index", "points",
                           "label", "created"}
