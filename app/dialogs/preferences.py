"""User preferences: typed QSettings keys and the Preferences dialog.

Settings live in QSettings (organisation "SCOAT", application "SCOAT Follow-up"): the registry
on Windows, a plist on macOS, an INI file under ~/.config on Linux. An unreadable or unknown
stored value reads as the default.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from scoat_core.display import LAYOUTS, PRESETS

ORGANISATION = "SCOAT"
APPLICATION = "SCOAT Follow-up"

DEVICES = ("auto", "cpu", "cuda", "mps")
OVERLAY_MODES = ("fill", "contour")
X_AXIS_MODES = ("date", "days")


def _to_bool(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    if isinstance(value, int):
        return bool(value)
    return default


class Preferences:
    """Typed access to the stored preferences; every property reads and writes QSettings."""

    def __init__(self, settings: QSettings | None = None) -> None:
        # QSettings.defaultFormat(): native unless a test points IniFormat at a temp folder
        self.settings = settings or QSettings(QSettings.defaultFormat(),
                                              QSettings.Scope.UserScope, ORGANISATION, APPLICATION)

    def _get(self, key: str, default: Any) -> Any:
        value = self.settings.value(key, default)
        return default if value is None else value

    def _choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = str(self._get(key, default))
        return value if value in choices else default

    def _number(self, key: str, default: float, lo: float, hi: float, kind=float):
        try:
            value = kind(float(self._get(key, default)))
        except (TypeError, ValueError):
            return default
        return min(max(value, lo), hi)

    def _set(self, key: str, value: Any) -> None:
        self.settings.setValue(key, value)

    def sync(self) -> None:
        """Write to disk now (Qt also writes at exit)."""
        self.settings.sync()

    # -- keys -----------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """Inference device: "auto", "cpu", "cuda" or "mps" (default "auto")."""
        return self._choice("inference/device", DEVICES, "auto")

    @device.setter
    def device(self, value: str) -> None:
        if value not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {value!r}")
        self._set("inference/device", value)

    def usable_device(self) -> str:
        """The stored device if this machine has it, else "auto" (settings copied from another
        computer, a GPU driver gone)."""
        device = self.device
        available = {o.key for o in device_options() if o.available}
        return device if device in available else "auto"

    @property
    def overlay_mode(self) -> str:
        """Opacity overlay drawn as "fill" or "contour" (default "fill")."""
        return self._choice("overlay/mode", OVERLAY_MODES, "fill")

    @overlay_mode.setter
    def overlay_mode(self, value: str) -> None:
        if value not in OVERLAY_MODES:
            raise ValueError(f"overlay mode must be 'fill' or 'contour', got {value!r}")
        self._set("overlay/mode", value)

    @property
    def overlay_alpha(self) -> float:
        """Opacity of the filled overlay, 0.05–1 (default 0.45)."""
        return self._number("overlay/alpha", 0.45, 0.05, 1.0)

    @overlay_alpha.setter
    def overlay_alpha(self, value: float) -> None:
        self._set("overlay/alpha", float(min(max(value, 0.05), 1.0)))

    @property
    def show_lung_contour(self) -> bool:
        """Draw the lung contour over the slices (default True)."""
        return _to_bool(self._get("overlay/show_lung_contour", True), True)

    @show_lung_contour.setter
    def show_lung_contour(self, value: bool) -> None:
        self._set("overlay/show_lung_contour", bool(value))

    @property
    def window_preset(self) -> str:
        """Default window preset name of ``scoat_core.display.PRESETS`` (default "lung")."""
        return self._choice("view/window_preset", tuple(PRESETS), "lung")

    @window_preset.setter
    def window_preset(self, value: str) -> None:
        if value not in PRESETS:
            raise ValueError(f"unknown window preset {value!r}")
        self._set("view/window_preset", value)

    @property
    def viewer_layout(self) -> str:
        """The viewer's panes, a name of ``scoat_core.display.LAYOUTS`` (default "1x2")."""
        return self._choice("view/layout", tuple(LAYOUTS), "1x2")

    @viewer_layout.setter
    def viewer_layout(self, value: str) -> None:
        if value not in LAYOUTS:
            raise ValueError(f"unknown viewer layout {value!r}")
        self._set("view/layout", value)

    @property
    def x_axis(self) -> str:
        """Timeline x axis: "date" or "days" since the first exam (default "date")."""
        return self._choice("timeline/x_axis", X_AXIS_MODES, "date")

    @x_axis.setter
    def x_axis(self, value: str) -> None:
        if value not in X_AXIS_MODES:
            raise ValueError(f"x axis must be 'date' or 'days', got {value!r}")
        self._set("timeline/x_axis", value)

    @property
    def anonymise_reports(self) -> bool:
        """Anonymise the report header by default (default False)."""
        return _to_bool(self._get("report/anonymise", False), False)

    @anonymise_reports.setter
    def anonymise_reports(self, value: bool) -> None:
        self._set("report/anonymise", bool(value))

    @property
    def export_dpi(self) -> int:
        """Resolution of PNG exports, 72–1200 (default 300)."""
        return int(self._number("export/dpi", 300, 72, 1200, int))

    @export_dpi.setter
    def export_dpi(self, value: int) -> None:
        self._set("export/dpi", int(min(max(value, 72), 1200)))

    @property
    def last_import_folder(self) -> str:
        """Folder of the last import ("" when none)."""
        return str(self._get("import/last_folder", ""))

    @last_import_folder.setter
    def last_import_folder(self, value: str) -> None:
        self._set("import/last_folder", str(value))


