"""Versions and environment for bug reports, the About dialog and ``scoat --version``.

Every lookup is lazy and guarded: a package that is missing reads ``not installed`` and one that
fails reads its error, never an exception. Versions come from the installed package metadata
(so Qt's version is read without importing PySide6 and scoat_core stays Qt-free); torch is
imported only to probe the compute devices.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from scoat_core import __version__

APP_NAME = "SCOAT Follow-up"
NOT_INSTALLED = "not installed"
MODEL_CARD = "docs/model-card.md"
LICENCE_LINE = ("The shipped model was trained on data licensed for non-commercial research use "
                "only; so is the model.")
DISCLAIMER = "Research software: not for diagnostic use. Not a medical device."

#: Reported packages: label → (distribution names to try, module to look for).
PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "numpy": (("numpy",), "numpy"),
    "SimpleITK": (("SimpleITK", "simpleitk"), "SimpleITK"),
    "pydicom": (("pydicom",), "pydicom"),
    "highdicom": (("highdicom",), "highdicom"),
    "PySide6": (("PySide6-Essentials", "PySide6"), "PySide6"),
    "pyqtgraph": (("pyqtgraph",), "pyqtgraph"),
    "VTK": (("vtk",), "vtkmodules"),
}


def package_version(dists: tuple[str, ...] | str, module: str | None = None) -> str:
    """Installed version of the first distribution found, else ``not installed``.

    When no metadata is found but `module` is importable (a frozen bundle without metadata),
    its ``__version__`` is read from an already imported module, or "installed".
    """
    for dist in (dists,) if isinstance(dists, str) else dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        except Exception as exc:  # damaged metadata
            return f"unknown ({exc})"
    if module is None:
        return NOT_INSTALLED
    loaded = sys.modules.get(module)
    if loaded is not None:
        return str(getattr(loaded, "__version__", "installed"))
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return "installed" if found else NOT_INSTALLED


def qt_version() -> str:
    """Qt's runtime version when PySide6 is already loaded, else PySide6's (it matches Qt's)."""
    core = sys.modules.get("PySide6.QtCore")
    if core is not None:
        return str(core.qVersion())
    return package_version(*PACKAGES["PySide6"])


#: Debian packages of libraries whose name does not follow Debian's rule (see `apt_packages`).
_DEBIAN_EXCEPTIONS = {"libglib-2.0.so.0": "libglib2.0-0", "libgobject-2.0.so.0": "libglib2.0-0",
                      "libgthread-2.0.so.0": "libglib2.0-0",
                      "libgssapi_krb5.so.2": "libgssapi-krb5-2"}


def missing_libraries(ldd_output: str) -> list[str]:
    """The libraries that ``ldd`` output reports as ``not found``, each once, in its order."""
    missing: list[str] = []
    for line in ldd_output.splitlines():
        name, arrow, target = line.strip().partition("=>")
        name = name.strip()
        if arrow and target.strip().startswith("not found") and name and name not in missing:
            missing.append(name)
    return missing


def apt_packages(libraries: list[str]) -> list[str]:
    """The Debian/Ubuntu packages that hold these libraries, each once: Debian's naming rule
    (``libxcb-icccm.so.4`` → ``libxcb-icccm4``; a dash before the number when the name ends in
    a digit: ``libxkbcommon-x11.so.0`` → ``libxkbcommon-x11-0``) with a few exceptions."""
    packages: list[str] = []
    for library in libraries:
        package = _DEBIAN_EXCEPTIONS.get(library)
        if package is None:
            stem, _, number = library.partition(".so.")
            number = number.split(".")[0]
            package = stem.lower() + ("-" if stem[-1:].isdigit() else "") + number
        if package not in packages:
            packages.append(package)
    return packages


def apt_install_command(packages: list[str]) -> str:
    """The command a user runs to install ``packages``."""
    return "sudo apt-get install -y " + " ".join(packages)


def qt_xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin of the installed PySide6 (found without importing it)."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def missing_qt_libraries(plugin: Path | None = None) -> list[str]:
    """The system libraries that Qt's xcb plugin needs and cannot find (``ldd``); empty when
    none is missing, off Linux, or when the plugin or ``ldd`` is not there."""
    import subprocess

    plugin = plugin or qt_xcb_plugin()
    if not sys.platform.startswith("linux") or plugin is None:
        return []
    try:
        done = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return missing_libraries(done.stdout)


def qt_platform_hint(missing: list[str] | None = None) -> str:
    """One line for a user whose Qt could not load its platform plugin: the command that
    installs the missing libraries, else what else to check."""
    missing = missing_qt_libraries() if missing is None else missing
    if missing:
        return (f"Qt's display plugin needs system libraries that are missing "
                f"({', '.join(missing)}); install them with: "
                f"{apt_install_command(apt_packages(missing))}")
    display = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY") or "none"
    return (f"Qt could not open the display ({display}): start it in a desktop session, or "
            "set QT_QPA_PLATFORM=offscreen for --screenshot runs without a screen")


def model_info(models_dir: Any = None) -> dict[str, Any]:
    """The shipped default model from its manifest: name, arch, width, sha256, file, folder.

    Reads only the manifest (no hashing, no weights). ``{"error": ...}`` when there is none.
    """
    try:
        from scoat_core.models.weights import (
            MANIFEST_NAME,
            find_entry,
            read_manifest,
            shipped_models_dir,
        )

        folder = shipped_models_dir() if models_dir is None else models_dir
        entry = find_entry(read_manifest(folder / MANIFEST_NAME))
        config = entry.get("config", {})
        return {"name": entry.get("name"), "arch": config.get("arch"),
                "width": config.get("width"), "sha256": entry.get("sha256", ""),
                "file": entry.get("file"), "folder": str(folder)}
    except Exception as exc:  # no manifest, no torch, a damaged install: report, do not fail
        return {"error": str(exc)}


def model_line(info: dict[str, Any] | None = None) -> str:
    """``scoat_net-w16 (scoat_net, width 16, SHA-256 1a2b3c4d5e6f)`` or the reason it is missing."""
    info = model_info() if info is None else info
    if "error" in info:
        return f"none ({info['error']})"
    return (f"{info['name']} ({info['arch']}, width {info['width']}, "
            f"SHA-256 {str(info['sha256'])[:12]})")


def version_line(prog: str = "scoat") -> str:
    """One line for ``--version`` (under 78 characters, so argparse keeps it one line):
    program, version and the shipped model's name and SHA-256 prefix."""
    info = model_info()
    if "error" in info:
        return f"{prog} {__version__}, model {model_line(info)}"
    return f"{prog} {__version__}, model {info['name']} (SHA-256 {str(info['sha256'])[:12]})"


def torch_info(device: str = "auto") -> dict[str, str]:
    """torch version, CUDA (version and device name), MPS, and the device `device` resolves to."""
    if importlib.util.find_spec("torch") is None:
        return {"torch": NOT_INSTALLED, "CUDA": "no (torch not installed)",
                "MPS": "no", "Device in use": "none"}
    try:
        import torch

        out = {"torch": str(torch.__version__)}
        if torch.cuda.is_available():
            index = torch.cuda.current_device()
            major, minor = torch.cuda.get_device_capability(index)
            out["CUDA"] = (f"{torch.version.cuda}, {torch.cuda.get_device_name(index)} "
                           f"(compute capability {major}.{minor}, "
                           f"{torch.cuda.device_count()} device(s))")
        else:
            built = torch.version.cuda
            out["CUDA"] = f"not available (torch built for CUDA {built})" if built else \
                "not available (CPU build of torch)"
        mps = getattr(torch.backends, "mps", None)
        out["MPS"] = "available" if mps is not None and mps.is_available() else "not available"
        from scoat_core.analysis.slices import pick_device

        try:
            out["Device in use"] = f"{pick_device(device)} (setting: {device})"
        except RuntimeError as exc:  # e.g. CUDA chosen on a machine without it
            out["Device in use"] = f"none: {exc} (setting: {device})"
        return out
    except Exception as exc:
        return {"torch": package_version("torch"), "CUDA": f"unknown ({exc})", "MPS": "unknown",
                "Device in use": f"unknown ({exc})"}


def cpu_class() -> str:
    """The CPU's vector capability, named with every speed figure: "AMX", "AVX-512 + bf16",
    "AVX-512", "AVX2", or the machine name where the flags cannot be read (macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.machine() or "unknown"
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    flags = set(line.split(":", 1)[-1].split())
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512 + bf16"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return platform.machine() or "unknown"


def inference_backend_line() -> str:
    """What ``analyze()``'s "auto" backend and precision run on this machine's CPU."""
    try:
        from scoat_core.analysis.slices import cpu_has_bf16, pick_backend
    except ImportError as exc:  # torch missing or broken
        return f"unavailable ({exc})"
    precision = "bf16" if cpu_has_bf16() else "fp32"
    backend = pick_backend("cpu", precision)
    if backend == "onnxruntime":
        backend += " " + package_version(("onnxruntime",), "onnxruntime")
    return f"{backend}, {precision} on the CPU"


def collect(device: str = "auto") -> dict[str, str]:
    """Everything a bug report needs, as ordered label → text (see `as_text`).

    `device` is the compute-device setting ("auto", "cpu", "cuda", "mps"); the report shows
    what it resolves to on this machine.
    """
    info: dict[str, str] = {
        APP_NAME: __version__,
        "Model": model_line(),
        "Python": f"{platform.python_version()} ({platform.python_implementation()}, "
                  f"{'frozen bundle' if getattr(sys, 'frozen', False) else sys.executable})",
        "Platform": f"{platform.platform()} ({platform.machine() or 'unknown machine'})",
        "CPU": f"{cpu_class()}, {os.cpu_count()} cores",
    }
    info.update(torch_info(device))
    info["Inference backend"] = inference_backend_line()
    for label, (dists, module) in PACKAGES.items():
        info[label] = package_version(dists, module)
    info["Qt"] = qt_version()
    return info


def as_text(info: dict[str, str] | None = None) -> str:
    """The diagnostics as ``Label: value`` lines (what "Copy details" puts on the clipboard)."""
    info = collect() if info is None else info
    width = max(len(label) for label in info)
    return "\n".join(f"{label + ':':<{width + 1}} {value}" for label, value in info.items())
