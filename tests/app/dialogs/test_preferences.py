"""Preferences: typed QSettings keys (in a temp folder, never the user's) and the dialog."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from PySide6.QtCore import QSettings, QStandardPaths

from app.dialogs.preferences import (
    APPLICATION,
    ORGANISATION,
    Preferences,
    PreferencesDialog,
    device_options,
)


@pytest.fixture
def settings_dir(tmp_path):
    """QSettings in INI files under tmp_path for the test's duration."""
    ini, user = QSettings.Format.IniFormat, QSettings.Scope.UserScope
    QSettings.setDefaultFormat(ini)
    QSettings.setPath(ini, user, str(tmp_path))
    yield tmp_path
    QSettings.setDefaultFormat(QSettings.Format.NativeFormat)
    home = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    QSettings.setPath(ini, user, home)


@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_defaults(settings_dir):
    p = Preferences()
    assert p.settings.fileName().startswith(str(settings_dir))
    assert (p.device, p.overlay_mode, p.window_preset, p.x_axis) == ("auto", "fill", "lung", "date")
    assert p.overlay_alpha == pytest.approx(0.45)
    assert p.show_lung_contour is True and p.anonymise_reports is False
    assert p.export_dpi == 300 and p.last_import_folder == ""


def test_values_persist_across_instances(settings_dir):
    p = Preferences()
    p.device, p.overlay_mode, p.overlay_alpha = "cpu", "contour", 0.7
    p.show_lung_contour, p.window_preset, p.x_axis = False, "mediastinum", "days"
    p.anonymise_reports, p.export_dpi, p.last_import_folder = True, 600, "/data/ct"
    p.sync()
    q = Preferences()
    assert (q.device, q.overlay_mode, q.window_preset, q.x_axis) == (
        "cpu", "contour", "mediastinum", "days")
    assert q.overlay_alpha == pytest.approx(0.7)
    assert q.show_lung_contour is False and q.anonymise_reports is True
    assert q.export_dpi == 600 and q.last_import_folder == "/data/ct"
    assert (settings_dir / "SCOAT" / "SCOAT Follow-up.ini").is_file()


def test_bad_stored_values_read_as_defaults(settings_dir):
    s = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)
    s.setValue("inference/device", "tpu")
    s.setValue("overlay/alpha", "lots")
    s.setValue("export/dpi", 100000)
    s.setValue("overlay/show_lung_contour", "maybe")
    s.sync()
    p = Preferences()
    assert p.device == "auto" and p.overlay_alpha == pytest.approx(0.45)
    assert p.export_dpi == 1200 and p.show_lung_contour is True
    with pytest.raises(ValueError, match="device"):
        p.device = "tpu"


def test_dialog_accept_writes_and_cancel_does_not(qtbot, settings_dir, no_cuda):
    prefs = Preferences()
    dialog = PreferencesDialog(prefs)
    qtbot.addWidget(dialog)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.overlay_mode.setCurrentIndex(dialog.overlay_mode.findData("contour"))
    dialog.overlay_alpha.setValue(60)
    dialog.lung_contour.setChecked(False)
    dialog.window_preset.setCurrentIndex(dialog.window_preset.findData("mediastinum"))
    dialog.x_axis.setCurrentIndex(dialog.x_axis.findData("days"))
    dialog.anonymise.setChecked(True)
    dialog.export_dpi.setValue(150)
    dialog.reject()
    assert Preferences().device == "auto"
    dialog.accept()
    q = Preferences()
    assert (q.device, q.overlay_mode, q.window_preset, q.x_axis) == (
        "cpu", "contour", "mediastinum", "days")
    assert q.overlay_alpha == pytest.approx(0.6) and q.export_dpi == 150
    assert q.show_lung_contour is False and q.anonymise_reports is True


def test_unavailable_cuda_is_disabled(qtbot, settings_dir, no_cuda):
    dialog = PreferencesDialog(Preferences())
    qtbot.addWidget(dialog)
    i = dialog.device.findData("cuda")
    assert dialog.device.itemText(i) == "CUDA (not available on this machine)"
    assert not dialog.device.model().item(i).isEnabled()
    assert dialog.device.model().item(dialog.device.findData("cpu")).isEnabled()
    dialog.grab().save("/tmp/scoat_preferences.png")


def test_available_cuda_shows_its_name(qtbot, settings_dir, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA RTX A4000")
    options = {o.key: o for o in device_options()}
    assert options["cuda"].available
    assert options["cuda"].label == "CUDA — NVIDIA RTX A4000 (available)"
    dialog = PreferencesDialog(Preferences())
    qtbot.addWidget(dialog)
    assert dialog.device.model().item(dialog.device.findData("cuda")).isEnabled()


def test_saved_cuda_on_a_machine_without_it_falls_back_to_auto(qtbot, settings_dir, no_cuda):
    prefs = Preferences()
    prefs.device = "cuda"
    assert prefs.usable_device() == "auto"
    dialog = PreferencesDialog(prefs)
    qtbot.addWidget(dialog)
    assert dialog.device.currentData() == "auto"
    assert "not available" in dialog.device_note.text()
