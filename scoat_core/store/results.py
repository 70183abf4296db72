"""Analysis results and failures: saving, looking up, listing by patient, loading the masks."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scoat_core.store.cache import _read_nifti
from scoat_core.store.patients import PatientsMixin
from scoat_core.store.rows import AnalysisRow, ExamRow, StoreError, _info_from_json, _now
from scoat_core.volume import Volume

if TYPE_CHECKING:
    from scoat_core.analysis.pipeline import AnalysisResult

LUNG_MASK, OPACITY_MASK = "lung_mask.nii.gz", "opacity_mask.nii.gz"


class ResultsMixin(PatientsMixin):
    """Saved analyses (masks in ``analyses/series-<pk>-<token>/``) and why analyses failed."""

    def save_analysis(self, series_pk: int, result: AnalysisResult, software_version: str,
                      content_hash: str | None = None) -> AnalysisRow:
        """Store a result (masks as ``.nii.gz`` in the cache), replacing the previous one.

        ``content_hash`` is that of the CT analysed (default: the series' as last read from its
        source, which its cache holds). A mask written incompletely (a full disk) raises
        :class:`OSError` naming it, and nothing is saved.
        """
        from scoat_core.analysis.output import check_nifti_complete
        from scoat_core.io.images import write_mask

        self.series_row(series_pk)  # KeyError before writing anything
        if content_hash is None:
            row = self._rows("SELECT content_hash FROM series WHERE id = ?", (series_pk,))
            content_hash = row[0]["content_hash"]
        token = uuid.uuid4().hex[:12]
        tmp = self.cache_dir / "tmp" / f"analysis-{series_pk}-{token}"
        rel = Path("analyses") / f"series-{series_pk}-{token}"
        try:
            for name, mask in ((LUNG_MASK, result.lung), (OPACITY_MASK, result.opacity)):
                write_mask(mask, tmp / name)
                check_nifti_complete(tmp / name)
            os.replace(tmp, self.cache_dir / rel)
        except BaseException:
            self._remove(tmp)
            raise
        model = result.model or {}
        try:
            with self._tx() as db:
                old = db.execute("SELECT lung_mask FROM analyses WHERE series_pk = ?",
                                 (series_pk,)).fetchone()
                db.execute("DELETE FROM analyses WHERE series_pk = ?", (series_pk,))
                db.execute("DELETE FROM analysis_failures WHERE series_pk = ?", (series_pk,))
                cur = db.execute(
                    "INSERT INTO analyses (series_pk, created, software_version, model_name,"
                    " model_width, model_sha256, device, seconds, metrics_json, lung_mask,"
                    " opacity_mask, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (series_pk, _now(), software_version, str(model.get("name") or ""),
                     model.get("width"), str(model.get("sha256") or ""), result.device,
                     float(result.seconds), json.dumps(result.to_json(), default=str),
                     str(rel / LUNG_MASK), str(rel / OPACITY_MASK), content_hash),
                )
                pk = int(cur.lastrowid)
        except BaseException:
            self._remove(self.cache_dir / rel)
            raise
        if old is not None:
            self._remove((self.cache_dir / old["lung_mask"]).parent)
        return self._analysis_by("a.id = ?", (pk,))[0]

    def save_failure(self, series_pk: int, message: str, model_sha: str = "") -> None:
        """Remember why analysing this series failed (shown until an analysis is saved)."""
        from scoat_core import ANALYSIS_VERSION

        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO analysis_failures (series_pk, created, model_sha256,"
                " analysis_version, message) VALUES (?, ?, ?, ?, ?)",
                (series_pk, _now(), model_sha, ANALYSIS_VERSION, message))

    def failure(self, series_pk: int, model_sha: str = "") -> str | None:
        """Why the last analysis of this series failed, when it was this model and analysis
        version that failed (another may succeed), else None."""
        from scoat_core import ANALYSIS_VERSION

        rows = self._rows("SELECT * FROM analysis_failures WHERE series_pk = ?", (series_pk,))
        if not rows:
            return None
        r = rows[0]
        same = r["model_sha256"] == model_sha and r["analysis_version"] == ANALYSIS_VERSION
        return str(r["message"]) if same else None

    def recent_stage_seconds(self, limit: int = 5, device: str | None = None
                             ) -> list[dict[str, float]]:
        """The stage times (s) of the latest ``limit`` analyses (on ``device`` when given),
        newest first: what the analyses measured on this machine, for time-left estimates."""
        where, args = ("WHERE device = ?", (device,)) if device else ("", ())
        rows = self._rows(f"SELECT metrics_json FROM analyses {where} ORDER BY id DESC LIMIT ?",
                          (*args, int(limit)))
        out = []
        for r in rows:
            stages = json.loads(r["metrics_json"]).get("stage_seconds") or {}
            if isinstance(stages, dict) and stages:
                out.append({str(k): float(v) for k, v in stages.items()})
        return out

    def analysis(self, series_pk: int) -> AnalysisRow | None:
        rows = self._analysis_by("a.series_pk = ?", (series_pk,))
        return rows[0] if rows else None

    def _analysis_by(self, where: str, args: tuple) -> list[AnalysisRow]:
        rows = self._rows("SELECT a.*, s.content_hash AS series_hash FROM analyses a JOIN"
                          f" series s ON s.id = a.series_pk WHERE {where}", args)
        return [self._analysis_row(r) for r in rows]

    def _analysis_row(self, r: sqlite3.Row) -> AnalysisRow:
        metrics = json.loads(r["metrics_json"])
        model = dict(metrics.get("model") or {})
        model.update(name=r["model_name"], width=r["model_width"], sha256=r["model_sha256"])
        return AnalysisRow(
            r["id"], r["series_pk"], datetime.fromisoformat(r["created"]),
            r["software_version"], model, r["device"], r["seconds"], metrics,
            self.cache_dir / r["lung_mask"], self.cache_dir / r["opacity_mask"],
            ct_changed=None not in (r["content_hash"], r["series_hash"])
            and r["content_hash"] != r["series_hash"],
        )

    def analyses_for_patient(self, patient_pk: int) -> list[tuple[ExamRow, AnalysisRow | None]]:
        """Each exam (by date) with the stored analysis of its selected series, if any."""
        exams = self.exams(patient_pk)
        pks = [e.selected.id for e in exams if e.selected is not None]
        marks = ", ".join("?" * len(pks))
        found = {a.series_pk: a for a in self._analysis_by(f"a.series_pk IN ({marks})",
                                                            tuple(pks))} if pks else {}
        return [(e, found.get(e.selected.id) if e.selected else None) for e in exams]

    def load_masks(self, row: AnalysisRow) -> tuple[Volume, Volume]:
        """``(lung labels, opacity)`` of a stored analysis."""
        series, exam_date = self._series_and_date(row.series_pk)
        info = _info_from_json(json.loads(series["info"]))
        if exam_date is not None:
            info = info.replace(study_date=exam_date)
        try:
            masks = (_read_nifti(row.lung_mask, info, is_hu=False),
                     _read_nifti(row.opacity_mask, info, is_hu=False))
        except (OSError, RuntimeError) as exc:
            raise StoreError(f"the saved result files are missing or damaged ({exc});"
                             " analyse the exam again") from exc
        shape = json.loads(series["shape"]) if series["shape"] else None
        if shape is not None and list(masks[0].shape) != shape:
            raise StoreError(f"the saved result ({masks[0].shape}) was made from another CT than"
                             f" the one now at {series['source']} ({tuple(shape)});"
                             " analyse the exam again")
        return masks
