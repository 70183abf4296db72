"""Typed input errors: each names the file and the problem in one line, for users to read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoat_core.errors import UserError


class ScoatIOError(UserError):
    """Base class of every input problem; ``str(err)`` is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class NotFoundError(ScoatIOError):
    """The path does not exist."""


class EmptyFolderError(ScoatIOError):
    """A folder with no files at all, or no readable image in it."""


class PermissionDeniedError(ScoatIOError):
    """The file or folder cannot be read with the current permissions."""


class NotDicomError(ScoatIOError):
    """The file is not DICOM (even though it may be named .dcm)."""


class TruncatedFileError(ScoatIOError):
    """The file ends before its data does."""


class UnsupportedModalityError(ScoatIOError):
    """DICOM, but not a CT image (MR, SR, SEG, RTSTRUCT, dose report...)."""


class DecodeError(ScoatIOError):
    """Pixel data that cannot be decoded (for example a missing decoder plugin)."""


class GeometryError(ScoatIOError):
    """Inconsistent or impossible geometry: zero/negative spacing, mixed orientations..."""


class InvalidValuesError(ScoatIOError):
    """Voxel values that cannot be used (NaN, infinity)."""


class UnsupportedFormatError(ScoatIOError):
    """A file type the project does not read."""


NO_USABLE = "no usable CT image series or volume found"


class NoUsableSeriesError(ScoatIOError):
    """Nothing usable (no CT image series, no volume) was found under the path.

    ``reasons`` (``"<file>: <why>"``, each file or series that was found but not usable) are
    part of the one-line message, the first :attr:`SHOWN` of them.
    """

    SHOWN = 5

    def __init__(self, path: str | Path, problem: str = NO_USABLE,
                 reasons: Iterable[str] = ()) -> None:
        self.reasons = list(dict.fromkeys(r for r in reasons if r))
        if self.reasons:
            shown = "; ".join(self.reasons[: self.SHOWN])
            more = len(self.reasons) - self.SHOWN
            problem = f"{problem}: {shown}" + (f"; and {more} more" if more > 0 else "")
        super().__init__(path, problem)

    @classmethod
    def from_inventory(cls, path: str | Path, inventory: Any) -> NoUsableSeriesError:
        """The error for an ``io.exams.Inventory`` with nothing to analyse: its file problems
        and the reasons its series were excluded, files named relative to ``path``."""
        errors = [q for q in inventory.problems if q.kind == "error"]
        reasons = [f"{_relative(q.path, path)}: {q.message}" for q in errors]
        for s in inventory.series():
            if s.excluded_reason and s.excluded_reason not in {q.message for q in errors}:
                label = " ".join(x for x in (_relative(s.source, path),
                                             s.info.series_description) if x)
                reasons.append(f"{label}: {s.excluded_reason}")
        if not reasons and Path(path).is_file():
            reasons.append(f"{Path(path).name}: not DICOM or a volume file")
        return cls(path, reasons=reasons)


def _relative(file: str | Path, root: str | Path) -> str:
    """``file`` relative to the folder ``root`` (its name when ``root`` is the file itself)."""
    file, root = Path(file), Path(root)
    try:
        return str(file.relative_to(root)) if file != root else file.name
    except ValueError:
        return file.name or str(file)


@dataclass(frozen=True)
class FileProblem:
    """A file skipped or flagged while scanning a folder, with the reason."""

    path: str
    message: str
    kind: str = "error"
    """``"error"`` (skipped) or ``"warning"`` (kept, but flagged)."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
