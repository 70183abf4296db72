"""``analyze()``: lung mask, slice-wise opacity segmentation and volumetry of one CT exam.

The one analysis entry point used by the CLI and the GUI. Stages: lung mask → opacity (the network,
slice by slice) → volumetry (which first adds the opacity that touches a lung to the lung mask).
Plain-Python callbacks report progress (``progress(stage, fraction, seconds_left)``: the time left
of the whole analysis, from the stages' measured rates, :class:`~scoat_core.progress.StageEta`) and
``cancel()`` is checked between batches of slices.

Opacity inference, in order:

1. only slices that the lung mask dilated by ``LUNG_DILATION_MM`` touches are predicted (opacity on
   the others could only extend the lungs more than that beyond the HU-rule mask's ends). Each
   predicted slice is the whole slice, as in training: SCOAT-Net's channel attention pools over the
   whole feature map, so a crop to the lungs (or the body) changes the prediction everywhere
   (measured Dice 0.88-0.98 against whole slices, ``benchmarks/bench_analysis.py``). The segmenter
   resamples the slice to the model's pixel size (``pixel_mm`` in its manifest) and the probability
   map back;
2. slices go through an inference copy of the network (batch norm folded, channels-last on the CPU,
   bfloat16 where the CPU runs it natively, else ONNX Runtime where installed:
   :class:`~scoat_core.analysis.slices.SliceSegmenter`) in batches; only the current batch exists
   in float;
3. lungs = HU-rule lung mask ∪ the network's opacity that touches a lung
   (:mod:`scoat_core.lung.evidence`: dense consolidation that no HU rule tells from the heart or
   mediastinum it abuts; islands such as bowel false positives stay out);
4. post-processing: probability > ``THRESHOLD`` (0.5) inside that lung mask, connected components
   (26-connectivity) smaller than ``MIN_COMPONENT_MM3`` removed: the opacity mask is exactly what
   the LOV counts;
5. optional test-time augmentation: the mean of the slice and its left-right flip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scoat_core import ANALYSIS_VERSION
from scoat_core.analysis.normalization import hu_to_unit
from scoat_core.analysis.postprocess import dilate_lungs, grown_box, remove_small_components
from scoat_core.analysis.quantify import ExamMetrics, counted_opacity, quantify
from scoat_core.analysis.slices import THRESHOLD, SliceSegmenter, cpu_has_bf16
from scoat_core.errors import UserError
from scoat_core.models.weights import UNVERIFIED_WARNING
from scoat_core.progress import Cancelled, StageEta
from scoat_core.volume import Volume

log = logging.getLogger(__name__)

StageProgress = Callable[[str, float, "float | None"], None]
#: Network precision of ``analyze()``: "auto" is bfloat16 on CPUs that run it natively (about
#: twice as fast; Dice >= 0.99 against float32 in benchmarks/bench_analysis.py), else float32.
DEFAULT_PRECISION = "auto"
#: Inference runtime of ``analyze()``: "auto" is ONNX Runtime where the network runs float32 on
#: the CPU and onnxruntime is installed, else torch (`slices.pick_backend`).
DEFAULT_BACKEND = "auto"
#: Expected part of each stage in an analysis on the CPU (docs/benchmarks/analysis_cpu.json:
#: lung mask 17-28 %, opacity 70-81 %, volumetry 1-2 %), for the time left until a stage is
#: measured; :func:`scoat_core.progress.shares_from_history` refines them from earlier runs.
STAGE_SHARES: dict[str, float] = {"lung mask": 0.23, "opacity": 0.75, "volumetry": 0.02}


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
    lungs_complete: bool = True
    """False when the scan cuts the lungs, or its slices do not support whole-lung volumetry
    (:attr:`Volume.volumetry_problems`): volumes are not comparable with other exams."""

    def __post_init__(self) -> None:
        if not self.weights_verified and UNVERIFIED_WARNING not in self.warnings:
            self.warnings.append(UNVERIFIED_WARNING)

    @property
    def weights_verified(self) -> bool:
        """False when the network's weights file was used without verification."""
        return self.model.get("verified") is not False

    def to_json(self) -> dict[str, Any]:
        out = self.metrics.to_json()
        out.update(analysis_version=ANALYSIS_VERSION, model=self.model, device=self.device,
                   seconds=round(self.seconds, 2),
                   stage_seconds={k: round(v, 2) for k, v in self.stage_seconds.items()},
                   warnings=self.warnings, lungs_complete=self.lungs_complete,
                   weights_verified=self.weights_verified, exam=self.lung.info.to_json())
        return out


def load_model(weights=None, *, trust_unverified: bool = False) -> LoadedModel:
    """The shipped default model, or a given ``.safetensors`` file, ready for inference.

    A file is verified as :func:`scoat_core.models.weights.load_checked` says (refused unless
    verified or ``trust_unverified``); ``info["verified"]`` records the outcome.
    """
    from scoat_core.models.weights import load_checked

    checked = load_checked(weights, trust_unverified=trust_unverified)
    return LoadedModel(checked.model, checked.pixel_mm, checked.input_scale, checked.info)


