"""2-D opacity prediction with a trained network: the one place a model turns slices into maps.

Slices arrive normalised to [0, 1] (:mod:`scoat_core.analysis.normalization`). Each is resized by
``scale`` (the model works at a coarser pixel than the source), padded by the model to a multiple
of 16, predicted, and the probability map is resized back to the slice's size.

``SliceSegmenter(..., optimize=True)`` (what :func:`scoat_core.analysis.pipeline.analyze` uses) runs
an inference copy of the network: batch norms folded into the convolutions before them, and on the
CPU the channels-last memory layout (oneDNN's fast path). Both are exact up to float rounding
(``benchmarks/bench_analysis.py`` measures the agreement with the plain model). ``precision``
``"bf16"`` adds bfloat16 autocast on CPUs with native bf16 (AVX512-BF16 / AMX), about twice as fast
again but not exact (Dice ~0.99 against float32); ``"fp32"`` is the default.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

log = logging.getLogger(__name__)

#: Probability above which a pixel is opacity.
THRESHOLD = 0.5
PRECISIONS = ("fp32", "bf16")


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA → MPS → CPU for ``"auto"``; otherwise the named device. Logs the choice."""
    if requested == "auto":
        if torch.cuda.is_available():
            requested = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            requested = "mps"
        else:
            requested = "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but no CUDA GPU is available")
    log.info("using device %s", device)
    return device


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each Conv2d→BatchNorm2d pair (inside a Sequential)
    fused into one convolution; the batch norm becomes an Identity. The original is untouched."""
    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in itertools.pairwise(names):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return model


class SliceSegmenter:
    """Predicts opacity probability maps for 2-D slices with one model."""

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        scale: float = 1.0,
        device: str | torch.device = "auto",
        optimize: bool = False,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        model = model.to(self.device).eval()
        self.channels_last = optimize and self.device.type == "cpu"
        if optimize:
            model = fold_batchnorm(model)
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.scale = float(scale)
        self.amp = self.device.type == "cuda"
        self.bf16 = precision == "bf16" and self.device.type == "cpu" and cpu_has_bf16()
        if precision == "bf16" and not self.bf16 and self.device.type == "cpu":
            log.info("bf16 requested but this CPU has no native bf16: using float32")

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Probability maps (float32, same size as each input) for slices in [0, 1]."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape, []).append(i)
        result: dict[int, np.ndarray] = {}
        for shape, idx in groups.items():
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                batch = np.stack([images[i] for i in chunk]).astype(np.float32, copy=False)
                probs = self._predict_batch(torch.from_numpy(batch)[:, None], shape)
                for i, p in zip(chunk, probs, strict=True):
                    result[i] = p
        return [result[i] for i in range(len(images))]

    def _predict_batch(self, x: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        x = x.to(self.device)
        if self.scale != 1.0:
            size = [max(16, round(n * self.scale)) for n in shape]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = self.model(x)
        else:
            with torch.autocast(self.device.type, enabled=self.amp):
                logits = self.model(x)
        if isinstance(logits, (list, tuple)):
            logits = torch.stack(list(logits)).mean(0)
        logits = logits.float().contiguous()
        if logits.shape[-2:] != shape:
            logits = F.interpolate(logits, size=list(shape), mode="bilinear", align_corners=False)
        return torch.sigmoid(logits)[:, 0].cpu().numpy()
