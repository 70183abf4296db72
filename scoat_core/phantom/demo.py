"""The demo patient: four dated phantom exams from two simulated scanners, written once."""

from __future__ import annotations

import os
from pathlib import Path

from scoat_core import __version__

from .timeline import make_timeline
from .write import write_timeline

DEMO_EXAMS, DEMO_SEED = 4, 0


def default_demo_dir() -> Path:
    """A per-user cache folder for the demo patient."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scoat-followup" / f"demo-{__version__}"


def write_demo(out: Path) -> None:
    """Write the demo patient's exams (DICOM + NIfTI + truth) into ``out``."""
    write_timeline(make_timeline(DEMO_EXAMS, seed=DEMO_SEED), out)
