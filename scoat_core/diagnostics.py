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
    """One line for ``--version``: program, version and the shipped model."""
    return f"{prog} {__version__}, model {model_line()}"


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
    for label, (dists, module) in PACKAGES.items():
        info[label] = package_version(dists, module)
    info["Qt"] = qt_version()
    return info


def as_text(info: dict[str, str] | None = None) -> str:
    """The diagnostics as ``Label: value`` lines (what "Copy details" puts on the clipboard)."""
    info = collect() if info is None else info
    width = max(len(label) for label in info)
    return "\n".join(f"{label + ':':<{width + 1}} {value}" for label, value in info.items())
