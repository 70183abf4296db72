"""The CT cache: loading a series' CT (from the uncompressed NIfTI cache or its source),
writing the cache, the raw NIfTI reader, and removing unreferenced cache files.

The cache is keyed on content: each read from the source hashes the CT (:func:`content_hash`,
voxels and geometry) into the series row. When the source gives another hash than the one the
cache and the analyses were made from (re-imported with the same UIDs but other pixels), the
cache is dropped and the analyses count as stale. A re-import records the hash of each CT the
import read (the app's import reads the selected series: its analyses are stale at once) and
drops the cache reference, so the next load reads the source and checks.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import struct
import time
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from scoat_core.store.base import _update
from scoat_core.store.patients import PatientsMixin
from scoat_core.store.rows import SeriesRow, SourceMissingError, _info_from_json, _measured
from scoat_core.volume import ExamInfo, Volume

log = logging.getLogger(__name__)


class CacheMixin(PatientsMixin):
    """The CT of a series, through the cache folder (``ct/series-<pk>.nii``)."""

    def load_volume(self, series: SeriesRow | int, *, cache: bool = True) -> Volume:
        """The CT of a series: from the cache when present, else from the source (then cached).

        Raises :class:`SourceMissingError` when the cache is absent and the source is gone.
        """
        pk = series if isinstance(series, int) else series.id
        row, exam_date = self._series_and_date(pk)
        stored = json.loads(row["info"])
        info = _info_from_json(stored)
        if exam_date is not None:
            info = info.replace(study_date=exam_date)
        if row["ct_cache"]:
            vol = self._read_cache(row, info, stored.get("instance_numbers") or ())
            if vol is not None:
                return vol
        vol = self._read_source(row, exam_date)
        vol.info = vol.info.replace(study_date=exam_date) if exam_date else vol.info
        self._note_content(row, vol)
        if cache:
            self._write_ct_cache(pk, vol)
        return vol

    def _note_content(self, row: sqlite3.Row, vol: Volume) -> None:
        """Record the hash of the CT just read from the source; when it differs from the one
        recorded, drop the cache (made from the other CT) and log it (its analyses are stale:
        :attr:`~scoat_core.store.AnalysisRow.ct_changed`)."""
        digest = content_hash(vol)
        if row["content_hash"] == digest:
            return
        changed = row["content_hash"] is not None
        values: dict = {"content_hash": digest}
        if changed:
            values.update(ct_cache=None, **_measured(vol.shape, vol.spacing, vol.is_hu,
                                                     vol.warnings))
        with self._tx() as db:
            current = db.execute("SELECT ct_cache FROM series WHERE id = ?",
                                 (row["id"],)).fetchone()
            _update(db, "series", row["id"], values)
        if changed:
            log.warning("series %s: %s now holds another CT than the one analysed (same UIDs, "
                        "other voxels or geometry); its cache is dropped and its analysis is out "
                        "of date", row["id"], row["source"])
            if current is not None and current["ct_cache"]:
                self._remove(self.cache_dir / current["ct_cache"])

    def _read_cache(self, row: sqlite3.Row, info: ExamInfo,
                    instance_numbers: Sequence[int | None] = ()) -> Volume | None:
        path = self.cache_dir / row["ct_cache"]
        try:
            vol = _read_nifti(path, info, is_hu=bool(row["hu"]))
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("CT cache %s unreadable (%s); reading the source again", path, exc)
            return None
        shape = json.loads(row["shape"]) if row["shape"] else None
        if shape is not None and list(vol.shape) != shape:
            log.warning("CT cache %s has shape %s, expected %s", path, vol.shape, shape)
            return None
        vol.warnings = json.loads(row["warnings"])
        if len(instance_numbers) == vol.shape[0]:
            vol.instance_numbers = tuple(instance_numbers)
        return vol

    def _read_source(self, row: sqlite3.Row, exam_date: date | None) -> Volume:
        source = Path(row["source"])
        if not source.exists():
            raise SourceMissingError(source, row["id"])
        if row["kind"] == "volume":
            from scoat_core.io.images import read_image

            return read_image(source, study_date=exam_date)
        from scoat_core.io.exams import find_exams, load_series

        found = find_exams(source, load=False)
        uid = row["series_uid"]
        entry = next((s for s in found.series() if s.kind == "dicom" and s.info.series_uid == uid),
                     None)
        if entry is None:
            raise SourceMissingError(source, row["id"], f"(series UID {uid}) is no longer in")
        return load_series(entry)

    def _write_ct_cache(self, pk: int, vol: Volume) -> None:
        """Cache the CT (atomic file, then one transaction); a failure only costs speed."""
        from scoat_core.io.images import write_image

        rel = f"ct/series-{pk}.nii"
        tmp = self.cache_dir / "tmp" / f"ct-{pk}-{uuid.uuid4().hex[:12]}.nii"
        try:
            write_image(vol, tmp, compress=False)
            os.replace(tmp, self.cache_dir / rel)
            with self._tx() as db:
                _update(db, "series", pk, {
                    "ct_cache": rel, **_measured(vol.shape, vol.spacing, vol.is_hu, vol.warnings),
                    "info": json.dumps(cached_info_json(vol)),
                })
        except (OSError, RuntimeError, sqlite3.Error) as exc:
            log.warning("could not cache the CT of series %s: %s", pk, exc)
            self._remove(tmp)

    def vacuum_cache(self, min_age_s: float = 3600.0) -> list[Path]:
        """Remove cache files no database row refers to (left by a crash); returns them.

        Only files older than ``min_age_s`` go, so that a write in progress in another process
        is left alone.
        """
        rows = self._rows("SELECT ct_cache AS p FROM series WHERE ct_cache IS NOT NULL"
                          " UNION SELECT lung_mask FROM analyses")
        keep = {self.cache_dir / r["p"] for r in rows}
        keep |= {p.parent for p in keep}
        limit = time.time() - min_age_s
        removed = []
        for sub in ("ct", "analyses", "tmp"):
            folder = self.cache_dir / sub
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                if path not in keep and path.lstat().st_mtime <= limit:
                    self._remove(path)
                    removed.append(path)
        return removed


def cached_info_json(vol: Volume) -> dict[str, object]:
    """The series' ``info`` JSON once its CT is cached: the ExamInfo, plus what the NIfTI cache
    cannot hold (the slices' DICOM InstanceNumbers) and the origin (for
    :meth:`~scoat_core.store.imports.ImportsMixin.same_exam_candidates`)."""
    return {**vol.info.to_json(), "instance_numbers": list(vol.instance_numbers),
            "origin": [float(v) for v in vol.origin]}


def content_hash(vol: Volume) -> str:
    """The CT's :meth:`~scoat_core.volume.Volume.content_hash` (voxels and geometry), as the
    import records it too."""
    return vol.content_hash()


def _read_nifti(path: Path, info: ExamInfo, *, is_hu: bool) -> Volume:
    """A file this store wrote (no checks or guesses: its metadata is in the database).

    Geometry comes from SimpleITK's reading of the header; the voxels of an uncompressed file
    are read with one ``numpy.fromfile`` (about 5× faster than ``SimpleITK.ReadImage``).
    """
    import SimpleITK as sitk

    if not path.is_file():
        raise OSError(f"{path} does not exist")
    reader = sitk.ImageFileReader()
    reader.SetImageIO("NiftiImageIO")
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    array = _raw_nifti_voxels(path, reader.GetSize())
    if array is None:
        return Volume.from_sitk(reader.Execute(), info, is_hu=is_hu)
    direction = np.array(reader.GetDirection()).reshape(3, 3)
    return Volume(array, reader.GetSpacing(), reader.GetOrigin(), direction, info, is_hu=is_hu)


_NIFTI_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


def _raw_nifti_voxels(path: Path, size: tuple[int, ...]) -> np.ndarray | None:
    """The ``[z, y, x]`` voxels of a plain uncompressed 3-D NIfTI-1 file, else None."""
    if not path.name.endswith(".nii") or len(size) != 3:
        return None
    with path.open("rb") as f:
        header = f.read(348)
    for endian in "<>":
        if len(header) == 348 and struct.unpack(endian + "i", header[:4])[0] == 348:
            break
    else:
        return None
    dims = struct.unpack(endian + "8h", header[40:56])
    code = _NIFTI_TYPES.get(struct.unpack(endian + "h", header[70:72])[0])
    offset, slope, inter = struct.unpack(endian + "3f", header[108:120])
    if code is None or dims[0] != 3 or tuple(dims[1:4]) != tuple(size) or slope not in (0, 1) \
            or inter != 0:
        return None
    count = int(np.prod(size))
    array = np.fromfile(path, dtype=endian + code, count=count, offset=int(offset))
    if array.size != count:
        raise OSError(f"{path} is truncated")
    return array.reshape(size[::-1]).astype(code, copy=False)  # native byte order
