"""Every view names the patient and exam it shows and follows the patient selected in the list
(issue 15): Compare, Timeline, 3-D, Attention and the Viewer; Compare on single-slice exams;
registrations kept across restarts; the analysis' time left."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from tests.app.patients import (
    analysed_store,
    click_item,
    click_tab,
    close,
    phantom_patients,
    shown_window,
    single_slice,
    truth_result,
)
from tests.app.test_main_window import wait_idle

A, B = "PHANTOM-0003", "PHANTOM-0005"
NAME_A, NAME_B = "PHANTOM-0003 · Phantom^Seed3", "PHANTOM-0005 · Phantom^Seed5"


@pytest.fixture(scope="module")
def two_patients(tmp_path_factory) -> tuple[Path, dict[str, list]]:
    root = tmp_path_factory.mktemp("two-patients")
    return root, phantom_patients(root)


def pane_labels(window) -> list[str]:
    return [p.label() for p in window.comparison.panes()]


def test_every_view_names_and_follows_the_selected_patient(qtbot, app_env, two_patients):
    """Patient A's comparison on screen, then B clicked in the list: Compare, Timeline, 3-D,
    Attention and the Viewer name B (never A) or say that no exam of B is shown yet."""
    from app.main_window import current_model_sha

    root, truths = two_patients
    dates = {pid: [p.ct.info.study_date.isoformat() for p in phs] for pid, phs in truths.items()}
    analysed_store(app_env / "data", root, truths, current_model_sha(), skip={(B, 1)})
    window = shown_window(qtbot)
    with qtbot.captureExceptions() as exceptions:
        click_item(qtbot, window, A, 0)  # A's first exam in the viewer
        wait_idle(qtbot, window)
        assert window.viewer.axial.label().startswith(f"{NAME_A}\n{dates[A][0]} · ")
        click_tab(qtbot, window, "Compare")
        wait_idle(qtbot, window)
        labels = pane_labels(window)
        assert [x.splitlines()[0] for x in labels] == [NAME_A, NAME_A]
        assert labels[0].splitlines()[1] == f"{dates[A][0]} · baseline"
        assert labels[1].splitlines()[1].startswith(f"{dates[A][1]} · day ")
        assert window.compare_title.text() == \
            f"{NAME_A} — {dates[A][0]} (baseline) vs {dates[A][1]}"

        click_item(qtbot, window, B)  # B has one of its two exams analysed
        wait_idle(qtbot, window)
        assert window.comparison.isHidden()  # A's panes are not left on screen
        note = window._compare_note
        assert not note.isHidden() and note.text() == (
            f"{NAME_B}: 1 of 2 exams analysed. Analyse at least two to compare them"
            " (Analysis › Analyse all exams of the patient).")
        assert window.compare_title.text() == NAME_B
        # the viewer no longer shows A's exam
        assert window.viewer.axial.volume() is None and window.exam_arrays() == (None, None)
        assert window.viewer.axial.label() == (
            f"{NAME_B}: no exam shown. Select an exam of this patient in the patient list.")
        click_tab(qtbot, window, "Timeline")
        assert window.plot.title() == f"{NAME_B} — 2 exams, {dates[B][0]} to {dates[B][1]}"
        assert [r["key"] for r in window.table.rows()] == window.browser.exam_keys(
            window.browser.current_patient())[:1]
        for tab, title in (("3-D", window.view3d_title), ("Attention", window.attention_title)):
            click_tab(qtbot, window, tab)
            assert title.text().startswith(NAME_B) and A not in title.text()

        # B's second exam analysed from the menu: B's comparison, every pane names B
        click_item(qtbot, window, B, 1)
        wait_idle(qtbot, window)
        [act] = [a for a in window.findChildren(type(window.menuBar().actions()[0]))
                 if a.text() == "&Analyse selected exam"]
        act.trigger()
        wait_idle(qtbot, window, 120000)
        assert not window.errors, window.errors
        click_tab(qtbot, window, "Compare")
        wait_idle(qtbot, window)
        assert not window.comparison.isHidden()
        labels = pane_labels(window)
        assert [x.splitlines()[0] for x in labels] == [NAME_B, NAME_B]
        assert all(A not in x for x in labels)
        assert window.compare_title.text().startswith(f"{NAME_B} — {dates[B][0]} (baseline)")
        for tab, title in (("3-D", window.view3d_title), ("Attention", window.attention_title)):
            click_tab(qtbot, window, tab)
            wait_idle(qtbot, window)
            assert title.text().startswith(f"{NAME_B} — {dates[B][1]}"), title.text()
        assert window.viewer.axial.label().startswith(f"{NAME_B}\n{dates[B][1]} · ")
    assert not exceptions, exceptions
    close(window)


def test_a_comparison_finishing_after_another_patient_was_selected_is_not_shown(
        qtbot, app_env, two_patients, monkeypatch):
    """A's comparison still registering when B (one exam analysed) is clicked: A's panes never
    appear under B."""
    import scoat_core.followup.comparison as comparison
    from app.main_window import current_model_sha

    root, truths = two_patients
    analysed_store(app_env / "data", root, truths, current_model_sha(), skip={(B, 1)})
    real = comparison.register

    def slow_register(*args):
        time.sleep(1.0)
        return real(*args)

    monkeypatch.setattr(comparison, "register", slow_register)
    window = shown_window(qtbot)
    click_item(qtbot, window, A)
    click_tab(qtbot, window, "Compare")
    qtbot.waitUntil(lambda: window.job is not None, timeout=10000)
    click_item(qtbot, window, B)  # while A's registration runs
    wait_idle(qtbot, window)
    assert window.comparison is None or window.comparison.isHidden()
    assert window._compare_note.text().startswith(f"{NAME_B}: 1 of 2 exams analysed.")
    assert window.compare_title.text() == NAME_B
    close(window)


def test_compare_single_slice_exams(qtbot, app_env, tmp_path):
    """Two analysed single-slice exams: registered in 2-D, the panes say so; no exception and
    no "Analyse two or more exams" (the registration used to crash in SimpleITK's BinShrink)."""
    from app.main_window import current_model_sha
    from scoat_core.io.exams import find_exams
    from scoat_core.io.images import write_image
    from scoat_core.phantom import make_timeline
    from scoat_core.store import Store

    phantoms = make_timeline(2, seed=7, matrix=64, z_extent_mm=200.0, slice_spacing_mm=1.0)
    folder = tmp_path / "slices"
    cuts = [single_slice(ph) for ph in phantoms]
    for (ct, _, _), ph in zip(cuts, phantoms, strict=True):
        write_image(ct, folder / f"PAT1_{ph.ct.info.study_date:%Y%m%d}.nii.gz")
    with Store.open(app_env / "data" / "scoat.db") as store:
        store.import_inventory(find_exams(folder))
        (patient,) = store.patients()
        for exam, (ct, lung, lesion) in zip(store.exams(patient.id), cuts, strict=True):
            assert exam.selected.shape == (1, 64, 64)
            ph = type("Cut", (), {"ct": ct, "lung": lung, "lesion": lesion})
            store.save_analysis(exam.selected.id, truth_result(ph, current_model_sha()),
                                "0.1.0")
    window = shown_window(qtbot)
    with qtbot.captureExceptions() as exceptions:
        click_item(qtbot, window, "PAT1")
        click_tab(qtbot, window, "Compare")
        wait_idle(qtbot, window)
    assert not exceptions and not window.errors, (exceptions, window.errors)
    assert window._compare_note.isHidden() and not window.comparison.isHidden()
    labels = pane_labels(window)
    assert len(labels) == 2 and all(x.startswith("PAT1\n") for x in labels)
    assert "2-D rigid + affine registration (single slice)" in labels[1]
    assert "not registered" not in labels[1]
    close(window)


def test_registrations_are_not_computed_again_after_a_restart(qtbot, app_env, two_patients,
                                                              monkeypatch):
    import scoat_core.followup.comparison as comparison
    from app.main_window import current_model_sha

    root, truths = two_patients
    analysed_store(app_env / "data", root, truths, current_model_sha())
    window = shown_window(qtbot)
    click_item(qtbot, window, A)
    click_tab(qtbot, window, "Compare")
    wait_idle(qtbot, window)
    first = window.comparison.point_map(window.comparison.time_points()[1].key).matrix
    close(window)

    def register_again(*_):
        raise AssertionError("registered again")

    monkeypatch.setattr(comparison, "register", register_again)
    again = shown_window(qtbot)
    click_item(qtbot, again, A)
    click_tab(qtbot, again, "Compare")
    wait_idle(qtbot, again)
    assert not again.errors, again.errors
    assert [x.splitlines()[0] for x in pane_labels(again)] == [NAME_A, NAME_A]
    np.testing.assert_allclose(
        again.comparison.point_map(again.comparison.time_points()[1].key).matrix, first)
    close(again)


def test_analysis_time_left_follows_the_measured_stage_rates(qtbot, app_env, two_patients,
                                                             monkeypatch):
    """Analysis › Analyse selected exam, the stages on a fake clock (lung mask 10 s, network
    30 s, as the analyses before measured on this machine): the time left shown is the true
    time left, falling, not the old extrapolation of the whole bar that climbed."""
    import scoat_core.analysis.pipeline as pipeline
    import scoat_core.lung as lung_module
    import scoat_core.progress as progress_module
    from app.jobs.workers import ANALYSIS_STAGES
    from app.main_window import current_model_sha

    root, truths = two_patients
    analysed_store(app_env / "data", root, truths, current_model_sha(), skip={(B, 1)})
    clock = [1000.0]
    monkeypatch.setattr(progress_module, "monotonic", lambda: clock[0])
    phantom = truths[B][1]

    def steps(seconds: float, report) -> None:
        for i in range(1, 11):
            clock[0] += seconds / 10
            time.sleep(0.06)  # past the progress throttle: every step reaches the panel
            report(i / 10)

    class Lungs:
        labels, warnings, complete = phantom.lung, [], True

    def segment_lungs(volume, progress, cancel):
        steps(10.0, progress)
        return Lungs()

    def predict_opacity(volume, labels, seg, report, batch_size, tta):
        steps(30.0, report)
        return np.zeros(volume.shape, np.uint8)

    class Segmenter:
        precision, device, backend = "fp32", "cpu", "torch"

    monkeypatch.setattr(lung_module, "segment_lungs", segment_lungs)
    monkeypatch.setattr(pipeline, "make_segmenter", lambda *a, **k: Segmenter())
    monkeypatch.setattr(pipeline, "predict_opacity", predict_opacity)
    window = shown_window(qtbot)
    click_item(qtbot, window, B, 1)
    wait_idle(qtbot, window)
    shown: list[tuple[float, str, float]] = []
    [act] = [a for a in window.findChildren(type(window.menuBar().actions()[0]))
             if a.text() == "&Analyse selected exam"]
    act.trigger()
    qtbot.waitUntil(lambda: window.job is not None, timeout=10000)
    window.job.progress.connect(
        lambda f, stage, eta: shown.append((f, stage, eta, window.progress.eta.text())))
    wait_idle(qtbot, window, 60000)
    assert not window.errors, window.errors
    lo_l, hi_l, text_l = ANALYSIS_STAGES["lung mask"]
    lo_o, hi_o, text_o = ANALYSIS_STAGES["opacity"]
    checked = 0
    for f, stage, eta, label in shown:
        if stage == text_l and f > lo_l:
            true_left = 10.0 * (1 - (f - lo_l) / (hi_l - lo_l)) + 30.0
        elif stage == text_o and f > lo_o:
            true_left = 30.0 * (1 - (f - lo_o) / (hi_o - lo_o))
        else:
            continue
        assert eta == pytest.approx(true_left, rel=0.05, abs=1.0), (stage, f, eta)
        assert label.startswith("about ")
        checked += 1
    assert checked >= 15
    etas = [eta for _, stage, eta, _ in shown if eta >= 0 and stage in (text_l, text_o)]
    assert all(b <= a + 1.0 for a, b in itertools.pairwise(etas)), etas
    close(window)
