"""Writing one exam's analysis: masks (NIfTI, DICOM SEG), metrics.json and metrics.csv.

The files of one run are a *result set* that replaces the previous one as a whole: every file is
written, checked and synced in a hidden staging folder first (``.<out>.partial-<pid>@<host>-<id>``
beside the output folder), then the staging folder takes the output folder's place with two
renames (the old folder goes aside as ``.<out>.old-…`` and is deleted after). A kill between
them leaves no output folder but both complete sets beside it, and the next run puts the new
one in place. When the output folder holds files of its own (the user's), is a link or a mount
point, the set is moved file by file instead: every old result file leaves first (metrics.json
first), then the new ones come in (metrics.json last), so old and new files are never side by
side and metrics.json only ever stands beside its own masks; a kill midway is finished by the
next run (the staging folder is marked complete before anything moves). Staging folders of runs
that are no longer alive (by their pid, or by age when it cannot be checked) are cleaned by the
next run; a running one is never touched.

Every write error is an :class:`OSError` naming the file (ITK does not report failed writes:
each mask is read back to check that it is complete).

The opacity written (``opacity_mask.nii.gz`` and the SEG's opacity segment) is the opacity LOV
counts, inside the lung labels (:func:`~scoat_core.analysis.quantify.counted_opacity`), whatever
mask the result holds, so re-measuring the file gives metrics.json's LOV. metrics.json carries a
``definitions`` block: the method and unit of each of its keys (:func:`definitions`). An exam that
cuts the lungs (``lungs_complete`` False) is written without severity scores.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import gzip
import json
import logging
import os
import re
import secrets
import shutil
import socket
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.analysis.quantify import DEFINITIONS, counted_opacity
from scoat_core.atomic import named_error
from scoat_core.errors import UserError
from scoat_core.io.images import write_mask
from scoat_core.volume import Volume

FILES = ("lung_mask.nii.gz", "opacity_mask.nii.gz", "metrics.json", "metrics.csv")
SEG_FILE = "analysis_seg.dcm"
RESULT_NAMES = (*FILES, SEG_FILE)
#: A staging folder whose owner cannot be checked (another host, Windows, an older version's
#: ``.partial-xxxx``) is abandoned when untouched this long (s); writing a set takes seconds.
STALE_AFTER_S = 3600.0
#: Even with a live pid (pids are reused) a staging folder this old is abandoned (s).
ALIVE_MAX_S = 86400.0
_MARKER = ".complete"
_STAGING = re.compile(r"\.(partial|old)-(?:(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]*)-)?[A-Za-z0-9_]+$")

log = logging.getLogger(__name__)

#: Method and unit of the keys ``AnalysisResult.to_json`` adds to the volumetry's
#: (:data:`~scoat_core.analysis.quantify.DEFINITIONS`); ``*`` stands for a stage name.
RUN_DEFINITIONS: dict[str, str] = {
    "analysis_version": "version of the analysis method (masks and volumetry): results of "
                        "different versions may differ, integer",
    "model": "the network that segmented the opacity",
    "model.name": "name of the network's weights",
    "model.width": "channels of the network's first stage, integer",
    "model.arch": "architecture of the network",
    "model.sha256": "SHA-256 of the weights file, hexadecimal",
    "model.file": "the weights file",
    "model.verified": "whether the weights' SHA-256 was checked against a manifest or checksum",
    "model.verification": "how the weights were verified, or why not",
    "model.precision": "number format of the network's inference (fp32 or bf16)",
    "model.backend": "inference runtime (torch or onnxruntime)",
    "device": "where the network ran (cpu, cuda…)",
    "seconds": "wall-clock time of the whole analysis, s",
    "stage_seconds": "wall-clock time of each stage of the analysis",
    "stage_seconds.*": "wall-clock time of the stage, s",
    "warnings": "problems of the exam or the run, one sentence each",
    "lungs_complete": "false when the scan cuts the lungs (scan range, field of view, a single "
                      "slice) or its slices do not support whole-lung volumetry: its volumes "
                      "are not comparable with other exams and it has no severity score",
    "weights_verified": "false when the weights were used without verification",
    "ct_content_hash": "BLAKE2b of the CT analysed (voxels, dtype, shape, geometry), "
                       "hexadecimal: tells a rewritten exam under the same name or UIDs apart",
    "exam": "DICOM header fields of the series as read (patient, study, series, scanner, "
            "kernel); text as in the header, dates ISO",
    "exam.series_number": "SeriesNumber from the DICOM header, integer",
    "exam.slice_thickness_mm": "SliceThickness from the DICOM header, mm",
    "exam.kvp": "KVP (tube voltage) from the DICOM header, kV",
    "definitions": "this block: the method and unit of each key of metrics.json",
}
#: Blocks whose keys are names (zones, stages): their definitions use ``*`` for the name.
_NAMED_BLOCKS = ("zones", "stage_seconds")


class OutputFolderError(UserError):
    """The output folder cannot be used (the message names it and why)."""


def metrics_rows(result: AnalysisResult) -> list[tuple[str, str, object]]:
    """(quantity, unit, value) rows of the CSV, whole lung, each side, then each zone."""
    m = result.metrics
    rows: list[tuple[str, str, object]] = [
        ("lung_volume", "mL", m.lung_volume_ml), ("lov", "mL", m.lov_ml),
        ("po", "%", m.po_percent), ("pho", "%", m.pho_percent), ("ggo_volume", "mL", m.ggo_ml),
        ("consolidation_volume", "mL", m.consolidation_ml),
        ("mean_opacity_hu", "HU", m.mean_opacity_hu), ("severity_score", "0-30", m.severity_score),
    ]
    for side, res in (("right", m.right), ("left", m.left)):
        rows += [(f"{side}_lung_volume", "mL", res.lung_volume_ml), (f"{side}_lov", "mL",
                 res.lov_ml), (f"{side}_po", "%", res.po_percent)]
    for z in m.zones:
        key = f"{z.lung}_{z.zone}"
        rows += [(f"{key}_lov", "mL", z.lov_ml), (f"{key}_po", "%", z.po_percent),
                 (f"{key}_severity", "0-5", z.severity)]
    return rows


def key_paths(payload: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted path of every key of ``payload`` and of the blocks in it (``zones.*.lov_ml``)."""
    paths = []
    for key, value in payload.items():
        top = prefix.split(".", 1)[0]
        path = f"{prefix}{'*' if top in _NAMED_BLOCKS and prefix.count('.') == 1 else key}"
        paths.append(path)
        if isinstance(value, dict):
            paths += key_paths(value, f"{path}.")
    return list(dict.fromkeys(paths))


