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

``backend``: ``"torch"`` (the default here; the GPU path and the fallback), ``"onnxruntime"`` (the
folded float32 model exported to ONNX in memory on first use of each network input size, dynamic
batch, run by ONNX Runtime's CPU provider with torch's thread count; the optional ``onnxruntime``
package), or ``"auto"`` (:func:`pick_backend`): ONNX Runtime whenever the segmenter runs float32 on
the CPU and onnxruntime is installed, else torch. So with ``precision="auto"``
(:func:`~scoat_core.analysis.pipeline.make_segmenter`) a CPU with native bf16 keeps torch bf16 and
any other CPU gets ONNX Runtime. Per slice, shipped network, batch of 8 at 256², 2 threads:

* AVX2-only 2-core EPYC (issue 16): torch fp32 657 ms, channels-last 355 ms, ONNX Runtime 238 ms
  (OpenVINO 207 ms, not used: a second runtime for 13 % more); outputs equal within 4e-6.
* AVX-512 + bf16 (2 cores, idle), min (median) of 6 runs: torch fp32 channels-last 214 (244) ms,
  bf16 70 (82) ms, ONNX Runtime 84 (98) ms; under a training job (load 5): 501 (570), 183 (373),
  197 (275) ms. bf16 stays the fastest where the CPU has it; ONNX Runtime beats float32 torch by
  2.5× and agrees with it within 1e-6 in probability. The export takes 1-4 s, once per segmenter
  and input size.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import itertools
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

log = logging.getLogger(__name__)

#: Probability above which a pixel is opacity.
THRESHOLD = 0.5
PRECISIONS = ("fp32", "bf16")
BACKENDS = ("auto", "torch", "onnxruntime")


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


def onnxruntime_available() -> bool:
    """Whether the optional ``onnxruntime`` package is installed (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def pick_backend(device: torch.device | str = "cpu", precision: str = "fp32") -> str:
    """What ``backend="auto"`` resolves to for a device and the precision actually run:
    ONNX Runtime for float32 on the CPU when it is installed, else torch (module docstring)."""
    if torch.device(device).type == "cpu" and precision == "fp32" and onnxruntime_available():
        return "onnxruntime"
    return "torch"


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
        backend: str = "torch",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.bf16 = precision == "bf16" and self.device.type == "cpu" and cpu_has_bf16()
        if precision == "bf16" and not self.bf16 and self.device.type == "cpu":
            log.info("bf16 requested but this CPU has no native bf16: using float32")
        if backend == "auto":
            backend = pick_backend(self.device, self.precision)
        elif backend == "onnxruntime" and (self.device.type != "cpu" or self.bf16):
            raise ValueError("the onnxruntime backend runs float32 on the CPU only")
        self.backend = backend
        #: ONNX Runtime sessions by network input size (H, W), exported on first use.
        self._sessions: dict[tuple[int, int], Any] = {}
        model = model.to(self.device).eval()
        self.channels_last = optimize and self.device.type == "cpu" and backend == "torch"
        if optimize or backend == "onnxruntime":
            model = fold_batchnorm(model)
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.scale = float(scale)
        self.amp = self.device.type == "cuda"
        if backend == "onnxruntime":
            import onnxruntime  # noqa: F401  (fails here, not mid-exam, when it is missing)

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

    def input_size(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The network's input size for slices of ``shape`` (resized by ``scale``)."""
        if self.scale == 1.0:
            return (int(shape[0]), int(shape[1]))
        h, w = (max(16, round(n * self.scale)) for n in shape)
        return (h, w)

    def _predict_batch(self, x: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        x = x.to(self.device)
        size = self.input_size(shape)
        if size != tuple(shape):
            x = F.interpolate(x, size=list(size), mode="bilinear", align_corners=False,
                              antialias=True)
        session = self._session(size) if self.backend == "onnxruntime" else None
        if session is not None:
            outputs = session.run(None, {"x": x.contiguous().numpy()})
            logits = torch.from_numpy(np.mean(outputs, axis=0) if len(outputs) > 1
                                      else outputs[0])
        else:
            logits = self._forward(x)
        if isinstance(logits, (list, tuple)):
            logits = torch.stack(list(logits)).mean(0)
        logits = logits.float().contiguous()
        if logits.shape[-2:] != shape:
            logits = F.interpolate(logits, size=list(shape), mode="bilinear", align_corners=False)
        return torch.sigmoid(logits)[:, 0].cpu().numpy()

    def _forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.model(x)
        with torch.autocast(self.device.type, enabled=self.amp):
            return self.model(x)

    def _session(self, size: tuple[int, int]) -> Any:
        """The ONNX Runtime session for inputs of ``size``: the folded model exported in memory
        (float32, dynamic batch, this fixed size), with torch's thread count. ``None`` when the
        export or the session fails: the segmenter then falls back to torch float32 for good
        (same numbers within 1e-6, only slower), with a warning in the log."""
        if size not in self._sessions:
            import onnxruntime as ort

            try:
                options = ort.SessionOptions()
                options.intra_op_num_threads = torch.get_num_threads()
                options.inter_op_num_threads = 1
                self._sessions[size] = ort.InferenceSession(
                    export_onnx(self.model, size), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # any exporter or runtime failure: fall back
                log.warning("ONNX Runtime unavailable for this model (%s: %s); using torch "
                            "float32 instead", type(exc).__name__, exc)
                self.backend = "torch"
                return None
            log.info("ONNX Runtime session for %d×%d inputs", *size)
        return self._sessions[size]


def export_onnx(model: nn.Module, size: tuple[int, int]) -> bytes:
    """``model`` (one input channel) as ONNX bytes: input ``x`` of N×1×H×W with a dynamic batch
    N and the fixed ``size``; outputs ``y0``, ``y1``... (one per logit map the model returns)."""
    buf = io.BytesIO()
    # Outside inference mode (predict() runs in it): the tracer refuses inference tensors.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter-deprecation warnings
        example = torch.zeros(1, 1, *size)
        out = model(example)
        n_out = len(out) if isinstance(out, (list, tuple)) else 1
        names = [f"y{i}" for i in range(n_out)]
        torch.onnx.export(model, (example,), buf, dynamo=False, input_names=["x"],
                          output_names=names, opset_version=17,
                          dynamic_axes={name: {0: "n"} for name in ["x", *names]})
    return buf.getvalue()
