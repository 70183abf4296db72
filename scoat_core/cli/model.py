"""``scoat train``, ``scoat evaluate`` and ``scoat model-info``: the model commands of the CLI."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scoat_core.atomic import write_text
from scoat_core.errors import UserError
from scoat_core.progress import TerminalProgress
from scoat_core.shared_data import shared_data_dir

#: Pixel size assumed for 8-bit training exports without spacing (a 512 matrix over ~360 mm).
ASSUMED_SOURCE_PIXEL_MM = 0.7


def add_model_commands(sub: argparse._SubParsersAction) -> None:
    from scoat_core.training.loop import TrainConfig

    d = TrainConfig()
    medseg = shared_data_dir() / "medseg100-train"
    p = sub.add_parser("train", help="train a segmentation network (k-fold CV or full data)")
    p.add_argument("--images", type=Path, default=medseg / "images")
    p.add_argument("--masks", type=Path, default=medseg / "masks")
    p.add_argument("--out", type=Path, required=True, help="run folder (resumed if it exists)")
    p.add_argument("--arch", default=d.arch, choices=["scoat_net", "unet", "unetpp"])
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--deep-supervision", default=d.deep_supervision)
    p.add_argument("--loss", default=d.loss)
    p.add_argument("--alpha", type=float, default=d.alpha)
    for name in ("epochs", "lr_step", "restart_epoch", "batch_size", "repeats", "size", "folds",
                 "seed"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "lr_gamma", "restart_lr", "scale"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda or mps")
    p.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16"],
                   help="auto: bfloat16 autocast where the CPU runs it natively")
    p.add_argument("--init", type=Path, help="start from these weights (fine-tuning after "
                   "pre-training, e.g. on covid-semiseg-pseudo)")
    p.add_argument("--fold", type=int, action="append", help="run only this fold (repeatable)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--synthetic-consolidation", type=float, default=0.0, metavar="P",
                   help="paste a synthetic consolidation into the lungs of this share of the "
                        "training samples (0-1; teaches dense opacity)")
    p.add_argument("--full", action="store_true", help="train on all data and write weights")
    p.add_argument("--ship-to", type=Path, help="with --full: add the weights to this models dir")
    p.add_argument("--name", help="model name in the manifest (default: from the settings)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="predict images; DSC, SEN, PPV, VA, RLP, RLR, meanDic")
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--masks", type=Path, required=True)
    p.add_argument("--weights", type=Path, help="a .safetensors file (default: shipped model)")
    p.add_argument("--trust-unverified-weights", action="store_true", dest="trust_weights",
                   help="use a --weights file without a manifest or .sha256 checksum")
    p.add_argument("--json", type=Path, dest="json_out", help="write the metrics here")
    p.add_argument("--save-predictions", type=Path, help="write predicted masks (PNG) here")
    p.add_argument("--classes", type=Path, help="palette class masks (1 ground glass, "
                   "2 consolidation; like masks-multiclass): report sensitivity per class")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("model-info", help="architectures and shipped models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_model_info)


# ------------------------------------------------------------------------------ train
def _train_config(args: argparse.Namespace):
    from scoat_core.training.augment import AugmentConfig
    from scoat_core.training.loop import TrainConfig

    keys = ("arch", "width", "deep_supervision", "loss", "alpha", "epochs", "lr", "lr_step",
            "lr_gamma", "restart_epoch", "restart_lr", "batch_size", "repeats", "size", "scale",
            "folds", "seed", "device", "precision")
    aug = AugmentConfig(probability=0.0, rot90=False, flip=False) if args.no_augment else None
    cfg = TrainConfig(**{k: getattr(args, k) for k in keys},
                      init=str(args.init.resolve()) if args.init else "")
    if aug is not None:
        cfg.augment = aug
    if not 0.0 <= args.synthetic_consolidation <= 1.0:
        raise UserError(f"--synthetic-consolidation must be in [0, 1], got "
                        f"{args.synthetic_consolidation}")
    cfg.augment.consolidation = args.synthetic_consolidation
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from scoat_core.training.data import load_samples
    from scoat_core.training.loop import cross_validate

    cfg = _train_config(args)
    samples = load_samples(args.images, args.masks)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "config.json", json.dumps(cfg.to_json(), indent=2))
    command = "scoat " + shlex.join(args.argv)
    with (args.out / "log.txt").open("a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {command}\n")
    print(f"{len(samples)} samples from {args.images}", file=sys.stderr)
    t0 = time.monotonic()
    if args.full:
        entry = _train_full(samples, cfg, args, command)
        print(json.dumps(entry, indent=2))
    else:
        summary = cross_validate(samples, cfg, args.out, only_folds=args.fold,
                                 progress=TerminalProgress("training"))
        print(format_metrics({k: v for k, v in summary.items() if isinstance(v, dict)},
                             title=f"{cfg.folds}-fold CV ({summary['n_folds']} folds run)"))
    print(f"done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return 0


def _train_full(samples, cfg, args, command: str) -> dict[str, Any]:
    import numpy as np

    from scoat_core.analysis import normalization
    from scoat_core.models.weights import MANIFEST_NAME, read_manifest, save_weights
    from scoat_core.models.weights import write_manifest as write_models_manifest
    from scoat_core.training.loop import Trainer, summarize_folds

    trainer = Trainer(cfg, args.out / "full", TerminalProgress("training (all data)"))
    history = trainer.fit(samples, np.arange(len(samples)))
    name = args.name or f"{cfg.arch}-w{cfg.width}-{cfg.loss}"
    extra = {
        "name": name,
        "input_scale": cfg.scale,
        "pixel_mm": ASSUMED_SOURCE_PIXEL_MM / cfg.scale,
        "normalization": normalization.describe(),
        "threshold": 0.5,
        "training": {
            "command": command,
            "settings": cfg.to_json(),
            "data": _data_description(args.images),
            "n_images": len(samples),
            "seconds": round(sum(h["seconds"] for h in history), 1),
            "device": str(trainer.device),
            "hardware": _hardware(),
            "final_loss": history[-1]["loss"] if history else None,
        },
        "cv_metrics": summarize_folds(args.out) if any(args.out.glob("fold*/metrics.json"))
        else None,
    }
    meta = {"input_scale": str(cfg.scale), "pixel_mm": str(extra["pixel_mm"]), "name": name}
    path = args.out / "full" / f"{name}.safetensors"
    entry = save_weights(trainer.model, cfg.model_config(), path, extra_manifest=extra,
                         metadata=meta)
    (args.out / "full" / "manifest_entry.json").write_text(json.dumps(entry, indent=2))
    if args.ship_to:
        args.ship_to.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, args.ship_to / path.name)
        manifest_path = args.ship_to / MANIFEST_NAME
        manifest = read_manifest(manifest_path) if manifest_path.exists() else {"models": []}
        manifest["models"] = [m for m in manifest["models"] if m.get("name") != name] + [entry]
        manifest["default"] = name
        write_models_manifest(manifest_path, manifest)
    return entry


def _data_description(images: Path) -> dict[str, str]:
    """Where the training images came from, and the licence their SOURCE.txt states."""
    images = images.resolve()
    try:
        shown = str(images.relative_to(shared_data_dir().resolve()))
    except ValueError:
        shown = str(images)
    out = {"images": shown}
    source = images.parent / "SOURCE.txt"
    if source.is_file():
        lines = source.read_text(errors="replace").splitlines()
        for key in ("Origin", "Licence"):
            block = []
            for line in lines:
                if line.startswith(key) or (block and line.startswith(" ")):
                    block.append(line.removeprefix(key).strip())
                elif block:
                    break
            if block:
                out[key.lower()] = " ".join(block)
    return out


def _hardware() -> str:
    import os
    import platform

    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


# --------------------------------------------------------------------------- evaluate
def load_for_inference(weights: Path | None, *, trust_unverified: bool = False):
    """(model, input_scale, info) of a weights file, or of the shipped default model.

    The same verified loading as the analysis (`scoat_core.models.weights.load_checked`).
    """
    from scoat_core.models.weights import load_checked

    checked = load_checked(weights, trust_unverified=trust_unverified)
    if not checked.verified:
        print(f"scoat: warning: unverified model weights {weights}: results are marked "
              "unverified", file=sys.stderr)
    return checked.model, checked.input_scale, checked.info


def cmd_evaluate(args: argparse.Namespace) -> int:
    from scoat_core.analysis.slices import SliceSegmenter
    from scoat_core.training import metrics
    from scoat_core.training.data import load_class_masks, load_samples
    from scoat_core.training.evaluate import evaluate_samples, format_benchmark

    model, scale, desc = load_for_inference(args.weights, trust_unverified=args.trust_weights)
    samples = load_samples(args.images, args.masks)
    classes = (load_class_masks(args.classes, [s.name for s in samples])
               if args.classes else None)
    seg = SliceSegmenter(model, scale=scale, device=args.device)
    summary = evaluate_samples(seg, samples, classes, args.save_predictions,
                               TerminalProgress("predicting"))
    summary["model"] = {k: desc.get(k) for k in ("name", "file", "sha256", "verified")
                        if k in desc}
    summary["weights_verified"] = desc.get("verified") is not False
    print(format_metrics({k: summary[k] for k in metrics.METRIC_NAMES},
                         title=f"{summary['n_images']} images, model {desc.get('name')}, "
                               f"threshold {summary['threshold']}"))
    print(format_benchmark(summary))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.json_out, json.dumps(summary, indent=2))
    return 0


def format_metrics(table: dict[str, dict], title: str = "") -> str:
    """A metrics table: one row per metric, mean and pooled columns, in percent."""
    lines = [title, f"{'metric':<7}{'mean %':>10}{'pooled %':>10}"] if title else []
    for name, row in table.items():
        cells = []
        for kind in ("mean", "pooled"):
            value = row.get(kind)
            cells.append("n/a" if value is None or np.isnan(value) else f"{100 * value:.2f}")
        lines.append(f"{name.upper():<7}{cells[0]:>10}{cells[1]:>10}")
    return "\n".join(lines)


# ------------------------------------------------------------------------- model-info
def cmd_model_info(args: argparse.Namespace) -> int:
    from scoat_core.models.blocks import count_parameters
    from scoat_core.models.registry import ARCHITECTURES, create_model, documented_widths
    from scoat_core.models.weights import (
        MANIFEST_NAME,
        WeightsError,
        read_manifest,
        shipped_models_dir,
    )

    archs = {}
    for arch in ARCHITECTURES:
        archs[arch] = {label: {"width": w, "n_parameters": count_parameters(
            create_model(arch, width=w))} for label, w in documented_widths(arch).items()}
    try:
        shipped = read_manifest(shipped_models_dir() / MANIFEST_NAME)
    except WeightsError as exc:
        shipped = {"models": [], "default": None, "error": str(exc)}
    info = {"architectures": archs, "shipped": shipped}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for arch, widths in archs.items():
        parts = [f"{label} width {v['width']}: {v['n_parameters'] / 1e6:.2f} M"
                 for label, v in widths.items()]
        print(f"{arch:<10} " + "; ".join(parts))
    for entry in shipped.get("models", []):
        default = " (default)" if entry.get("name") == shipped.get("default") else ""
        cv = (entry.get("cv_metrics") or {}).get("dsc", {}).get("mean")
        cv_text = f", CV DSC {100 * cv:.1f} %" if cv is not None else ""
        print(f"shipped: {entry['name']}{default}: {entry['config']}, sha256 "
              f"{entry['sha256'][:12]}…{cv_text}")
    if not shipped.get("models"):
        print("shipped: none", shipped.get("error", ""))
    return 0