class _Reporter:
    """Turns stage fractions into the progress callback with the time left of the whole
    analysis, and checks cancel."""

    def __init__(self, progress: StageProgress | None, cancel: Callable[[], bool] | None,
                 shares: Mapping[str, float] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.progress, self.cancel = progress, cancel
        self.t0 = time.monotonic()
        self.stage_t0 = self.t0
        self.times: dict[str, float] = {}
        self.stage = ""
        self.eta = StageEta(shares or STAGE_SHARES, clock=clock)

    def start(self, stage: str) -> None:
        now = time.monotonic()
        if self.stage:
            self.times[self.stage] = now - self.stage_t0
        self.stage, self.stage_t0 = stage, now
        self(0.0)

    def __call__(self, fraction: float) -> None:
        if self.cancel and self.cancel():
            raise Cancelled(f"cancelled during {self.stage}")
        left = self.eta.update(self.stage, fraction)
        if self.progress:
            self.progress(self.stage, min(1.0, fraction), left)


def analyze(
    volume: Volume,
    model: LoadedModel | None = None,
    *,
    device: str = "auto",
    progress: StageProgress | None = None,
    cancel: Callable[[], bool] | None = None,
    batch_size: int = 8,
    tta: bool = False,
    precision: str = DEFAULT_PRECISION,
    stage_shares: Mapping[str, float] | None = None,
    backend: str = DEFAULT_BACKEND,
) -> AnalysisResult:
    """Analyse one exam: lung labels, opacity mask and the volumetry.

    ``precision``: "auto", "fp32" or "bf16" (CPU only; see :data:`DEFAULT_PRECISION`).
    ``backend``: "auto", "torch" or "onnxruntime" (see :data:`DEFAULT_BACKEND`).
    ``stage_shares``: expected part of each stage for the time left (default
    :data:`STAGE_SHARES`).
    """
    from scoat_core.lung import add_evidence, segment_lungs

    if not volume.is_hu:
        raise AnalysisError(f"{volume.info.source or 'volume'}: not in Hounsfield units; "
                            "lung and opacity analysis needs HU")
    report = _Reporter(progress, cancel, stage_shares)
    model = model or load_model()
    report.start("lung mask")
    lung = segment_lungs(volume, progress=report, cancel=cancel)
    report.start("opacity")
    seg = make_segmenter(model, volume.spacing[0], device, precision, backend)
    evidence = predict_opacity(volume, lung.labels.array, seg, report, batch_size, tta)
    report.start("volumetry")
    lung = add_evidence(lung, volume, evidence)
    opacity = opacity_in_lungs(evidence, lung.labels.array, volume.spacing)
    complete = lung.complete and not volume.volumetry_problems
    metrics = quantify(volume, lung.labels, volume.derive(opacity), complete=complete)
    report.start("done")
    warnings = list(volume.warnings) + list(lung.warnings)
    if volume.volumetry_problems:
        warnings.append("partial exam: the slices do not support whole-lung volumetry, so its "
                        "volumes are not comparable with other exams")
    return AnalysisResult(
        lung=lung.labels, opacity=volume.derive(opacity), metrics=metrics,
        model={**model.info, "precision": seg.precision, "backend": seg.backend},
        device=str(seg.device), seconds=time.monotonic() - report.t0,
        stage_seconds=dict(report.times), warnings=warnings,
        lungs_complete=complete,
    )


def make_segmenter(model: LoadedModel, pixel_mm: float, device: str = "auto",
                   precision: str = DEFAULT_PRECISION,
                   backend: str = DEFAULT_BACKEND) -> SliceSegmenter:
    """The optimised segmenter ``analyze()`` runs, for slices of in-plane pixel ``pixel_mm``."""
    if precision == "auto":  # ONNX Runtime runs float32 only
        precision = "bf16" if cpu_has_bf16() and backend != "onnxruntime" else "fp32"
    return SliceSegmenter(model.model, scale=model.scale_for(pixel_mm), device=device,
                          optimize=True, precision=precision, backend=backend)


def predict_opacity(volume: Volume, lung_labels: np.ndarray, seg: SliceSegmenter,
                    report: Callable[[float], None], batch_size: int = 8,
                    tta: bool = False) -> np.ndarray:
    """Boolean network opacity (probability > ``THRESHOLD``) on the volume's grid, whole slices,
    on the slices that the lungs dilated by ``LUNG_DILATION_MM`` touch (module docstring)."""
    lungs = lung_labels > 0
    out = np.zeros(volume.shape, bool)
    box = grown_box(lungs, volume.spacing)
    if box is None:
        return out
    grown = dilate_lungs(lungs[box], volume.spacing)
    zs = box[0].start + np.flatnonzero(grown.any(axis=(1, 2)))
    for start in range(0, zs.size, batch_size):
        batch_z = zs[start : start + batch_size]
        slices = [hu_to_unit(volume.array[z]) for z in batch_z]
        probs = seg.predict(slices, batch_size=batch_size)
        if tta:
            flipped = seg.predict([s[:, ::-1].copy() for s in slices], batch_size=batch_size)
            probs = [(p + f[:, ::-1]) / 2 for p, f in zip(probs, flipped, strict=True)]
        for z, p in zip(batch_z, probs, strict=True):
            out[z] = p > THRESHOLD
        report((start + batch_z.size) / zs.size)
    return out


def opacity_in_lungs(opacity: np.ndarray, lung_labels: np.ndarray, spacing) -> np.ndarray:
    """uint8 opacity mask: the network's opacity inside the lung mask, without components
    smaller than ``MIN_COMPONENT_MM3``: exactly what the LOV counts."""
    lungs = lung_labels > 0
    out = np.zeros(opacity.shape, np.uint8)
    box = grown_box(lungs, spacing)
    if box is not None:
        out[box] = remove_small_components(counted_opacity(lungs[box], opacity[box]), spacing)
    return out


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