def definitions(payload: dict[str, Any]) -> dict[str, str]:
    """Method and unit, in one sentence, of each key ``payload`` holds that has a definition
    (every number; the text fields of the ``exam`` block are covered by its own sentence)."""
    known = {**DEFINITIONS, **RUN_DEFINITIONS}
    paths = [*key_paths(payload), "definitions"]
    return {path: known[path] for path in paths if path in known}


def counted_opacity_volume(result: AnalysisResult) -> Volume:
    """The opacity mask as written: the voxels LOV counts (inside the lung labels), uint8."""
    counted = counted_opacity(result.lung.array, result.opacity.array)
    return result.opacity.derive(counted.astype(np.uint8))


def check_output_dir(out_dir: str | Path) -> Path:
    """Refuse, before any work, an output folder that is a file or cannot be written in.

    Creates nothing (a probe folder in the nearest existing parent is made and removed).
    Returns the absolute path; raises :class:`OutputFolderError` naming it.
    """
    path = base = Path(out_dir).expanduser().absolute()
    try:
        if path.exists() and not path.is_dir():
            raise OutputFolderError(f"{path}: is a file, not a folder for the results")
        while not base.exists():
            base = base.parent
        if not base.is_dir():
            raise OutputFolderError(f"{path}: {base} is a file, not a folder")
        os.rmdir(tempfile.mkdtemp(prefix=".scoat-probe-", dir=base))
    except OSError as exc:
        where = "there" if base == path else f"in {base}"
        raise OutputFolderError(f"{path}: cannot write the results {where} "
                                f"({exc.strerror or exc})") from exc
    return path


def write_analysis(
    result: AnalysisResult,
    volume: Volume,
    out_dir: str | Path,
    *,
    source_files: Sequence[str | Path] | None = None,
) -> dict[str, Path]:
    """Write the analysis of ``volume`` into ``out_dir``; returns the written paths by name.

    The new result set replaces the previous one as a whole (see the module docstring). The
    DICOM SEG is an extra: when the source headers defeat it, the masks and metrics are still
    written, and the reason is logged and added to the warnings in ``metrics.json``; what had to
    be adapted to write it is added there too. A write error raises :class:`OSError` naming the
    file, and leaves the previous set in place. The opacity written is the opacity LOV counts
    (:func:`counted_opacity_volume`); a result with ``lungs_complete`` False is written
    without severity scores.
    """
    if not result.lungs_complete and result.metrics.severity_score is not None:
        result = dataclasses.replace(result, metrics=result.metrics.partial())
    opacity = counted_opacity_volume(result)
    out_dir = Path(out_dir).expanduser().absolute()
    clean_stale_partials(out_dir)
    tag = _tag()
    stage, swap = _make_stage(out_dir, tag)
    committing = False
    try:
        names = list(FILES)
        payload = result.to_json()
        payload["ct_content_hash"] = volume.content_hash()
        if source_files and _write_seg(result, opacity, volume, source_files, stage / SEG_FILE,
                                       out_dir, payload):
            names.append(SEG_FILE)
        payload["definitions"] = definitions(payload)
        for name, mask in ((FILES[0], result.lung), (FILES[1], opacity)):
            with _naming(out_dir / name):
                write_mask(mask, stage / name)
            check_nifti_complete(stage / name, out_dir / name)
        _write_text(stage / FILES[2], out_dir / FILES[2],
                    lambda fh: fh.write(json.dumps(payload, indent=2, default=str) + "\n"))
        _write_text(stage / FILES[3], out_dir / FILES[3], lambda fh: _write_csv(fh, result))
        for name in names:
            with _naming(out_dir / name):
                _fsync(stage / name)
        if not (swap and _swap_in(stage, out_dir, tag)):
            with _naming(out_dir):
                out_dir.mkdir(parents=True, exist_ok=True)
                (stage / _MARKER).write_text(json.dumps(names))
            committing = True
            _move_in(stage, out_dir, names)
            committing = False
        return {name: out_dir / name for name in names}
    finally:
        if not committing:  # a failed move leaves the marked stage for the next run to finish
            shutil.rmtree(stage, ignore_errors=True)


