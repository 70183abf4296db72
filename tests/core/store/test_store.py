"""The app database: import, reopen, stale results, merge, dates, sources, crashes, cache."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import quantify
from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.io.exams import find_exams
from scoat_core.io.images import write_image
from scoat_core.phantom import make_timeline, write_timeline
from scoat_core.store import SourceMissingError, Store, StoreDamagedError, StoreError

SHA_A, SHA_B = "a" * 64, "b" * 64
PID = "PHANTOM-0000"


@pytest.fixture(scope="module")
def phantoms():
    return make_timeline(2, matrix=48, z_extent_mm=60, n_sites=2)


@pytest.fixture(scope="module")
def data(phantoms, tmp_path_factory) -> Path:
    """Two dated DICOM exams of one patient (the first with a second series) and a dateless
    NIfTI of another patient."""
    root = tmp_path_factory.mktemp("sources")
    folders = write_timeline(phantoms, root / "timeline", nifti=False)
    ct = phantoms[0].ct
    soft = ct.derive(ct.array, is_hu=True)
    soft.info = ct.info.replace(series_uid="2.25.77", kernel="B30f", series_number=7,
                                series_description="B30f soft")
    write_dicom_series(soft, folders[0]["folder"] / "dicom_soft", series_number=7)
    write_image(ct, root / "nifti" / "PATX" / "ct.nii.gz")
    return root


@pytest.fixture(scope="module")
def inventory(data):
    return find_exams(data)


def copy_of(data: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(data, tmp_path / "sources"))


def result(ph, sha: str = SHA_A, opacity=None) -> AnalysisResult:
    opacity = ph.lesion if opacity is None else opacity
    return AnalysisResult(
        lung=ph.lung, opacity=opacity, metrics=quantify(ph.ct, ph.lung, opacity),
        model={"name": "scoat_net-w16", "width": 16, "arch": "scoat", "sha256": sha},
        device="cpu", seconds=2.5, stage_seconds={"lung": 1.0}, warnings=[],
    )


def imported(tmp_path: Path, source) -> Store:
    """A store with ``source`` (a folder, or an inventory) imported."""
    store = Store.open(tmp_path / "db" / "scoat.sqlite")
    store.import_inventory(find_exams(source) if isinstance(source, Path) else source)
    return store


def patient_pk(store: Store, pid: str) -> int:
    return next(p.id for p in store.patients() if p.patient_id == pid)


def counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("patients", "exams", "series", "analyses")}


def test_import_lists_patients_and_exams_with_dates_and_scanner(tmp_path, inventory, phantoms):
    with imported(tmp_path, inventory) as store:
        assert [(p.patient_id, p.n_exams) for p in store.patients()] == [("PATX", 1), (PID, 2)]
        exams = store.exams(patient_pk(store, PID))
        assert [e.study_date for e in exams] == [ph.ct.info.study_date for ph in phantoms]
        assert [e.n_series for e in exams] == [2, 1]
        for exam, ph in zip(exams, phantoms, strict=True):
            s, info = exam.selected, ph.ct.info
            assert (s.manufacturer, s.model, s.kernel) == (info.manufacturer, info.model,
                                                           info.kernel)
            assert s.slice_thickness_mm == pytest.approx(info.slice_thickness_mm)
            assert s.shape == ph.ct.shape and s.hu is True and s.kind == "dicom"
            assert s.spacing_mm == pytest.approx(ph.ct.spacing)
            assert s.series_uid == info.series_uid and s.source.is_dir()
        (nifti,) = store.exams(patient_pk(store, "PATX"))
        assert nifti.study_date is None and nifti.selected.kind == "volume"
        assert any(w.startswith("no exam date") for w in nifti.selected.warnings)


def test_reimport_of_the_same_folder_adds_nothing(tmp_path, data, inventory):
    with imported(tmp_path, inventory) as store:
        before = counts(store.db_path)
        rows = [(e.id, e.selected.id) for p in store.patients() for e in store.exams(p.id)]
        touched = store.import_inventory(find_exams(data))  # scanned again
        assert sorted(touched) == sorted(p.id for p in store.patients())
        assert counts(store.db_path) == before == {"patients": 2, "exams": 3, "series": 4,
                                                   "analyses": 0}
        assert rows == [(e.id, e.selected.id) for p in store.patients() for e in store.exams(p.id)]


def test_reopen_shows_results_without_recomputation(tmp_path, inventory, phantoms, monkeypatch):
    db = tmp_path / "db" / "scoat.sqlite"
    with imported(tmp_path, inventory) as store:
        exam = store.exams(patient_pk(store, PID))[0]
        res = result(phantoms[0])
        saved = store.save_analysis(exam.selected.id, res, "0.1.0")
    import scoat_core.analysis.pipeline
    import scoat_core.analysis.quantify

    def forbidden(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(scoat_core.analysis.pipeline, "analyze", forbidden)
    monkeypatch.setattr(scoat_core.analysis.quantify, "quantify", forbidden)
    with Store.open(db) as store:
        pairs = store.analyses_for_patient(patient_pk(store, PID))
        assert [a is not None for _, a in pairs] == [True, False]
        row = pairs[0][1]
        assert row == saved
        assert row.metrics == json.loads(json.dumps(res.to_json()))
        assert row.metrics["lov_ml"] == pytest.approx(res.metrics.lov_ml) and res.metrics.lov_ml > 0
        assert row.model["sha256"] == SHA_A
        assert row.software_version == "0.1.0" and row.device == "cpu"
        assert row.lung_mask.name.endswith(".nii.gz") and row.lung_mask.is_file()
        lung, opacity = store.load_masks(row)
        np.testing.assert_array_equal(lung.array, phantoms[0].lung.array)
        np.testing.assert_array_equal(opacity.array, phantoms[0].lesion.array)
        assert lung.same_geometry(phantoms[0].ct) and lung.info.series_uid == row.metrics[
            "exam"]["series_uid"]


def test_results_of_another_model_are_stale(tmp_path, inventory, phantoms):
    with imported(tmp_path, inventory) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        row = store.save_analysis(series.id, result(phantoms[0], SHA_A), "0.1.0")
        assert not row.is_stale(SHA_A) and row.is_stale(SHA_B)
        newer = store.save_analysis(series.id, result(phantoms[0], SHA_B), "0.2.0")
        assert store.analysis(series.id) == newer and not newer.is_stale(SHA_B)
        assert not row.lung_mask.exists() and newer.lung_mask.exists()  # old files removed
        assert counts(store.db_path)["analyses"] == 1


def test_results_of_another_analysis_version_are_stale(tmp_path, inventory, phantoms,
                                                        monkeypatch):
    import scoat_core

    with imported(tmp_path, inventory) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        row = store.save_analysis(series.id, result(phantoms[0], SHA_A), "0.1.0")
        assert row.metrics["analysis_version"] == scoat_core.ANALYSIS_VERSION
        assert not row.is_stale(SHA_A)
        monkeypatch.setattr(scoat_core, "ANALYSIS_VERSION", scoat_core.ANALYSIS_VERSION + 1)
        assert row.is_stale(SHA_A)


def test_failures_are_kept_until_an_analysis_is_saved(tmp_path, inventory, phantoms,
                                                      monkeypatch):
    import scoat_core

    with imported(tmp_path, inventory) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        assert store.failure(series.id, SHA_A) is None
        store.save_failure(series.id, "no lungs found in x.dcm", SHA_A)
    with Store.open(tmp_path / "db" / "scoat.sqlite") as store:  # kept across a restart
        assert store.failure(series.id, SHA_A) == "no lungs found in x.dcm"
        assert store.failure(series.id, SHA_B) is None  # another model may succeed
        monkeypatch.setattr(scoat_core, "ANALYSIS_VERSION", scoat_core.ANALYSIS_VERSION + 1)
        assert store.failure(series.id, SHA_A) is None  # so may another analysis version
        monkeypatch.undo()
        store.save_analysis(series.id, result(phantoms[0], SHA_A), "0.1.0")
        assert store.failure(series.id, SHA_A) is None


def test_a_version_1_database_gains_the_failures_table(tmp_path, inventory, monkeypatch):
    import scoat_core.store.schema as store_module

    db = tmp_path / "old.sqlite"
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    with Store.open(db) as store:
        store.import_inventory(inventory)
    monkeypatch.undo()
    with Store.open(db) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        store.save_failure(series.id, "reason")
        assert store.failure(series.id) == "reason" and len(store.patients()) == 2


def test_merge_patients_moves_exams_and_sticks_on_reimport(tmp_path, inventory):
    with imported(tmp_path, inventory) as store:
        keep, other = patient_pk(store, PID), patient_pk(store, "PATX")
        store.merge_patients(keep, other)
        assert [(p.id, p.n_exams) for p in store.patients()] == [(keep, 3)]
        assert [e.study_date is None for e in store.exams(keep)] == [False, False, True]
        assert store.import_inventory(inventory) == [keep]
        assert counts(store.db_path)["patients"] == 1 and counts(store.db_path)["exams"] == 3
        with pytest.raises(ValueError):
            store.merge_patients(keep, keep)


def test_select_another_series_is_kept_on_reimport(tmp_path, inventory):
    with imported(tmp_path, inventory) as store:
        first, second = store.exams(patient_pk(store, PID))
        other = next(s for s in store.series(first.id) if not s.selected)
        store.select_series(first.id, other.id)
        assert store.exam(first.id).selected.id == other.id
        assert sum(s.selected for s in store.series(first.id)) == 1
        store.import_inventory(inventory)
        assert store.exam(first.id).selected.id == other.id
        with pytest.raises(KeyError):
            store.select_series(second.id, other.id)


def test_dateless_volume_gets_the_date_the_user_gives(tmp_path, inventory):
    with imported(tmp_path, inventory) as store:
        store.merge_patients(patient_pk(store, PID), patient_pk(store, "PATX"))
        pk = patient_pk(store, PID)
        dateless = store.exams(pk)[-1]
        store.set_exam_date(dateless.id, date(2020, 1, 15))
        exams = store.exams(pk)
        assert exams[0].id == dateless.id and exams[0].study_date == date(2020, 1, 15)
        assert not any("no exam date" in w for w in exams[0].selected.warnings)
        vol = store.load_volume(exams[0].selected)
        assert vol.info.study_date == date(2020, 1, 15)
        assert not any("no exam date" in w for w in vol.warnings)
        store.import_inventory(inventory)  # the file still has no date: keep the user's
        assert store.exam(dateless.id).study_date == date(2020, 1, 15)


def test_missing_source_names_the_path_and_locate_fixes_it(tmp_path, data, inventory):
    src = copy_of(data, tmp_path)
    with imported(tmp_path, src) as store:
        assert store.missing_sources() == []
        moved = tmp_path / "usb" / "sources"
        moved.parent.mkdir()
        src.rename(moved)
        missing = store.missing_sources()
        assert len(missing) == 4
        series = missing[0]
        with pytest.raises(SourceMissingError) as err:
            store.load_volume(series)
        assert str(series.source) in str(err.value) and "Locate" in str(err.value)
        new_place = moved / series.source.relative_to(src)
        assert store.locate(series.id, new_place) == 4
        assert store.missing_sources() == []
        assert store.load_volume(store.series_row(series.id)).shape == series.shape
        # an explicit prefix rewrite, and the idempotent re-import from the new place
        assert store.relocate(moved, src) == 4 and store.relocate(moved, src) == 0
        moved.rename(src)
        before = counts(store.db_path)
        store.import_inventory(find_exams(src))
        assert counts(store.db_path) == before


def test_failed_commit_keeps_previous_analysis(tmp_path, inventory, phantoms, monkeypatch):
    with imported(tmp_path, inventory) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        old = store.save_analysis(series.id, result(phantoms[0], SHA_A), "0.1.0")

        def broken_commit():
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(store, "_commit", broken_commit)
        empty = phantoms[0].lesion.derive(np.zeros_like(phantoms[0].lesion.array))
        with pytest.raises(sqlite3.OperationalError):
            store.save_analysis(series.id, result(phantoms[0], SHA_B, empty), "0.2.0")
        monkeypatch.undo()
        assert store.analysis(series.id) == old
        assert counts(store.db_path)["analyses"] == 1
        assert [p.name for p in (store.cache_dir / "analyses").iterdir()] == [
            old.lung_mask.parent.name]
        _, opacity = store.load_masks(old)
        assert opacity.array.any()


def test_killed_during_save_loses_nothing_finished(tmp_path, inventory, phantoms):
    db = tmp_path / "db" / "scoat.sqlite"
    with imported(tmp_path, inventory) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        old = store.save_analysis(series.id, result(phantoms[0], SHA_A), "0.1.0")
    script = textwrap.dedent(f"""
        import os, types
        from scoat_core.store import Store
        store = Store.open({str(db)!r})
        row = store.analysis({series.id})
        lung, opacity = store.load_masks(row)
        fake = types.SimpleNamespace(lung=lung, opacity=opacity, device="cpu", seconds=1.0,
                                     model={{"name": "m", "width": 8, "sha256": {SHA_B!r}}},
                                     to_json=lambda: {{"lov_ml": -1.0}})
        store._commit = lambda: os._exit(9)  # the app is killed before the commit
        store.save_analysis({series.id}, fake, "9.9")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 9, proc.stderr
    with Store.open(db) as store:
        assert store.analysis(series.id) == old
        assert counts(db) == {"patients": 2, "exams": 3, "series": 4, "analyses": 1}
        orphans = store.vacuum_cache(min_age_s=0)
        assert [p.parent.name for p in orphans] == ["analyses"]
        assert orphans[0] != old.lung_mask.parent and old.lung_mask.is_file()
        assert store.vacuum_cache(min_age_s=0) == []


