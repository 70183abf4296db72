"""``analyze()``: lung mask, slice-wise opacity segmentation and volumetry of one CT exam.

The one analysis entry point used by the CLI and the GUI. Stages: lung mask → opacity (the
network, slice by slice on the lung region) → volumetry. Plain-Python callbacks report progress
(``progress(stage, fraction, eta_seconds)``) and ``cancel()`` is checked between batches of slices.

Opacity inference, in order:

1. only slices that contain lung are predicted, each cropped to the lungs' bounding box plus a
   ``CROP_MARGIN_MM`` margin, the crop's corner aligned to the network's pooling grid (16 model
   pixels) so that the crop sees the same pixel grid as the whole slice would (measured agreement
   with whole-slice inference in ``benchmarks/bench_analysis.py``); the crop is resampled in-plane
   to the model's pixel size
   (``pixel_mm`` in its manifest) by the segmenter and the probability map restored to the crop;
2. slices go through the network in batches; only the current batch exists in float;
3. post-processing: probability > ``THRESHOLD`` (0.5), kept inside the lung mask dilated by
   ``LUNG_DILATION_MM``, connected components (26-connectivity) smaller than ``MIN_COMPONENT_MM3``
   removed;
4. optional test-time augmentation: the mean of the slice and its left-right flip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from scoat_core.errors import UserError
from scoat_core.normalization import hu_to_unit
from scoat_core.progress import Cancelled
from scoat_core.quantify import ExamMetrics, quantify
from scoat_core.segment import THRESHOLD, SliceSegmenter
from scoat_core.volume import Volume

log = logging.getLogger(__name__)

StageProgress = Callable[[str, float, "float | None"], None]
CROP_MARGIN_MM = 10.0
LUNG_DILATION_MM = 3.0
MIN_COMPONENT_MM3 = 20.0


class AnalysisError(UserError):
    """The exam cannot be analysed (not HU, no lungs...)."""


@dataclass
class LoadedModel:
    """A network with what inference needs to know about it."""

    model: Any
    pixel_mm: float | None
    """In-plane pixel size the network works at; None: use ``input_scale`` as is."""
    input_scale: float
    info: dict[str, Any] = field(default_factory=dict)
    """name, width, sha256 (for the report)."""

    def scale_for(self, spacing_mm: float) -> float:
        return spacing_mm / self.pixel_mm if self.pixel_mm else self.input_scale


@dataclass
class AnalysisResult:
    lung: Volume
    opacity: Volume
    metrics: ExamMetrics
    model: dict[str, Any]
    device: str
    seconds: float
    stage_seconds: dict[str, float]
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        out = self.metrics.to_json()
        out.update(model=self.model, device=self.device, seconds=round(self.seconds, 2),
                   stage_seconds={k: round(v, 2) for k, v in self.stage_seconds.items()},
                   warnings=self.warnings, exam=self.lung.info.to_json())
        return out


def load_model(weights=None) -> LoadedModel:
    """The shipped default model, or a given ``.safetensors`` file, ready for inference."""
    from scoat_core.models.weights import (
        MANIFEST_NAME,
        find_entry,
        load_default_model,
        load_weights,
        read_manifest,
        read_metadata,
        sha256_file,
        shipped_models_dir,
    )

    if weights is None:
        model = load_default_model()
        entry = find_entry(read_manifest(shipped_models_dir() / MANIFEST_NAME))
        info = {"name": entry["name"], "width": entry["config"].get("width"),
                "arch": entry["config"].get("arch"), "sha256": entry["sha256"]}
        return LoadedModel(model, entry.get("pixel_mm"), float(entry.get("input_scale", 1)), info)
    meta = read_metadata(weights)
    model = load_weights(weights)
    info = {"name": meta.get("name", str(weights)), "width": model.width, "arch": model.arch,
            "sha256": sha256_file(weights)}
    pixel = meta.get("pixel_mm")
    return LoadedModel(model, float(pixel) if pixel else None,
                       float(meta.get("input_scale", 1)), info)


class _Reporter:
    """Turns stage fractions into the progress callback with an ETA, and checks cancel."""

    def __init__(self, progress: StageProgress | None, cancel: Callable[[], bool] | None):
        self.progress, self.cancel = progress, cancel
        self.t0 = time.monotonic()
        self.stage_t0 = self.t0
        self.times: dict[str, float] = {}
        self.stage = ""

    def start(self, stage: str) -> None:
        now = time.monotonic()
        if self.stage:
            self.times[self.stage] = now - self.stage_t0
        self.stage, self.stage_t0 = stage, now
        self(0.0)

    def __call__(self, fraction: float) -> None:
        if self.cancel and self.cancel():
            raise Cancelled(f"cancelled during {self.stage}")
        if self.progress:
            spent = time.monotonic() - self.stage_t0
            eta = spent / fraction - spent if fraction > 0.02 else None
            self.progress(self.stage, min(1.0, fraction), eta)


def analyze(
    volume: Volume,
    model: LoadedModel | None = None,
    *,
    device: str = "auto",
    progress: StageProgress | None = None,
    cancel: Callable[[], bool] | None = None,
    batch_size: int = 8,
    tta: bool = False,
) -> AnalysisResult:
    """Analyse one exam: lung labels, opacity mask and the volumetry."""
    from scoat_core.lung import segment_lungs

    if not volume.is_hu:
        raise AnalysisError(f"{volume.info.source or 'volume'}: not in Hounsfield units; "
                            "lung and opacity analysis needs HU")
    report = _Reporter(progress, cancel)
    model = model or load_model()
    report.start("lung mask")
    lung = segment_lungs(volume, progress=report, cancel=cancel)
    report.start("opacity")
    seg = SliceSegmenter(model.model, scale=model.scale_for(volume.spacing[0]), device=device)
    opacity = predict_opacity(volume, lung.labels.array, seg, report, batch_size, tta)
    report.start("volumetry")
    metrics = quantify(volume, lung.labels, volume.derive(opacity))
    report.start("done")
    return AnalysisResult(
        lung=lung.labels, opacity=volume.derive(opacity), metrics=metrics, model=model.info,
        device=str(seg.device), seconds=time.monotonic() - report.t0,
        stage_seconds=dict(report.times), warnings=list(volume.warnings) + list(lung.warnings),
    )


def predict_opacity(volume: Volume, lung_labels: np.ndarray, seg: SliceSegmenter,
                    report: Callable[[float], None], batch_size: int = 8,
                    tta: bool = False) -> np.ndarray:
    """uint8 opacity mask (0/1) on the volume's grid; see the module docstring."""
    lungs = lung_labels > 0
    out = np.zeros(volume.shape, np.uint8)
    zs = np.flatnonzero(lungs.any(axis=(1, 2)))
    if zs.size == 0:
        return out
    rows, cols = _crop_box(lungs, volume.spacing, align=max(1, round(16 / seg.scale)))
    for start in range(0, zs.size, batch_size):
        batch_z = zs[start : start + batch_size]
        crops = [hu_to_unit(volume.array[z, rows, cols]) for z in batch_z]
        probs = seg.predict(crops, batch_size=batch_size)
        if tta:
            flipped = seg.predict([c[:, ::-1].copy() for c in crops], batch_size=batch_size)
            probs = [(p + f[:, ::-1]) / 2 for p, f in zip(probs, flipped, strict=True)]
        for z, p in zip(batch_z, probs, strict=True):
            out[z, rows, cols] = p > THRESHOLD
        report((start + batch_z.size) / zs.size)
    block = (slice(zs[0], zs[-1] + 1), rows, cols)  # post-process the lung region only
    out[block] = postprocess(out[block], lungs[block], volume.spacing)
    return out