def clean_stale_partials(out_dir: str | Path) -> list[Path]:
    """Finish or remove what runs that are no longer alive left of their staging folders
    for ``out_dir`` (beside it and inside it); returns the folders removed."""
    out_dir = Path(out_dir).expanduser().absolute()
    beside = _entries(out_dir.parent, f".{out_dir.name}.")
    inside = _entries(out_dir, "") if out_dir.is_dir() and not out_dir.is_symlink() else []
    stale = [p for p in beside + inside if _abandoned(p)]
    for path in stale:
        kind = _STAGING.search(path.name)[1]  # type: ignore[index]
        if path.parent == out_dir and (path / _MARKER).is_file():
            with contextlib.suppress(OSError, ValueError):
                _move_in(path, out_dir, json.loads((path / _MARKER).read_text()))
        elif kind == "old" and not out_dir.exists():  # killed between the two renames
            cut = path.name.rindex(".old-")
            new = path.with_name(f"{path.name[:cut]}.partial-{path.name[cut + 5:]}")
            with contextlib.suppress(OSError):
                os.rename(new if new.is_dir() else path, out_dir)
                log.info("%s: finished the replacement a killed run had started", out_dir)
    for path in stale:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed %s, left by a run that is no longer alive", path)
    return stale


def check_nifti_complete(path: Path, target: Path | None = None) -> None:
    """Raise :class:`OSError` (naming ``target``, default ``path``) unless the NIfTI file at
    ``path`` is complete: ITK writes on a full disk without reporting it."""
    target = path if target is None else target
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            header = fh.read(348)
            endian = "<" if struct.unpack("<i", header[:4])[0] == 348 else ">"
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = int(struct.unpack(endian + "f", header[108:112])[0])
            size = len(header)
            while chunk := fh.read(1 << 20):
                size += len(chunk)
    except (OSError, EOFError, zlib.error, struct.error) as exc:
        raise _incomplete(path, target, f"cannot be read back: {exc}") from exc
    voxels = 1
    for d in dims[1 : 1 + max(1, min(int(dims[0]), 7))]:
        voxels *= max(int(d), 1)
    if size < offset + voxels * bitpix // 8:
        raise _incomplete(path, target, f"{size} of {offset + voxels * bitpix // 8} bytes")


# ---------------------------------------------------------------------------- helpers
def _write_seg(result: AnalysisResult, opacity: Volume, volume: Volume,
               source_files: Sequence[str | Path], path: Path, out_dir: Path,
               payload: dict) -> bool:
    """Write the SEG of the lungs and ``opacity`` (the mask of the NIfTI file); False (the
    reason in ``payload``'s warnings and the log) when the sources defeat it. A write error
    (:class:`OSError`, naming the file) propagates."""
    from scoat_core.io.seg import write_dicom_seg

    notes: list[str] = []
    warnings = list(payload.get("warnings", []))
    try:
        write_dicom_seg(volume, result.lung.array, opacity.array, source_files, path,
                        model_name=str(result.model.get("name")), notes=notes)
        written = True
    except OSError as exc:
        raise named_error(exc, out_dir / SEG_FILE) from exc
    except Exception as exc:  # an optional output must not lose the rest
        text = _first_line(exc)
        if not isinstance(exc, UserError):
            text = f"{type(exc).__name__}: {text}"
        notes, written = [], False
        warnings.append(f"DICOM SEG not written: {text}")
    warnings += [f"DICOM SEG: {note}" for note in notes]
    for line in warnings[len(payload.get("warnings", [])):]:
        log.warning("%s: %s", out_dir / SEG_FILE, line)
    payload["warnings"] = warnings
    return written


