"""Where the shared real data lives: one setting, ``SCOAT_SHARED_DATA``.

Default: ``../shared/data`` next to the repository checkout. Used by tests, benchmarks and
training defaults only; the application never needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SCOAT_SHARED_DATA"


def shared_data_dir() -> Path:
    """The shared data folder (it may not exist on a user's machine)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_dataset(name: str) -> Path | None:
    """Path of one dataset folder under the shared data, or None when it is absent."""
    path = shared_data_dir() / name
    return path if path.is_dir() else None