# -- devices -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceOption:
    key: str
    label: str
    available: bool


def device_options() -> list[DeviceOption]:
    """Devices to offer on this machine, with what the machine actually has."""
    import torch

    options = [DeviceOption("auto", "Automatic (GPU when available)", True),
               DeviceOption("cpu", "CPU", True)]
    try:
        cuda = bool(torch.cuda.is_available())
        name = torch.cuda.get_device_name(0) if cuda else ""
    except Exception:  # a broken driver: report CUDA as unavailable
        cuda, name = False, ""
    options.append(DeviceOption("cuda", f"CUDA — {name} (available)" if cuda
                                else "CUDA (not available on this machine)", cuda))
    if sys.platform == "darwin":
        mps = getattr(torch.backends, "mps", None)
        ok = bool(mps and mps.is_available())
        options.append(DeviceOption("mps", "Apple GPU (MPS, available)" if ok
                                    else "Apple GPU (MPS, not available)", ok))
    return options


# -- dialog ------------------------------------------------------------------------------------
class PreferencesDialog(QDialog):
    """Edits :class:`Preferences`; OK writes them, Cancel leaves them unchanged."""

    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.prefs = prefs
        form = QFormLayout()

        self.device = QComboBox()
        model = self.device.model()
        options = device_options()
        for option in options:
            self.device.addItem(option.label, option.key)
            if not option.available and isinstance(model, QStandardItemModel):
                model.item(self.device.count() - 1).setEnabled(False)
        usable = prefs.usable_device()
        self._select(self.device, usable)
        form.addRow("Compute device:", self.device)
        self.device_note = QLabel()
        self.device_note.setStyleSheet("color: #b06000")
        self.device_note.setVisible(usable != prefs.device)
        if usable != prefs.device:
            self.device_note.setText(f"The saved device ({prefs.device}) is not available on "
                                     "this machine: Automatic will be used.")
            form.addRow("", self.device_note)

        self.overlay_mode = QComboBox()
        self.overlay_mode.addItem("Filled", "fill")
        self.overlay_mode.addItem("Contour", "contour")
        self._select(self.overlay_mode, prefs.overlay_mode)
        form.addRow("Opacity overlay:", self.overlay_mode)

        self.overlay_alpha = QSpinBox()
        self.overlay_alpha.setRange(5, 100)
        self.overlay_alpha.setSingleStep(5)
        self.overlay_alpha.setSuffix(" %")
        self.overlay_alpha.setValue(round(prefs.overlay_alpha * 100))
        form.addRow("Overlay opacity:", self.overlay_alpha)

        self.lung_contour = QCheckBox("Show the lung contour")
        self.lung_contour.setChecked(prefs.show_lung_contour)
        form.addRow("", self.lung_contour)

        self.window_preset = QComboBox()
        for name, (width, level) in PRESETS.items():
            self.window_preset.addItem(f"{name.capitalize()} (W {width:.0f} / L {level:.0f})",
                                       name)
        self._select(self.window_preset, prefs.window_preset)
        form.addRow("Default window:", self.window_preset)

        self.x_axis = QComboBox()
        self.x_axis.addItem("Exam date", "date")
        self.x_axis.addItem("Days since first exam", "days")
        self._select(self.x_axis, prefs.x_axis)
        form.addRow("Timeline axis:", self.x_axis)

        self.anonymise = QCheckBox("Anonymise reports by default")
        self.anonymise.setChecked(prefs.anonymise_reports)
        form.addRow("", self.anonymise)

        self.export_dpi = QSpinBox()
        self.export_dpi.setRange(72, 1200)
        self.export_dpi.setSingleStep(50)
        self.export_dpi.setSuffix(" dpi")
        self.export_dpi.setValue(prefs.export_dpi)
        form.addRow("Image export:", self.export_dpi)

        note = QLabel("The device applies to the next analysis.")
        note.setStyleSheet("color: gray")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    @staticmethod
    def _select(combo: QComboBox, key: str) -> None:
        index = combo.findData(key)
        combo.setCurrentIndex(max(index, 0))

    def accept(self) -> None:
        self.apply()
        super().accept()

    def apply(self) -> None:
        """Write the dialog's values to the preferences."""
        p = self.prefs
        p.device = self.device.currentData()
        p.overlay_mode = self.overlay_mode.currentData()
        p.overlay_alpha = self.overlay_alpha.value() / 100
        p.show_lung_contour = self.lung_contour.isChecked()
        p.window_preset = self.window_preset.currentData()
        p.x_axis = self.x_axis.currentData()
        p.anonymise_reports = self.anonymise.isChecked()
        p.export_dpi = self.export_dpi.value()
        p.sync()
