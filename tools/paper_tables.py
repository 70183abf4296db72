"""The paper's Tables I (six losses) and II (U-Net, UNet++, SCOAT-Net), and the pseudo-set
ablation, as 5-fold cross-validation on medseg100-train at a setting a 2-core CPU finishes.

Every row is one ``scoat train`` CV run with the same data, folds (grouped: images 10 and 43
together), schedule and seed; only the loss or the architecture changes. The ablation row
pre-trains the same network on the 1600 pseudo-labelled slices of ``covid-semiseg-pseudo``
(all data, ``--full``) and fine-tunes it in each fold (``--init``), everything else equal to the
SCOAT-Net row. Runs are resumable: rerun the command and finished folds are kept.

The CPU setting ("cpu-small", the ``SETTING`` below): width 8, slices scaled by 0.25 into
128-pixel patches, 16 epochs of 2 passes, lr 0.01 divided by 10 every 6 epochs, no restart.
It is much smaller than the paper's (and the shipped model's), so the absolute numbers are lower;
the rows compare with each other.

Usage: python tools/paper_tables.py --out runs/paper-cpu [--only NAME ...] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from scoat_core.shared_data import shared_data_dir
from scoat_core.training.loop import summarize_folds

SETTING = {"width": 8, "scale": 0.25, "size": 128, "epochs": 16, "repeats": 2,
           "batch-size": 8, "lr": 0.01, "lr-step": 6, "restart-epoch": 0, "folds": 5, "seed": 0}
PRETRAIN = {**SETTING, "epochs": 4, "repeats": 1}
LOSSES = ("bce", "dice", "iou", "mae", "focal", "bce_dice")
ROWS = {  # name: (table, label, extra settings)
    **{f"loss-{loss}": ("I", f"SCOAT-Net, {loss}", {"loss": loss}) for loss in LOSSES},
    "arch-unet": ("II", "U-Net", {"arch": "unet"}),
    "arch-unetpp": ("II", "UNet++", {"arch": "unetpp"}),
    "pseudo-finetune": ("ablation", "SCOAT-Net, pre-trained on covid-semiseg-pseudo", {}),
    "synthetic-consolidation": ("synthetic", "SCOAT-Net, synthetic consolidation in 50 % of "
                                "samples", {"synthetic-consolidation": 0.5}),
}
METRICS = (("dsc", "Dice@0.5"), ("sen", "SEN"), ("ppv", "PPV"))


def _args(settings: dict[str, object]) -> list[str]:
    return [x for k, v in settings.items() for x in (f"--{k}", str(v))]


def _train(out: Path, images: Path, masks: Path, settings: dict, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "scoat_core", "train", "--images", str(images), "--masks",
           str(masks), "--out", str(out), "--device", "cpu", *_args(settings), *extra]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    return time.monotonic() - t0


def pretrained(out: Path, data: Path) -> Path:
    """The pseudo-set pre-training run's weights (trained once, then reused)."""
    run = out / "pseudo-pretrain"
    weights = run / "full" / "pseudo-pretrain.safetensors"
    if not weights.exists():
        pseudo = data / "covid-semiseg-pseudo"
        _train(run, pseudo / "images", pseudo / "masks", PRETRAIN,
               ["--full", "--name", "pseudo-pretrain"])
    return weights


def run_rows(out: Path, names: list[str]) -> dict[str, float]:
    data = shared_data_dir()
    medseg = data / "medseg100-train"
    seconds = {}
    for name in names:
        _table, _label, extra = ROWS[name]
        init = ["--init", str(pretrained(out, data))] if name == "pseudo-finetune" else []
        seconds[name] = _train(out / name, medseg / "images", medseg / "masks",
                               {**SETTING, **extra}, init)
    return seconds


def _cell(summary: dict, key: str) -> str:
    if key == "mean_dice":
        b = summary.get("inf_net", {}).get("mean_dice")
        return "n/a" if b is None else f"{100 * b['mean']:.1f} ± {100 * b['sd']:.1f}"
    v, sd = summary[key]["mean"], summary[key]["mean_sd"]
    return "n/a" if v is None else f"{100 * v:.1f} ± {100 * sd:.1f}"


def markdown(out: Path) -> str:
    """Tables I, II and the ablation (per-image means, % ± SD over folds)."""
    lines = []
    titles = {"I": "Table I: losses (SCOAT-Net)", "II": "Table II: architectures (bce_dice)",
              "ablation": "Pseudo-set ablation (SCOAT-Net, bce_dice)",
              "synthetic": "Synthetic-consolidation ablation (SCOAT-Net, bce_dice)"}
    header = ("| row | folds | " + " | ".join(label for _, label in METRICS)
              + " | meanDic |\n|---|---|" + "---|" * (len(METRICS) + 1))
    for table, title in titles.items():
        names = [n for n, row in ROWS.items() if row[0] == table]
        if table == "II":
            names.append("loss-bce_dice")
        if table in ("ablation", "synthetic"):
            names.insert(0, "loss-bce_dice")
        lines += [f"\n{title}\n", header]
        for name in names:
            run = out / name
            if not any(run.glob("fold*/metrics.json")):
                continue
            s = summarize_folds(run)
            label = "SCOAT-Net, bce_dice (no pre-training)" if name == "loss-bce_dice" and \
                table != "I" else ROWS[name][1]
            cells = [_cell(s, key) for key, _ in METRICS] + [_cell(s, "mean_dice")]
            lines.append(f"| {label} | {s['n_folds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=list(ROWS), help="run only these rows")
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    parser.add_argument("--tables-only", action="store_true", help="do not train, only print")
    args = parser.parse_args()
    if not args.tables_only:
        seconds = run_rows(args.out, args.only or list(ROWS))
        (args.out / "seconds.json").write_text(json.dumps(seconds, indent=2))
    text = f"Setting: {json.dumps(SETTING)}\n" + markdown(args.out)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
