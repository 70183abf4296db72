"""A damaged ``scoat.db`` on start: the window asks to move it aside and starts a new one."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from scoat_core.analysis.pipeline import LoadedModel


def tiny_model() -> LoadedModel:
    import torch

    from scoat_core.models.registry import create_model

    torch.manual_seed(0)
    net = create_model("scoat_net", width=2).eval()
    return LoadedModel(net, None, 0.5, {"name": "tiny", "width": 2, "sha256": "0" * 64})


@pytest.fixture(scope="module")
def exam_dir(tmp_path_factory) -> Path:
    from scoat_core.phantom import make_phantom, write_phantom

    out = tmp_path_factory.mktemp("exam")
    write_phantom(make_phantom(matrix=64, z_extent_mm=60, slice_spacing_mm=5), out, nifti=False)
    return out


def answer_when_asked(qtbot, button: str) -> dict:
    """Click ``button`` ("Yes" or "Quit") of the next message box; returns what it said."""
    seen: dict = {}

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.update(text=box.text(), informative=box.informativeText(),
                    buttons=[b.text().replace("&", "") for b in box.buttons()])
        next(b for b in box.buttons() if b.text().replace("&", "") == button).click()

    QTimer.singleShot(0, click)
    return seen


def garbage_database(data: Path) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    db = data / "scoat.db"
    db.write_bytes(b"this is no database " * 300)
    (data / "scoat.db-wal").write_bytes(b"the wal")
    return db


def test_a_damaged_database_is_moved_aside_and_a_new_one_works(qtbot, app_env, exam_dir):
    from app.main_window import MainWindow

    db = garbage_database(app_env / "data")
    seen = answer_when_asked(qtbot, "Yes")
    window = MainWindow(interactive=True, model_loader=tiny_model)
    qtbot.addWidget(window)
    assert "is damaged" in seen["text"] and str(db) in seen["text"]
    assert "not an SQLite database" in seen["text"] and sorted(seen["buttons"]) == ["Quit", "Yes"]
    (kept,) = [p for p in db.parent.iterdir() if p.name.startswith("scoat.db.damaged-")
               and p.name[len("scoat.db.damaged-"):].replace("-", "").isdigit()]
    assert str(kept) in seen["text"]
    assert kept.read_bytes() == b"this is no database " * 300
    assert Path(f"{kept}-wal").read_bytes() == b"the wal"
    assert window.store.db_path == db and window.store.patients() == []
    window.interactive = False  # no dialogs from here on
    window.import_path(exam_dir)  # the new store works
    qtbot.waitUntil(lambda: not window.busy(), timeout=60000)
    assert len(window.store.patients()) == 1 and not window.errors


def test_quit_leaves_the_damaged_database_as_it_is(qtbot, app_env):
    from app.main_window import MainWindow

    db = garbage_database(app_env / "data")
    answer_when_asked(qtbot, "Quit")
    with pytest.raises(SystemExit) as exit_:
        MainWindow(interactive=True, model_loader=tiny_model)
    assert exit_.value.code == 1
    assert sorted(p.name for p in db.parent.iterdir()) == ["scoat.db", "scoat.db-wal"]
    assert db.read_bytes() == b"this is no database " * 300
