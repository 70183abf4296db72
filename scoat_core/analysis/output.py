"""Writing one exam's analysis: masks (NIfTI, DICOM SEG), metrics.json and metrics.csv.

Everything is written into a hidden temporary folder inside the output folder first and moved
into place only when all files are complete, so an interrupted or cancelled run leaves no
half-written results.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scoat_core.analysis.pipeline import AnalysisResult
from scoat_core.io.images import write_mask
from scoat_core.volume import Volume

FILES = ("lung_mask.nii.gz", "opacity_mask.nii.gz", "metrics.json", "metrics.csv")
SEG_FILE = "analysis_seg.dcm"

log = logging.getLogger(__name__)


def metrics_rows(result: AnalysisResult) -> list[tuple[str, str, object]]:
    """(quantity, unit, value) rows of the CSV, whole lung, each side, then each zone."""
    m = result.metrics
    rows: list[tuple[str, str, object]] = [
        ("lung_volume", "mL", m.lung_volume_ml), ("lov", "mL", m.lov_ml),
        ("po", "%", m.po_percent), ("high_opacity_volume", "mL", m.high_opacity_ml),
        ("pho", "%", m.pho_percent), ("ggo_volume", "mL", m.ggo_ml),
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


def write_analysis(
    result: AnalysisResult,
    volume: Volume,
    out_dir: str | Path,
    *,
    source_files: Sequence[str | Path] | None = None,
) -> dict[str, Path]:
    """Write the analysis of ``volume`` into ``out_dir``; returns the written paths by name.

    The DICOM SEG is an extra: when the source headers defeat it, the masks and metrics are still
    written, and the reason is logged and added to the warnings in ``metrics.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
    try:
        names = list(FILES)
        payload = result.to_json()
        if source_files:
            try:
                _write_seg(result, volume, source_files, tmp / SEG_FILE)
                names.append(SEG_FILE)
            except Exception as exc:  # an optional output must not lose the rest
                reason = f"DICOM SEG not written: {type(exc).__name__}: {exc}"
                log.warning("%s", reason)
                payload["warnings"] = [*payload.get("warnings", []), reason]
        write_mask(result.lung, tmp / FILES[0])
        write_mask(result.opacity, tmp / FILES[1])
        (tmp / FILES[2]).write_text(json.dumps(payload, indent=2, default=str) + "\n")
        with (tmp / FILES[3]).open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["quantity", "unit", "value"])
            writer.writerows(metrics_rows(result))
        written = {}
        for name in names:
            os.replace(tmp / name, out_dir / name)
            written[name] = out_dir / name
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_seg(result: AnalysisResult, volume: Volume, source_files: Sequence[str | Path],
               path: Path) -> None:
    from scoat_core.io.seg import write_dicom_seg

    write_dicom_seg(volume, result.lung.array, result.opacity.array, source_files, path,
                    model_name=str(result.model.get("name")))
