"""About dialog (version, model and its licence, disclaimer, diagnostics) and the app icon."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QFontDatabase, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from scoat_core import __version__
from scoat_core.diagnostics import APP_NAME, DISCLAIMER, LICENCE_LINE, MODEL_CARD, as_text, collect

ICON_NAME = "scoat-followup"
_ROOT = Path(__file__).resolve().parents[2]  # the checkout, or the bundle's _internal folder


def icons_dir() -> Path:
    """The icon folder: the installed ``scoat_resources`` package, else ``resources/icons``."""
    if importlib.util.find_spec("scoat_resources") is not None:
        candidate = Path(str(resources.files("scoat_resources") / "icons"))
        if candidate.is_dir():
            return candidate
    return _ROOT / "resources" / "icons"


def app_icon() -> QIcon:
    """The application icon with every PNG size (empty icon if the files are missing)."""
    icon = QIcon()
    for path in sorted(icons_dir().glob(f"{ICON_NAME}-*.png")):
        size = int(path.stem.rsplit("-", 1)[1])
        icon.addFile(str(path), QSize(size, size))
    return icon


def model_card_path() -> Path | None:
    """``docs/model-card.md`` of a checkout or bundle (wheels do not carry it)."""
    path = _ROOT / MODEL_CARD
    return path if path.is_file() else None


def _settings_device() -> str:
    try:
        from app.dialogs.preferences import Preferences

        return Preferences().usable_device()
    except Exception:  # no settings yet or no torch: report the automatic choice
        return "auto"


class AboutDialog(QDialog):
    """Version, disclaimer, model licence and a copyable diagnostics report."""

    def __init__(self, parent: QWidget | None = None, *, info: dict[str, str] | None = None,
                 device: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.setMinimumSize(620, 520)
        self.info = info if info is not None else collect(device or _settings_device())

        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(72, 72))
        title = QLabel(f"<h2 style='margin:0'>{APP_NAME} {__version__}</h2>"
                       "Follow-up of COVID-19 lung opacification on serial chest CT "
                       "with SCOAT-Net.")
        title.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(title, 1)

        self.disclaimer = QLabel(f"<b>{DISCLAIMER}</b> Every number must be checked by a "
                                 "qualified clinician against the images.")
        self.disclaimer.setWordWrap(True)
        self.disclaimer.setStyleSheet("color: #9a3412; background: #fff7ed; padding: 6px; "
                                      "border: 1px solid #fdba74; border-radius: 4px;")

        card = model_card_path()
        card_text = (f"<a href='{QUrl.fromLocalFile(str(card)).toString()}'>model card</a>"
                     if card else f"model card: {MODEL_CARD} in the source distribution")
        self.model_label = QLabel(f"Model: {self.info.get('Model', 'unknown')} ({card_text}).<br>"
                                  f"{LICENCE_LINE}")
        self.model_label.setWordWrap(True)
        self.model_label.setOpenExternalLinks(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)

        self.details = QPlainTextEdit(self.details_text())
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy details")
        self.copy_button.clicked.connect(self.copy_details)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.disclaimer)
        layout.addWidget(self.model_label)
        layout.addWidget(QLabel("Details (include them in a bug report):"))
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def details_text(self) -> str:
        """The diagnostics, plus the log file when the app has one."""
        text = as_text(self.info)
        try:
            from app.dialogs.crash import current_log_path

            path = current_log_path()
        except ImportError:
            path = None
        return text + (f"\nLog file: {path}" if path else "")

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details.toPlainText())
        self.copy_button.setText("Copied")
