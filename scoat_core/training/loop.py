"""The training loop: k-fold cross-validation or a full-data run, resumable, with a run folder.

A run folder holds ``config.json``, ``log.txt``, one ``fold<k>/`` per fold (``checkpoint.pt``
written after every epoch, ``metrics.json`` when the fold ends) and ``cv_metrics.json``; a full
run writes ``full/`` with the final weights (``model.safetensors`` + ``manifest.json``).

Default schedule (the paper, section IV-A): Adam, lr 0.01 multiplied by 0.1 every 10 epochs,
then a restart at 0.001 with the same decay, 50 epochs in all (restart at epoch 30).
Validation metrics are those of the **last** epoch (no selection on the validation fold).

Speed on the CPU: the model and batches are channels-last, and with ``precision`` "auto" the
forward and backward passes run under bfloat16 autocast where the CPU has native bf16
(AVX512-BF16 / AMX; decided at run time, the choice logged and kept in the log rows), else
float32. Each epoch's log row has its seconds, samples per second and the time left. Samples are
decoded once per process; folds of one group (``Sample.group``: a patient, a volume, a repeated
slice) never straddle a train/validation split. ``init`` starts every model from given weights
(fine-tuning after pre-training on a larger, pseudo-labelled set).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from scoat_core.analysis.slices import THRESHOLD, SliceSegmenter, cpu_has_bf16, pick_device
from scoat_core.errors import UserError
from scoat_core.progress import Cancelled
from scoat_core.training import metrics
from scoat_core.training.augment import AugmentConfig, augment_batch, pad_or_crop, rescale_sample
from scoat_core.training.data import Sample, kfold_indices
from scoat_core.training.losses import get_loss, supervised
from scoat_core.training.threshold_metrics import summarize_curves, threshold_curves

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


class ResumeError(UserError, ValueError):
    """A run folder holds a checkpoint made with other settings."""


@dataclass
class TrainConfig:
    arch: str = "scoat_net"
    width: int = 16
    deep_supervision: str = "mean"
    loss: str = "bce_dice"
    alpha: float = 0.5
    epochs: int = 50
    lr: float = 0.01
    lr_step: int = 10
    lr_gamma: float = 0.1
    restart_epoch: int = 30
    restart_lr: float = 0.001
    batch_size: int = 8
    repeats: int = 1
    """Passes over the training images per epoch (more steps per epoch on small data)."""
    size: int = 256
    """Training patch side in pixels, after rescaling."""
    scale: float = 0.5
    """Rescale factor applied to every slice (0.5: the model works at half the source pixel)."""
    folds: int = 5
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    """auto (bfloat16 autocast on CPUs with native bf16, float16 on CUDA), fp32 or bf16."""
    init: str = ""
    """Weights (.safetensors) every model starts from; empty: random initialisation."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        data = dict(data)
        aug = data.pop("augment", {}) or {}
        if "scale" in aug:
            aug["scale"] = tuple(aug["scale"])
        return cls(**data, augment=AugmentConfig(**aug))

    def model_config(self):
        from scoat_core.models.registry import ModelConfig

        return ModelConfig(arch=self.arch, width=self.width,
                           deep_supervision=self.deep_supervision)


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision setting on a device (None: float32)."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if precision == "bf16" else torch.float16
    if precision == "bf16" or (precision == "auto" and device.type == "cpu" and cpu_has_bf16()):
        return torch.bfloat16
    return None