def test_second_store_on_the_same_file_sees_committed_data(tmp_path, inventory, phantoms):
    db = tmp_path / "scoat.sqlite"
    with Store.open(db) as first, Store.open(db) as second:
        assert second.patients() == []
        first.import_inventory(inventory)
        assert second.patients() == first.patients()
        series = second.exams(patient_pk(second, PID))[0].selected
        row = second.save_analysis(series.id, result(phantoms[0]), "0.1.0")
        assert first.analysis(series.id) == row


def test_load_volume_cache_hit_matches_the_source(tmp_path, data):
    src = copy_of(data, tmp_path)
    with imported(tmp_path, src) as store:
        exams = [e for p in store.patients() for e in store.exams(p.id)]
        loaded = [store.load_volume(e.selected) for e in exams]
        assert all(store.series_row(e.selected.id).ct_cached for e in exams)
        shutil.rmtree(src)  # from now on only the cache can answer
        for exam, first in zip(exams, loaded, strict=True):
            again = store.load_volume(store.series_row(exam.selected.id))
            np.testing.assert_array_equal(again.array, first.array)
            assert again.array.dtype == first.array.dtype
            assert again.same_geometry(first, tol=1e-4)
            assert again.info == first.info and again.is_hu == first.is_hu
            assert again.warnings == first.warnings
        two = next(e for e in exams if e.n_series == 2)
        uncached = next(s for s in store.series(two.id) if not s.selected)
        with pytest.raises(SourceMissingError):
            store.load_volume(uncached)


