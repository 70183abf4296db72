"""The output folder of ``write_analysis``: one result set replaces the last, write errors name
the file, stale staging folders are cleaned, and the DICOM SEG says what it adapted or skipped.

Results are made from the phantom's truth (no network), so each test takes well under a second.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from scoat_core.analysis import output
from scoat_core.analysis.output import (
    FILES,
    SEG_FILE,
    OutputFolderError,
    check_output_dir,
    clean_stale_partials,
    write_analysis,
)
from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import quantify
from scoat_core.io.dicom import read_dicom
from scoat_core.io.dicom_write import write_dicom_series
from scoat_core.phantom import make_phantom


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    ph = make_phantom(matrix=48, z_extent_mm=60, slice_spacing_mm=5, slice_thickness_mm=5)
    folder = tmp_path_factory.mktemp("exam") / "dicom"
    write_dicom_series(ph.ct, folder)
    return ph, folder, read_dicom(folder)


def result_of(ph, volume, *, seconds: float = 1.0, empty: bool = False) -> AnalysisResult:
    """A result on ``volume``'s grid; ``seconds`` tells runs apart in metrics.json."""
    lung = volume.derive(ph.lung.array.astype(np.uint8), is_hu=False)
    lesion = ph.lesion.array.astype(np.uint8) * (0 if empty else 1)
    opacity = volume.derive(lesion, is_hu=False)
    return AnalysisResult(lung=lung, opacity=opacity, metrics=quantify(volume, lung, opacity),
                          model={"name": "truth", "sha256": "0" * 64}, device="cpu",
                          seconds=seconds, stage_seconds={}, warnings=[])


