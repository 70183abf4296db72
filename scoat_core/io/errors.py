"""Typed input errors: each names the file and the problem in one line, for users to read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


class NoUsableSeriesError(ScoatIOError):
    """Nothing usable (no CT image series, no volume) was found under the path."""


@dataclass(frozen=True)
class FileProblem:
    """A file skipped or flagged while scanning a folder, with the reason."""

    path: str
    message: str
    kind: str = "error"
    """``"error"`` (skipped) or ``"warning"`` (kept, but flagged)."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