def _crop_box(lungs: np.ndarray, spacing, align: int = 1) -> tuple[slice, slice]:
    """Lung bounding box plus margin, start and size rounded out to multiples of ``align``."""
    yx = lungs.any(axis=0)
    ys, xs = np.flatnonzero(yx.any(1)), np.flatnonzero(yx.any(0))
    my, mx = round(CROP_MARGIN_MM / spacing[1]), round(CROP_MARGIN_MM / spacing[0])

    def side(lo: int, hi: int, n: int) -> slice:
        start = max(0, lo) // align * align
        stop = start + -(-(min(n, hi) - start) // align) * align
        return slice(start, min(n, stop))

    return side(ys[0] - my, ys[-1] + my + 1, yx.shape[0]), side(xs[0] - mx, xs[-1] + mx + 1,
                                                                 yx.shape[1])


def postprocess(mask: np.ndarray, lungs: np.ndarray, spacing) -> np.ndarray:
    """Keep opacity inside the slightly dilated lungs; drop components < MIN_COMPONENT_MM3."""
    radius = [max(0, round(LUNG_DILATION_MM / s)) for s in (spacing[2], spacing[1], spacing[0])]
    grown = lungs
    if any(radius):
        zz, yy, xx = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
        ball = ((zz / max(radius[0], 1)) ** 2 + (yy / max(radius[1], 1)) ** 2
                + (xx / max(radius[2], 1)) ** 2) <= 1
        grown = ndimage.binary_dilation(lungs, structure=ball)
    mask = mask & grown
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n:
        sizes = np.bincount(labels.ravel())[1:] * float(np.prod(spacing))
        small = np.flatnonzero(sizes < MIN_COMPONENT_MM3) + 1
        if small.size:
            mask = mask & ~np.isin(labels, small)
    return mask.astype(np.uint8)


def attention_maps(volume: Volume, z: int, model: LoadedModel | None = None,
                   device: str = "cpu") -> dict[str, np.ndarray]:
    """SCOAT-Net spatial attention maps (each H×W in [0, 1]) for one axial slice."""
    import torch
    import torch.nn.functional as F

    model = model or load_model()
    net = model.model.eval()
    x = torch.from_numpy(hu_to_unit(volume.array[z]))[None, None]
    scale = model.scale_for(volume.spacing[0])
    size = [max(16, round(n * scale)) for n in x.shape[-2:]]
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    with torch.inference_mode():
        _, maps = net(x.to(device), return_attention=True)
    return {k: F.interpolate(v.float().cpu(), size=list(volume.shape[1:]), mode="bilinear",
                             align_corners=False)[0, 0].numpy() for k, v in maps.items()}