def same_settings(saved: dict, cfg: TrainConfig) -> bool:
    """True when a checkpoint's settings equal ``cfg``; settings added to TrainConfig after the
    checkpoint was written count as equal when ``cfg`` keeps their default value."""
    current = json.loads(json.dumps(cfg.to_json()))
    defaults = json.loads(json.dumps(TrainConfig().to_json()))
    return all(saved[k] == v if k in saved else v == defaults[k] for k, v in current.items())


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of an epoch (0-based) under the step schedule with one restart."""
    if cfg.restart_epoch and epoch >= cfg.restart_epoch:
        return cfg.restart_lr * cfg.lr_gamma ** ((epoch - cfg.restart_epoch) // cfg.lr_step)
    return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step)


def _prepare(samples: list[Sample], cfg: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    return [rescale_sample(s, cfg.scale) for s in samples]


def _batches(prepared, indices, cfg, rng):
    order = np.concatenate([rng.permutation(indices) for _ in range(cfg.repeats)])
    for start in range(0, len(order), cfg.batch_size):
        chunk = order[start : start + cfg.batch_size]
        pairs = [pad_or_crop(*prepared[i], cfg.size, rng) for i in chunk]
        images = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
        masks = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.float32))[:, None]
        yield images, masks


def evaluate_model(model, samples: list[Sample], cfg: TrainConfig, device) -> dict[str, object]:
    """Metrics of ``model`` on whole samples (thresholded at THRESHOLD), mean and pooled."""
    seg = SliceSegmenter(model, scale=cfg.scale, device=device)
    probs = seg.predict([s.image for s in samples], batch_size=1)
    counts = [metrics.counts(p > THRESHOLD, s.mask > 0) for p, s in zip(probs, samples,
                                                                         strict=True)]
    curves = [threshold_curves(p, s.mask > 0) for p, s in zip(probs, samples, strict=True)]
    model.train()
    return {**metrics.summarize(counts), "inf_net": summarize_curves(curves)}


class Trainer:
    """Trains one model on given sample indices, with resumable checkpoints in ``folder``."""

    def __init__(self, cfg: TrainConfig, folder: Path, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None) -> None:
        from scoat_core.models.registry import create_model

        self.cfg, self.folder = cfg, Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.progress, self.cancel = progress, cancel
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.model_config())
        if cfg.init:
            self._load_init(Path(cfg.init))
        self.model = self.model.to(self.device)
        self.channels_last = self.device.type == "cpu"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.autocast_dtype = _autocast_dtype(cfg.precision, self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.scaler = torch.amp.GradScaler(enabled=self.device.type == "cuda")
        self.loss = get_loss(cfg.loss, **({"alpha": cfg.alpha} if cfg.loss == "bce_dice" else {}))
        self.epoch, self.history = 0, []
        self._resume()

    def _load_init(self, path: Path) -> None:
        from scoat_core.models.registry import config_from_model
        from scoat_core.models.weights import load_weights

        start = load_weights(path)
        if config_from_model(start) != config_from_model(self.model):
            raise ResumeError(f"{path}: a {config_from_model(start)} cannot start a "
                              f"{config_from_model(self.model)}")
        self.model.load_state_dict(start.state_dict())
        log.info("starting from %s", path)

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint.pt"

    def _resume(self) -> None:
        if not self.checkpoint.exists():
            return
        state = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
        if not same_settings(state.get("config") or {}, self.cfg):
            raise ResumeError(f"{self.checkpoint}: made with other settings; use a new run folder")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        log.info("resumed %s at epoch %d", self.folder, self.epoch)

    def _save(self) -> None:
        state = {"config": json.loads(json.dumps(self.cfg.to_json())), "epoch": self.epoch,
                 "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scaler": self.scaler.state_dict(), "history": self.history}
        tmp = self.checkpoint.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint)

    def fit(self, samples: list[Sample], train_idx, val_idx=None) -> list[dict]:
        """Train until ``cfg.epochs``; returns the per-epoch history."""
        cfg = self.cfg
        prepared = _prepare(samples, cfg)
        steps_per_epoch = -(-len(train_idx) * cfg.repeats // cfg.batch_size)
        total = cfg.epochs * steps_per_epoch
        gen = torch.Generator().manual_seed(cfg.seed)
        self.model.train()
        log.info("%s: %d samples, %s, %s", self.folder.name, len(train_idx), self.device,
                 f"autocast {self.autocast_dtype}" if self.autocast_dtype else "float32")
        first_epoch = self.epoch
        t_start = time.monotonic()
        while self.epoch < cfg.epochs:
            rng = np.random.default_rng([cfg.seed, self.epoch])
            gen.manual_seed(cfg.seed * 1000 + self.epoch)
            for group in self.opt.param_groups:
                group["lr"] = lr_at(cfg, self.epoch)
            t0, losses = time.monotonic(), []
            for step, (images, masks) in enumerate(_batches(prepared, train_idx, cfg, rng)):
                if self.cancel and self.cancel():
                    raise Cancelled()
                images, masks = augment_batch(images, masks, cfg.augment, gen)
                losses.append(self._step(images, masks))
                if self.progress:
                    self.progress(self.epoch * steps_per_epoch + step + 1, total)
            seconds = time.monotonic() - t0
            done = self.epoch + 1 - first_epoch
            left = (time.monotonic() - t_start) / done * (cfg.epochs - self.epoch - 1)
            row = {"epoch": self.epoch + 1, "lr": lr_at(cfg, self.epoch),
                   "loss": float(np.mean(losses)), "seconds": seconds,
                   "samples_per_s": len(train_idx) * cfg.repeats / max(seconds, 1e-9),
                   "eta_s": round(left), "precision": str(self.autocast_dtype or "fp32")}
            if val_idx is not None and len(val_idx):
                val = evaluate_model(self.model, [samples[i] for i in val_idx], cfg, self.device)
                row["val_dsc_mean"] = val["dsc"]["mean"]
            self.history.append(row)
            self.epoch += 1
            self._save()
            log.info("%s epoch %s", self.folder.name, row)
        return self.history

    def _step(self, images: torch.Tensor, masks: torch.Tensor) -> float:
        images, masks = images.to(self.device), masks.to(self.device)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype,
                            enabled=self.autocast_dtype is not None):
            outputs = self.model(images)
            loss = supervised(self.loss, outputs, masks)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return float(loss.detach())


def cross_validate(samples: list[Sample], cfg: TrainConfig, run_dir: Path,
                   only_folds: list[int] | None = None, progress: Progress | None = None,
                   cancel=None) -> dict[str, object]:
    """k-fold CV; each fold's last-epoch validation metrics, and their mean over folds."""
    run_dir = Path(run_dir)
    results = {}
    groups = [s.group or s.name for s in samples]
    for k, (train_idx, val_idx) in enumerate(kfold_indices(len(samples), cfg.folds, cfg.seed,
                                                           groups)):
        if only_folds is not None and k not in only_folds:
            continue
        folder = run_dir / f"fold{k}"
        trainer = Trainer(cfg, folder, progress, cancel)
        history = trainer.fit(samples, train_idx, val_idx)
        val = evaluate_model(trainer.model, [samples[i] for i in val_idx], cfg, trainer.device)
        result = {"fold": k, "val_names": [samples[i].name for i in val_idx],
                  "metrics": val, "history": history}
        (folder / "metrics.json").write_text(json.dumps(result, indent=2))
        results[k] = result
    summary = summarize_folds(run_dir)
    (run_dir / "cv_metrics.json").write_text(json.dumps(summary, indent=2))
    return summary


def summarize_folds(run_dir: Path) -> dict[str, object]:
    """Mean ± SD over the finished folds of a run (per-image means, and pooled)."""
    folds = [json.loads(p.read_text()) for p in sorted(Path(run_dir).glob("fold*/metrics.json"))]
    out: dict[str, object] = {"n_folds": len(folds),
                              "n_images": sum(f["metrics"]["n_images"] for f in folds)}
    for name in metrics.METRIC_NAMES:
        for kind in ("mean", "pooled"):
            vals = np.array([f["metrics"][name][kind] for f in folds], float)
            vals = vals[~np.isnan(vals)]
            out.setdefault(name, {})[kind] = float(vals.mean()) if vals.size else None
            out[name][f"{kind}_sd"] = float(vals.std()) if vals.size else None
    bench = [f["metrics"]["inf_net"] for f in folds if "inf_net" in f["metrics"]]
    if bench:  # folds of runs made before the benchmark metrics existed have none
        out["inf_net"] = {k: {"mean": float(np.mean([b[k] for b in bench])),
                              "sd": float(np.std([b[k] for b in bench]))}
                          for k in ("mean_dice", "max_dice", "mean_sen", "mean_spec")}
        out["inf_net"]["n_folds"] = len(bench)
    return out
