"""Packaging: pyproject's package list, the shipped data, the bundle files and the wheel.

The slow test builds the wheel from a copy of the sources (no network, no build isolation),
installs it into a fresh virtual environment that borrows this environment's dependencies,
and runs ``scoat --version``, ``scoat --help`` and ``scoat-app --screenshot`` from it.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from scoat_core import __version__
from scoat_core.models.weights import MANIFEST_NAME, find_entry, read_manifest, shipped_models_dir

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_lists_every_package_and_maps_resources():
    setuptools_cfg = _pyproject()["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("scoat_core", "app")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert set(setuptools_cfg["packages"]) == on_disk | {"scoat_resources"}
    assert setuptools_cfg["package-dir"] == {"scoat_resources": "resources"}
    assert (ROOT / "resources" / "__init__.py").is_file()


def test_package_data_covers_every_shipped_file():
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["scoat_resources"]
    shipped = [p for sub in ("models", "icons") for p in (ROOT / "resources" / sub).iterdir()]
    assert shipped
    missing = [p.name for p in shipped
               if not any(p.relative_to(ROOT / "resources").match(pat) for pat in patterns)]
    assert not missing


def test_checkout_finds_the_shipped_model():
    folder = shipped_models_dir()
    entry = find_entry(read_manifest(folder / MANIFEST_NAME))
    assert (folder / entry["file"]).is_file()
    assert folder.resolve() == (ROOT / "resources" / "models").resolve()


def test_icon_set_is_complete_and_well_formed():
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        data = (ICONS / f"scoat-followup-{size}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert (width, height) == (size, size)
    ico = (ICONS / "scoat-followup.ico").read_bytes()
    assert struct.unpack("<HHH", ico[:6]) == (0, 1, 7)
    icns = (ICONS / "scoat-followup.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    svg = (ICONS / "scoat-followup.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg


def test_desktop_entry():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(PACKAGING / "linux" / "scoat-followup.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "scoat-app"
    assert entry["Icon"] == "scoat-followup"
    assert entry["Terminal"] == "false"
    assert "MedicalSoftware" in entry["Categories"].split(";")
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(PACKAGING / "linux" / "scoat-followup.desktop")],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_spec_names_the_entry_script_and_data():
    spec = (PACKAGING / "scoat-followup.spec").read_text(encoding="utf-8")
    compile(spec, "scoat-followup.spec", "exec")
    for needle in ('"launch.py"', '"resources/models"', '"resources/icons"', 'name="scoat"',
                   'name="scoat-app"', "COLLECT(", "BUNDLE("):
        assert needle in spec
    assert (PACKAGING / "launch.py").is_file()


@pytest.mark.parametrize(("executable", "expected"),
                         [("/opt/x/scoat", "cli"), ("C:/x/scoat.exe", "cli"),
                          ("/opt/x/scoat-app", "gui")])
def test_bundle_launcher_dispatches_on_program_name(monkeypatch, executable, expected):
    spec = importlib.util.spec_from_file_location("scoat_launch", PACKAGING / "launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    calls = []
    import app.main
    import scoat_core.cli.main

    monkeypatch.setattr(scoat_core.cli.main, "main", lambda: calls.append("cli") or 0)
    monkeypatch.setattr(app.main, "main", lambda: calls.append("gui") or 0)
    monkeypatch.setattr(sys, "executable", executable)
    assert launch.main() == 0
    assert calls == [expected]


# ------------------------------------------------------------------------------ the wheel
def _build_wheel(src: Path, out: Path) -> Path:
    """Build with `build` when installed, else `pip wheel`; both without isolation (offline)."""
    try:
        metadata.version("build")
        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation",
               "--skip-dependency-check", "--outdir", str(out), str(src)]
    except metadata.PackageNotFoundError:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--no-index", "-q", "-w", str(out), str(src)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=out, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=180)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path):
    try:
        setuptools_version = int(metadata.version("setuptools").split(".")[0])
    except metadata.PackageNotFoundError:
        pytest.skip("setuptools (the build back-end) is not installed")
    if setuptools_version < 70:
        pytest.skip("setuptools < 70 needs the 'wheel' package to build wheels offline")
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("scoat_core", "app", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = _build_wheel(src, dist)

    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("scoat_resources/__init__.py", "scoat_resources/models/manifest.json",
                   "scoat_resources/models/scoat_net-w16.safetensors",
                   "scoat_resources/icons/scoat-followup-256.png",
                   "scoat_core/diagnostics.py", "app/dialogs/about.py"):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "resources/", "packaging/")) for n in names)

    # A fresh venv that borrows this environment's packages (torch, Qt ...) through a .pth
    # file: plain paths, so this environment's editable install of the project is not active.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    borrowed = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (purelib / "_scoat_borrowed_env.pth").write_text("\n".join(borrowed) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(QT_QPA_PLATFORM="offscreen", SCOAT_APP_DATA=str(tmp_path / "appdata"),
               XDG_DATA_HOME=str(tmp_path / "xdg-data"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", str(wheel)], env, tmp_path)

    where = _run([str(python), "-c",
                  "import scoat_core, scoat_resources\n"
                  "from scoat_core.models.weights import shipped_models_dir, "
                  "load_default_model\n"
                  "load_default_model()\n"
                  "print(scoat_core.__file__); print(shipped_models_dir())"],
                 env, tmp_path).stdout.split()
    assert all(Path(p).resolve().is_relative_to(venv.resolve()) for p in where), where

    sha = find_entry(read_manifest(shipped_models_dir() / MANIFEST_NAME))["sha256"]
    version = _run([str(scripts / "scoat"), "--version"], env, tmp_path).stdout
    assert f"scoat {__version__}" in version and "scoat_net-w16" in version
    assert sha[:12] in version
    assert "analyze" in _run([str(scripts / "scoat"), "--help"], env, tmp_path).stdout

    png = tmp_path / "shot.png"
    _run([str(scripts / "scoat-app"), "--screenshot", str(png)], env, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