def _write_csv(fh, result: AnalysisResult) -> None:
    writer = csv.writer(fh)
    writer.writerow(["quantity", "unit", "value"])
    writer.writerows(metrics_rows(result))


def _write_text(path: Path, target: Path, write: Callable) -> None:
    with _naming(target), path.open("w", newline="", encoding="utf-8") as fh:
        write(fh)


@contextlib.contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Re-raise a write error as an :class:`OSError` that names ``target`` (ITK raises
    RuntimeError, Python's file writes name no file, pydicom folds a traceback into it)."""
    try:
        yield
    except OSError as exc:
        raise named_error(exc, target) from exc
    except RuntimeError as exc:  # SimpleITK
        raise OSError(errno.EIO, f"cannot write ({_first_line(exc)})", str(target)) from exc


def _incomplete(path: Path, target: Path, detail: str) -> OSError:
    """The error for ``path`` (to become ``target``) found incomplete: ENOSPC when its disk is
    (nearly) full."""
    try:
        full = shutil.disk_usage(path.parent).free < (1 << 20)
    except OSError:
        full = False
    if full:
        return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (written incompletely)",
                       str(target))
    return OSError(errno.EIO, f"written incompletely ({detail}); is the disk full?", str(target))


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:40]


def _tag() -> str:
    return f"{os.getpid()}@{_host()}-{secrets.token_hex(6)}"


def _make_stage(out_dir: Path, tag: str) -> tuple[Path, bool]:
    """The staging folder, and whether it may replace ``out_dir`` as a whole (beside it)."""
    if _owned(out_dir):
        with contextlib.suppress(OSError):
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            stage = out_dir.parent / f".{out_dir.name}.partial-{tag}"
            stage.mkdir()
            return stage, True
    with _naming(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        stage = out_dir / f".partial-{tag}"
        stage.mkdir()
    return stage, False


def _owned(out_dir: Path) -> bool:
    """``out_dir`` holds nothing but result files (it may be replaced as a whole)."""
    if out_dir.is_symlink():
        return False
    if not out_dir.exists():
        return True
    if not out_dir.is_dir() or os.path.ismount(out_dir):
        return False
    return all(entry.name in RESULT_NAMES for entry in out_dir.iterdir())


def _swap_in(stage: Path, out_dir: Path, tag: str) -> bool:
    """Put ``stage`` in the place of ``out_dir`` (two renames); False when it cannot be done."""
    old = out_dir.parent / f".{out_dir.name}.old-{tag}"
    moved = False
    try:
        if out_dir.exists():
            os.rename(out_dir, old)
            moved = True
        os.rename(stage, out_dir)
    except OSError as exc:
        log.debug("%s: cannot replace the folder (%s); moving the files", out_dir, exc)
        if moved:
            with contextlib.suppress(OSError):
                os.rename(old, out_dir)
        return False
    shutil.rmtree(old, ignore_errors=True)
    return True


def _move_in(stage: Path, out_dir: Path, names: Sequence[str]) -> None:
    """Replace the result files in ``out_dir`` by those of ``names`` in ``stage``: every old one
    leaves first (metrics.json first), then the new ones come in (metrics.json last).
    Idempotent: a run killed midway is finished by calling it again."""
    trash = stage / ".old"
    trash.mkdir(exist_ok=True)
    first = sorted(RESULT_NAMES, key=lambda n: n != FILES[2])
    for name in first:
        target = out_dir / name
        if os.path.lexists(target) and (name not in names or (stage / name).exists()):
            with _naming(target):
                os.replace(target, trash / name)
    for name in sorted(names, key=lambda n: n == FILES[2]):
        if (stage / name).exists():
            with _naming(out_dir / name):
                os.replace(stage / name, out_dir / name)


def _entries(folder: Path, prefix: str) -> list[Path]:
    """Staging folders in ``folder``: ``<prefix>partial-…``/``<prefix>old-…`` beside the output
    folder (``prefix`` ``.<name>.``), ``.partial-…`` inside it (``prefix`` empty)."""
    found = []
    try:
        for p in folder.iterdir():
            rest = p.name[len(prefix) - 1:] if prefix else p.name
            match = _STAGING.fullmatch(rest) if p.name.startswith(prefix or ".") else None
            if match and (prefix or match[1] == "partial") and p.is_dir() and not p.is_symlink():
                found.append(p)
    except OSError:
        return []
    return found


def _abandoned(path: Path) -> bool:
    """True when no live run can be using this staging folder (see the module docstring)."""
    match = _STAGING.search(path.name)
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    if match and match["pid"] and match["host"] == _host() and os.name == "posix":
        return not _alive(int(match["pid"])) or age > ALIVE_MAX_S
    return age > STALE_AFTER_S


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True