def test_delete_patient_removes_its_cached_files(tmp_path, inventory, phantoms):
    with imported(tmp_path, inventory) as store:
        pk = patient_pk(store, PID)
        series = store.exams(pk)[0].selected
        store.load_volume(series)
        row = store.save_analysis(series.id, result(phantoms[0]), "0.1.0")
        cached = store.cache_dir / "ct" / f"series-{series.id}.nii"
        assert cached.is_file()
        store.delete_patient(pk)
        assert [p.patient_id for p in store.patients()] == ["PATX"]
        assert not cached.exists() and not row.lung_mask.parent.exists()
        assert counts(store.db_path) == {"patients": 1, "exams": 1, "series": 1, "analyses": 0}


def test_open_refuses_a_newer_schema_and_a_non_database(tmp_path):
    db = tmp_path / "scoat.sqlite"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        Store.open(db)
    with sqlite3.connect(tmp_path / "other.sqlite") as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not a SCOAT database"):
        Store.open(tmp_path / "other.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreDamagedError, match="damaged") as err:
        Store.open(junk)
    assert err.value.path == junk and "not an SQLite database" in err.value.reason


def test_migration_hook_upgrades_and_keeps_rows(tmp_path, inventory, monkeypatch):
    import scoat_core.store.schema as store_module

    db = tmp_path / "scoat.sqlite"
    with Store.open(db) as store:
        store.import_inventory(inventory)

    def add_note_column(conn):
        conn.execute("ALTER TABLE exams ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    current = store_module.SCHEMA_VERSION
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(store_module._MIGRATIONS, current, add_note_column)
    with Store.open(db) as store:
        assert len(store.patients()) == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == current + 1
        assert conn.execute("SELECT COUNT(*) FROM exams WHERE note = ''").fetchone()[0] == 3


def test_a_worker_thread_can_save_while_the_gui_thread_reads(tmp_path, inventory, phantoms):
    with imported(tmp_path, inventory) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        out: list = []
        worker = threading.Thread(
            target=lambda: out.append(store.save_analysis(series.id, result(phantoms[0]), "0.1"))
        )
        worker.start()
        while worker.is_alive():
            assert len(store.patients()) == 2
        worker.join()
        assert store.analysis(series.id) == out[0]


# ------------------------------------------------------------------ issue 14: damaged file
def a_database_with_rows(path: Path) -> Path:
    with Store.open(path) as store, store._tx() as db:
        for i in range(400):
            db.execute("INSERT INTO patients (patient_id, name, created) VALUES (?, ?, ?)",
                       (f"P{i}", "x" * 100, "2024-01-01"))
    return path


def test_a_truncated_or_damaged_database_is_named_with_the_reason(tmp_path):
    good = a_database_with_rows(tmp_path / "good.sqlite").read_bytes()
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(StoreDamagedError) as err:
        Store.open(truncated)
    assert err.value.path == truncated and "truncated" in err.value.reason
    assert str(truncated) in str(err.value) and "\n" not in str(err.value)
    page, by_check = 4096, 0
    for k in range(1, len(good) // page):  # a damaged page anywhere is found on opening
        damaged = bytearray(good)
        damaged[k * page : k * page + 12] = b"\xff" * 12
        path = tmp_path / f"page{k}.sqlite"
        path.write_bytes(bytes(damaged))
        with pytest.raises(StoreDamagedError) as err:
            Store.open(path).close()
        assert "\n" not in str(err.value)
        by_check += "integrity check" in err.value.reason
    assert by_check  # some only the quick check finds


def test_move_aside_keeps_the_damaged_files_and_a_new_store_starts(tmp_path):
    from datetime import datetime

    from scoat_core.store import damaged_name, move_aside

    db = tmp_path / "data" / "scoat.db"
    db.parent.mkdir()
    db.write_bytes(b"garbage" * 1000)
    (tmp_path / "data" / "scoat.db-wal").write_bytes(b"wal")
    (tmp_path / "data" / "scoat.db-shm").write_bytes(b"shm")
    (tmp_path / "data" / "cache" / "ct").mkdir(parents=True)
    (tmp_path / "data" / "cache" / "ct" / "series-1.nii").write_bytes(b"ct")
    with pytest.raises(StoreDamagedError):
        Store.open(db)
    when = datetime(2024, 5, 6, 7, 8, 9)
    target = damaged_name(db, when)
    assert target == db.with_name("scoat.db.damaged-20240506-070809")
    assert move_aside(db, target) == target
    assert target.read_bytes() == b"garbage" * 1000
    assert Path(f"{target}-wal").read_bytes() == b"wal"
    assert Path(f"{target}-shm").read_bytes() == b"shm"
    assert (Path(f"{target}.cache") / "ct" / "series-1.nii").read_bytes() == b"ct"
    assert not db.exists() and not (tmp_path / "data" / "cache").exists()
    with Store.open(db) as store:
        assert store.patients() == []
    store.close()
    # the same second again: another name, nothing overwritten
    again = damaged_name(db, when)
    assert again == db.with_name("scoat.db.damaged-20240506-070809-2")
    assert move_aside(db, again) == again and target.read_bytes() == b"garbage" * 1000
    with pytest.raises(StoreError, match="no such file"):
        move_aside(db)


# ------------------------------------------------------------------ issue 14: content hash
def change_pixels(folder: Path, delta: int = 300) -> None:
    """Rewrite every slice with other pixels, keeping all UIDs."""
    import pydicom

    for f in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.PixelData = (ds.pixel_array.astype(np.int16) + delta).tobytes()
        ds.save_as(f)


def test_reimport_with_other_pixels_drops_the_cache_and_the_result_is_stale(tmp_path, phantoms):
    src = tmp_path / "src"
    folders = write_timeline(phantoms[:1], src, nifti=False)
    dicom = next(folders[0]["folder"].glob("dicom*"))
    with imported(tmp_path, src) as store:
        series = store.exams(patient_pk(store, PID))[0].selected
        first = store.load_volume(series)
        row = store.save_analysis(series.id, result(phantoms[0]), "0.1.0")
        assert not row.ct_changed and not row.is_stale(SHA_A)
        store.import_inventory(find_exams(src))  # the same files again: still current
        assert np.array_equal(store.load_volume(series).array, first.array)
        assert not store.analysis(series.id).is_stale(SHA_A)

        change_pixels(dicom)  # same UIDs, other pixels
        store.import_inventory(find_exams(src))
        again = store.load_volume(store.series_row(series.id))
        np.testing.assert_array_equal(again.array, first.array + 300)  # not the old cache
        stale = store.analysis(series.id)
        assert stale.ct_changed and stale.is_stale(SHA_A)
        assert store.series_row(series.id).ct_cached  # cached again, with the new pixels
        np.testing.assert_array_equal(store.load_volume(series).array, again.array)
        fresh = store.save_analysis(series.id, result(phantoms[0]), "0.1.0")
        assert not fresh.ct_changed and not fresh.is_stale(SHA_A)


def test_a_version_2_database_gains_content_hashes(tmp_path, inventory, phantoms, monkeypatch):
    import scoat_core.store.schema as schema

    db = tmp_path / "v2.sqlite"
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    with Store.open(db) as store:
        store.import_inventory(inventory)
        series = store.exams(patient_pk(store, PID))[0].selected
        with store._tx() as conn:  # a version-2 analysis row (no content_hash column)
            conn.execute(
                "INSERT INTO analyses (series_pk, created, software_version, model_sha256,"
                " metrics_json, lung_mask, opacity_mask) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (series.id, "2024-01-01T00:00:00+00:00", "0.1.0", SHA_A,
                 json.dumps(result(phantoms[0]).to_json()), "x/l.nii.gz", "x/o.nii.gz"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "content_hash" not in {r[1] for r in conn.execute("PRAGMA table_info(series)")}
    monkeypatch.undo()
    with Store.open(db) as store:
        row = store.analysis(series.id)
        assert row is not None and not row.ct_changed and not row.is_stale(SHA_A)
        store.load_volume(series)  # the first read from the source records the hash
        assert not store.analysis(series.id).ct_changed and len(store.patients()) == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        hashes = conn.execute("SELECT content_hash FROM series WHERE id = ?",
                              (series.id,)).fetchone()
        assert hashes[0] and len(hashes[0]) == 32
        assert {r[1] for r in conn.execute("PRAGMA table_info(analyses)")} >= {"content_hash"}


def _registration(dice: float = 0.9):
    from scoat_core.followup.registration import METHOD_2D, Registration

    return Registration([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0, 2.0, -1.0, 5.0], [0.0, 0.0, 0.0],
                        dice, METHOD_2D, "single slice")


def test_a_version_3_database_gains_the_registrations_table(tmp_path, inventory, phantoms,
                                                            monkeypatch):
    import scoat_core.store.schema as schema

    db = tmp_path / "v3.sqlite"
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    with Store.open(db) as store:
        store.import_inventory(inventory)
        first, second = [e.selected for e in store.exams(patient_pk(store, PID))]
        rows = [store.save_analysis(s.id, result(ph), "0.1.0")
                for s, ph in zip((first, second), phantoms, strict=True)]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "registrations" not in tables
    monkeypatch.undo()
    assert schema.SCHEMA_VERSION >= 4
    with Store.open(db) as store:
        assert [a.id for _, a in store.analyses_for_patient(patient_pk(store, PID))] == \
            [r.id for r in rows]  # the analyses are kept
        assert store.registration(rows[0].id, rows[1].id) is None
        store.save_registration(rows[0].id, rows[1].id, _registration())
        assert store.registration(rows[0].id, rows[1].id) == _registration()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert conn.execute("SELECT COUNT(*) FROM registrations").fetchone()[0] == 1


def test_registrations_are_kept_per_pair_of_analyses_and_go_with_them(tmp_path, inventory,
                                                                      phantoms, monkeypatch):
    import scoat_core.followup.comparison as comparison
    from scoat_core.followup.comparison import TimePoint

    with imported(tmp_path, inventory) as store:
        pk = patient_pk(store, PID)
        series = [e.selected for e in store.exams(pk)]
        rows = [store.save_analysis(s.id, result(ph), "0.1.0")
                for s, ph in zip(series, phantoms, strict=True)]
        points = [TimePoint(i, "", ph.ct, ph.lung.array, ph.lesion.array)
                  for i, ph in enumerate(phantoms)]
        calls = []
        monkeypatch.setattr(comparison, "register",
                            lambda a, b: calls.append(1) or _registration(0.95))
        analyses = {0: rows[0].id, 1: rows[1].id}
        assert store.registrations_for(points, analyses) == {1: _registration(0.95)}
        assert store.registrations_for(points, analyses) == {1: _registration(0.95)}
        assert len(calls) == 1  # the second comparison reads it from the store
    with Store.open(tmp_path / "db" / "scoat.sqlite") as store:  # and so does a restart
        assert store.registrations_for(points, analyses) == {1: _registration(0.95)}
        assert len(calls) == 1
        # a new analysis of the follow-up replaces its row: the registration goes with it
        again = store.save_analysis(series[1].id, result(phantoms[1]), "0.1.0")
        assert store.registration(rows[0].id, rows[1].id) is None
        assert store.registration(rows[0].id, again.id) is None
        store.save_registration(rows[0].id, again.id, _registration())
        store.delete_patient(pk)  # deleting the exams deletes their registrations
        with sqlite3.connect(store.db_path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM registrations").fetchone()[0] == 0


def test_recent_stage_seconds_are_those_of_the_latest_analyses(tmp_path, inventory, phantoms):
    with imported(tmp_path, inventory) as store:
        series = [e.selected for e in store.exams(patient_pk(store, PID))]
        for s, ph in zip(series, phantoms, strict=True):
            store.save_analysis(s.id, result(ph), "0.1.0")
        assert store.recent_stage_seconds() == [{"lung": 1.0}, {"lung": 1.0}]
        assert store.recent_stage_seconds(limit=1, device="cuda") == []
