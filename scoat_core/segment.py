"""2-D opacity prediction with a trained network: the one place a model turns slices into maps.

Slices arrive normalised to [0, 1] (:mod:`scoat_core.normalization`). Each is resized by
``scale`` (the model works at a coarser pixel than the source), padded by the model to a multiple
of 16, predicted, and the probability map is resized back to the slice's size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

#: Probability above which a pixel is opacity.
THRESHOLD = 0.5


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


class SliceSegmenter:
    """Predicts opacity probability maps for 2-D slices with one model."""

    def __init__(
        self, model: torch.nn.Module, *, scale: float = 1.0, device: str | torch.device = "auto"
    ) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.model = model.to(self.device).eval()
        self.scale = float(scale)
        self.amp = self.device.type == "cuda"

    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Probability maps (float32, same size as each input) for slices in [0, 1]."""
        out: list[np.ndarray] = []
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
        out = [result[i] for i in range(len(images))]
        return out

    def _predict_batch(self, x: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        x = x.to(self.device)
        if self.scale != 1.0:
            size = [max(16, round(n * self.scale)) for n in shape]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        with torch.autocast(self.device.type, enabled=self.amp):
            logits = self.model(x)
        if isinstance(logits, (list, tuple)):
            logits = torch.stack(list(logits)).mean(0)
        logits = logits.float()
        if logits.shape[-2:] != shape:
            logits = F.interpolate(logits, size=list(shape), mode="bilinear", align_corners=False)
        return torch.sigmoid(logits)[:, 0].cpu().numpy()