def contents(folder: Path) -> dict[str, bytes]:
    """The visible files of ``folder`` (hidden staging folders aside)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def hidden_leftovers(out: Path) -> list[str]:
    beside = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    inside = [p.name for p in out.iterdir() if p.name.startswith(".")] if out.is_dir() else []
    return beside + inside


def sources(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


# ------------------------------------------------------------------ one set replaces the last
def test_reusing_out_leaves_no_file_of_the_previous_run(exam, tmp_path):
    ph, folder, volume = exam
    out = tmp_path / "out"
    first = write_analysis(result_of(ph, volume), volume, out, source_files=sources(folder))
    assert SEG_FILE in first
    second = write_analysis(result_of(ph, volume, seconds=2.0), volume, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(second) == sorted(FILES)
    assert json.loads((out / "metrics.json").read_text())["seconds"] == 2.0
    assert hidden_leftovers(out) == []


def test_a_folder_with_the_users_files_keeps_them(exam, tmp_path):
    ph, folder, volume = exam
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    write_analysis(result_of(ph, volume), volume, out, source_files=sources(folder))
    write_analysis(result_of(ph, volume, seconds=2.0), volume, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "notes.txt"])
    assert (out / "notes.txt").read_text() == "mine"
    assert hidden_leftovers(out) == []


class Killed(BaseException):
    """Stands for the process being killed: nothing after it runs (no cleanup)."""


def killed_at(real, calls: dict[str, int]):
    """``real``, counting the calls shared in ``calls``; the ``calls["at"]``-th one is a kill."""
    def call(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["at"]:
            raise Killed()
        return real(*args, **kwargs)
    return call


@pytest.mark.parametrize("user_file", [False, True], ids=["own folder", "user's folder"])
def test_a_crash_at_any_step_leaves_the_old_set_or_the_new_one(exam, tmp_path, monkeypatch,
                                                              user_file):
    ph, folder, volume = exam
    old_set_dir, new_set_dir = tmp_path / "old", tmp_path / "new"
    write_analysis(result_of(ph, volume), volume, old_set_dir, source_files=sources(folder))
    write_analysis(result_of(ph, volume, seconds=2.0, empty=True), volume, new_set_dir)
    old_set, new_set = contents(old_set_dir), contents(new_set_dir)
    steps = 0
    for crash_at in range(1, 30):
        out = tmp_path / f"out{crash_at}"
        shutil.copytree(old_set_dir, out)
        if user_file:
            (out / "notes.txt").write_text("mine")
        calls = {"n": 0, "at": crash_at}
        for module, name in ((output.os, "replace"), (output.os, "rename"),
                             (output.shutil, "rmtree")):
            monkeypatch.setattr(module, name, killed_at(getattr(module, name), calls))
        try:
            write_analysis(result_of(ph, volume, seconds=2.0, empty=True), volume, out)
            crashed = False
        except Killed:
            crashed = True
        monkeypatch.undo()
        if not crashed:
            break
        steps += 1
        shown = {k: v for k, v in contents(out).items() if k != "notes.txt"} \
            if out.exists() else {}
        old_only = [n for n, data in shown.items() if data == old_set.get(n) != new_set.get(n)]
        new_only = [n for n, data in shown.items() if data == new_set.get(n) != old_set.get(n)]
        for name, data in shown.items():
            assert data in (old_set.get(name), new_set.get(name)), (crash_at, name)
        assert not (old_only and new_only), (crash_at, old_only, new_only)  # never a mix
        if "metrics.json" in shown:  # metrics.json only stands beside its own whole set
            assert shown in (old_set, new_set), (crash_at, sorted(shown))
        monkeypatch.setattr(output, "_alive", lambda pid: False)  # the run is dead
        clean_stale_partials(out)
        monkeypatch.undo()
        after = {k: v for k, v in contents(out).items() if k != "notes.txt"}
        assert after in (old_set, new_set), (crash_at, sorted(after))
        assert hidden_leftovers(out) == [], crash_at
        if user_file:
            assert (out / "notes.txt").read_text() == "mine"
    assert steps >= 3  # the loop went through every rename of the commit


def test_killed_between_the_two_renames_the_next_run_finishes(exam, tmp_path):
    ph, folder, volume = exam
    out = tmp_path / "out"
    write_analysis(result_of(ph, volume), volume, out, source_files=sources(folder))
    script = textwrap.dedent(f"""
        import os, pickle
        from scoat_core.analysis import output
        from scoat_core.io.dicom import read_dicom
        real = os.rename
        calls = []
        def rename(a, b):
            calls.append(1)
            real(a, b)
            if len(calls) == 1:  # out -> .out.old-…, then killed
                os._exit(9)
        output.os.rename = rename
        result = pickle.loads(open({str(tmp_path / "r.pkl")!r}, "rb").read())
        volume = read_dicom({str(folder)!r})
        output.write_analysis(result, volume, {str(out)!r})
    """)
    import pickle

    (tmp_path / "r.pkl").write_bytes(pickle.dumps(result_of(ph, volume, seconds=2.0)))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert not out.exists()
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out."))
    assert [n.split("-")[0] for n in names] == [".out.old", ".out.partial"]
    clean_stale_partials(out)  # the next run: the killed one's pid is dead
    assert json.loads((out / "metrics.json").read_text())["seconds"] == 2.0
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert hidden_leftovers(out) == []


# ------------------------------------------------------------------ stale staging folders
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_rerun_cleans_partial_folders_of_dead_runs_only(exam, tmp_path):
    ph, _, volume = exam
    out = tmp_path / "out"
    out.mkdir()
    host = output._host()
    dead = tmp_path / f".out.partial-{dead_pid()}@{host}-0123456789ab"
    dead_inside = out / f".partial-{dead_pid()}@{host}-ba9876543210"
    legacy_old = out / ".partial-k2j4h5x1"  # an earlier version's, no pid: by age
    legacy_new = out / ".partial-q9w8e7r6"
    alive = tmp_path / f".out.partial-{os.getpid()}@{host}-aaaaaaaaaaaa"
    for folder in (dead, dead_inside, legacy_old, legacy_new, alive):
        folder.mkdir()
    hours_ago = time.time() - 2 * 3600
    os.utime(legacy_old, (hours_ago, hours_ago))
    write_analysis(result_of(ph, volume), volume, out)
    assert not dead.exists() and not dead_inside.exists() and not legacy_old.exists()
    assert legacy_new.is_dir() and alive.is_dir()  # may be a concurrent run's
    assert (out / "metrics.json").is_file()


# ------------------------------------------------------------------ the --out check
def test_check_output_dir_refuses_a_file_and_an_unwritable_place(tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("x")
    with pytest.raises(OutputFolderError, match="is a file") as err:
        check_output_dir(a_file)
    assert str(a_file) in str(err.value)
    with pytest.raises(OutputFolderError, match="is a file"):
        check_output_dir(a_file / "sub")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # nothing created
    if os.name == "posix" and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(OutputFolderError, match="cannot write") as err:
                check_output_dir(locked / "out")
            assert str(locked / "out") in str(err.value) and "\n" not in str(err.value)
        finally:
            locked.chmod(0o700)


# ------------------------------------------------------------------ write errors name the file
def test_enospc_in_a_write_names_the_file_and_keeps_the_old_set(exam, tmp_path, monkeypatch):
    ph, folder, volume = exam
    out = tmp_path / "out"
    write_analysis(result_of(ph, volume), volume, out, source_files=sources(folder))
    before = contents(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.csv, "writer", full)  # metrics.csv: disk full
    with pytest.raises(OSError) as err:
        write_analysis(result_of(ph, volume, seconds=2.0), volume, out)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(out / "metrics.csv")
    assert contents(out) == before and hidden_leftovers(out) == []


def test_a_mask_itk_wrote_incompletely_is_an_error(exam, tmp_path, monkeypatch):
    """ITK does not report a failed write (a full disk leaves a truncated .nii.gz)."""
    ph, _, volume = exam
    real = output.write_mask

    def truncating(mask, path):
        real(mask, path)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])

    monkeypatch.setattr(output, "write_mask", truncating)
    with pytest.raises(OSError) as err:
        write_analysis(result_of(ph, volume), volume, tmp_path / "out")
    assert err.value.filename == str(tmp_path / "out" / "lung_mask.nii.gz")
    assert "incomplete" in err.value.strerror
    assert not (tmp_path / "out").exists() and hidden_leftovers(tmp_path / "out") == []


def test_enospc_inside_pydicom_names_the_seg_without_a_traceback(exam, tmp_path, monkeypatch):
    import pydicom.filewriter as filewriter

    ph, folder, volume = exam
    real = filewriter.write_data_element

    def full(fp, elem, *args, **kwargs):
        if elem.tag == 0x7FE00010:  # PixelData
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fp, elem, *args, **kwargs)

    monkeypatch.setattr(filewriter, "write_data_element", full)
    with pytest.raises(OSError) as err:
        write_analysis(result_of(ph, volume), volume, tmp_path / "out",
                       source_files=sources(folder))
    assert err.value.errno == errno.ENOSPC
    assert err.value.filename == str(tmp_path / "out" / SEG_FILE)
    assert "Traceback" not in str(err.value)
    assert not (tmp_path / "out").exists() and hidden_leftovers(tmp_path / "out") == []


# ------------------------------------------------------------------ DICOM SEG, adapted or not
def variant(folder: Path, tmp_path: Path, name: str, edit) -> Path:
    """A copy of the series with ``edit(index, dataset)`` applied to each file."""
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    for i, f in enumerate(sources(copy)):
        ds = pydicom.dcmread(f)
        edit(i, ds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.save_as(f)
    return copy


def seg_warnings(written: dict[str, Path]) -> list[str]:
    return [w for w in json.loads(written["metrics.json"].read_text())["warnings"] if "SEG" in w]


def frame_positions(seg_path: Path) -> dict[str, list[float]]:
    """SOP instance UID of each frame's source → the frame's position."""
    seg = pydicom.dcmread(seg_path)
    out = {}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        out[uid] = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
    return out


def test_seg_with_a_duplicate_slice_is_written_without_it(exam, tmp_path, caplog):
    ph, folder, _ = exam
    dup = variant(folder, tmp_path, "dup", lambda i, ds: None)
    ds = pydicom.dcmread(sources(dup)[3])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(dup / "IM99999.dcm")
    volume = read_dicom(dup)
    written = write_analysis(result_of(ph, volume), volume, tmp_path / "out",
                             source_files=sources(dup))
    assert SEG_FILE in written
    (note,) = seg_warnings(written)
    assert "duplicate source slice" in note and note in caplog.text
    referenced = {r.ReferencedSOPInstanceUID for s in
                  pydicom.dcmread(written[SEG_FILE]).ReferencedSeriesSequence
                  for r in s.ReferencedInstanceSequence}
    assert ds.SOPInstanceUID not in referenced and len(referenced) == volume.shape[0]


def test_seg_of_unevenly_spaced_slices_keeps_each_source_position(exam, tmp_path):
    ph, folder, _ = exam

    def shift(i, ds):
        if i >= 6:
            ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2],
                                       float(ds.ImagePositionPatient[2]) + 2.0]

    uneven = variant(folder, tmp_path, "uneven", shift)
    volume = read_dicom(uneven)
    written = write_analysis(result_of(ph, volume), volume, tmp_path / "out",
                             source_files=sources(uneven))
    assert SEG_FILE in written
    assert any("not evenly spaced" in w for w in seg_warnings(written))
    positions = frame_positions(written[SEG_FILE])
    for f in sources(uneven):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        if ds.SOPInstanceUID in positions:
            assert positions[ds.SOPInstanceUID] == pytest.approx(
                [float(v) for v in ds.ImagePositionPatient])
    assert len(positions) > 0


@pytest.mark.parametrize(("label", "edit", "expected"), [
    ("backslash name", lambda i, ds: setattr(ds, "PatientName", "Doe\\John"), "Doe John"),
    ("no name", lambda i, ds: delattr(ds, "PatientName"), ""),
    ("sex U", lambda i, ds: setattr(ds, "PatientSex", "U"), None),
])
def test_seg_with_odd_patient_attributes_is_written_and_says_so(exam, tmp_path, label, edit,
                                                               expected):
    ph, folder, _ = exam
    odd = variant(folder, tmp_path, "odd", edit)
    volume = read_dicom(odd)
    written = write_analysis(result_of(ph, volume), volume, tmp_path / "out",
                             source_files=sources(odd))
    assert SEG_FILE in written, seg_warnings(written)
    notes = seg_warnings(written)
    assert notes and all(n.startswith("DICOM SEG: ") for n in notes)
    seg = pydicom.dcmread(written[SEG_FILE])
    if expected is not None:
        assert str(seg.PatientName) == expected
    else:
        assert seg.PatientSex == ""


def test_seg_that_cannot_be_written_says_why_naming_the_file(exam, tmp_path, caplog):
    ph, folder, _ = exam
    volume = read_dicom(folder)
    other = variant(folder, tmp_path, "multi", lambda i, ds: setattr(ds, "NumberOfFrames", 2))
    written = write_analysis(result_of(ph, volume), volume, tmp_path / "out",
                             source_files=sources(other))
    assert SEG_FILE not in written and (tmp_path / "out" / "lung_mask.nii.gz").is_file()
    (reason,) = seg_warnings(written)
    assert reason.startswith("DICOM SEG not written: ") and str(sources(other)[0]) in reason
    assert "multi-frame" in reason and reason in caplog.text and "\n" not in reason
