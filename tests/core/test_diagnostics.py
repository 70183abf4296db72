"""Diagnostics (versions, model, devices), CLI logging set-up and the library's logging hygiene."""

from __future__ import annotations

import ast
import io
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scoat_core
from scoat_core import diagnostics
from scoat_core.log_setup import configure_cli_logging
from scoat_core.models.weights import MANIFEST_NAME, find_entry, read_manifest, shipped_models_dir

CORE = Path(scoat_core.__file__).parent


def test_collect_reports_versions_model_and_device():
    info = diagnostics.collect("cpu")
    for key in ("SCOAT Follow-up", "Model", "Python", "Platform", "torch", "CUDA", "MPS",
                "Device in use", "numpy", "SimpleITK", "pydicom", "PySide6", "pyqtgraph", "VTK",
                "Qt"):
        assert info[key], key
    assert info["SCOAT Follow-up"] == scoat_core.__version__
    assert info["numpy"] == np.__version__
    assert info["Device in use"].startswith("cpu")
    entry = find_entry(read_manifest(shipped_models_dir() / MANIFEST_NAME))
    assert entry["name"] in info["Model"] and entry["sha256"][:12] in info["Model"]


def test_as_text_has_one_aligned_line_per_item():
    info = {"SCOAT Follow-up": "9.9", "torch": "2.x", "VTK": diagnostics.NOT_INSTALLED}
    lines = diagnostics.as_text(info).splitlines()
    assert lines == ["SCOAT Follow-up: 9.9", "torch:           2.x",
                     "VTK:             not installed"]


def test_missing_package_reads_not_installed():
    assert diagnostics.package_version(("no-such-dist-xyz",), "no_such_module_xyz") == \
        diagnostics.NOT_INSTALLED
    assert diagnostics.package_version("numpy") == np.__version__


def test_missing_manifest_is_reported_not_raised(tmp_path):
    info = diagnostics.model_info(tmp_path)
    assert "error" in info and "manifest" in info["error"]
    assert diagnostics.model_line(info).startswith("none (")


def test_version_line_names_program_version_and_model():
    line = diagnostics.version_line("scoat")
    name = diagnostics.model_info()["name"]
    assert line.startswith(f"scoat {scoat_core.__version__}, model {name} (SHA-256 ")
    assert "\n" not in line and len(line) < 78  # argparse re-wraps longer version strings


def test_unavailable_cuda_setting_is_reported():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert diagnostics.torch_info("cuda")["Device in use"].startswith("none: CUDA")


def test_collect_never_imports_qt():
    code = ("import sys\nfrom scoat_core import diagnostics\ndiagnostics.collect()\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', "
            "'vtkmodules', 'vtk')]\nassert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


# -- logging ----------------------------------------------------------------------------------
@pytest.fixture
def root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_cli_logging_levels_and_no_stacked_handlers(root_logger):
    quiet = io.StringIO()
    configure_cli_logging(False, stream=quiet)
    logging.getLogger("scoat_core.some_module").info("detail")
    logging.getLogger("scoat_core.some_module").warning("careful")
    assert "careful" in quiet.getvalue() and "detail" not in quiet.getvalue()
    assert "WARNING scoat_core.some_module: careful" in quiet.getvalue()

    loud = io.StringIO()
    configure_cli_logging(True, stream=loud)
    logging.getLogger("scoat_core.some_module").debug("detail")
    assert "detail" in loud.getvalue()
    assert "detail" not in quiet.getvalue()  # the first handler was replaced, not kept
    ours = [h for h in root_logger.handlers if isinstance(h, logging.StreamHandler)
            and getattr(h, "stream", None) in (quiet, loud)]
    assert len(ours) == 1


def _calls(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else ""
            if name == "getLogger" and not (
                    node.args and isinstance(node.args[0], ast.Name)
                    and node.args[0].id == "__name__"):
                found.append(("getLogger(<not __name__>)", node.lineno))
            elif name in ("print", "basicConfig"):
                found.append((name, node.lineno))
    return found


def test_library_only_logs_through_module_loggers():
    """No print or basicConfig outside the CLI modules; loggers are getLogger(__name__)."""
    cli = CORE / "cli"  # print is the command line's output
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        if path.name == "log_setup.py":  # configures the root and third-party loggers
            continue
        allowed = path.is_relative_to(cli)
        for what, line in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if allowed and what != "getLogger(<not __name__>)":
                continue
            offenders.append(f"{path.relative_to(CORE.parent)}:{line} {what}")
    assert not offenders, "\n".join(offenders)


# ------------------------------------------------------------ Qt's system libraries (issue 15)
LDD_FRESH_DEBIAN = """\
\tlinux-vdso.so.1 (0x00007ffc6b5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x7f)
\tlibxkbcommon.so.0 => /lib/x86_64-linux-gnu/libxkbcommon.so.0 (0x00007f729bfba000)
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f729cb36000)
\tlibxcb-keysyms.so.1 => not found
\tlibX11-xcb.so.1 => not found
\tlibglib-2.0.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f729cc2c000)
"""


def test_missing_qt_libraries_and_their_debian_packages_from_ldd_output():
    missing = diagnostics.missing_libraries(LDD_FRESH_DEBIAN)
    assert missing == ["libxkbcommon-x11.so.0", "libxcb-cursor.so.0", "libxcb-icccm.so.4",
                       "libxcb-keysyms.so.1", "libX11-xcb.so.1", "libglib-2.0.so.0"]
    assert diagnostics.apt_packages(missing) == [
        "libxkbcommon-x11-0", "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1",
        "libx11-xcb1", "libglib2.0-0"]
    assert diagnostics.missing_libraries("\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n") == []
    assert diagnostics.missing_libraries("not a dynamic executable\n") == []
    hint = diagnostics.qt_platform_hint(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "\n" not in hint
    assert hint.endswith("install them with: sudo apt-get install -y libxcb-icccm4 "
                         "libxcb-keysyms1")
    assert "QT_QPA_PLATFORM=offscreen" in diagnostics.qt_platform_hint([])


def test_missing_qt_libraries_runs_ldd_on_the_plugin(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ldd").write_text("#!/bin/sh\nprintf '\\tlibxcb-icccm.so.4 => not found\\n'\n")
    (fake / "ldd").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:/usr/bin:/bin")
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    expected = ["libxcb-icccm.so.4"] if sys.platform.startswith("linux") else []
    assert diagnostics.missing_qt_libraries(plugin) == expected
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no ldd: nothing to say, no error
    assert diagnostics.missing_qt_libraries(plugin) == []
