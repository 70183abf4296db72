"""Markdown tables for docs/model-card.md from training run folders (Table I/II layout).

Each RUN folder is a `scoat train` cross-validation run; its `cv_metrics.json` (or the finished
folds' metrics.json) gives the row. Values are percentages: mean over folds of the per-image mean
(and the pooled value in a second table), with the number of folds that finished.

Usage: python tools/model_card_tables.py RUN [RUN ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scoat_core.training.loop import summarize_folds
from scoat_core.training.metrics import METRIC_NAMES


def row(run: Path, kind: str) -> str:
    cfg = json.loads((run / "config.json").read_text())
    s = summarize_folds(run)
    cells = []
    for name in METRIC_NAMES:
        v, sd = s[name][kind], s[name][f"{kind}_sd"]
        cells.append("n/a" if v is None else f"{100 * v:.1f} ± {100 * sd:.1f}")
    label = (f"{cfg['arch']} w{cfg['width']}, {cfg['loss']}, {cfg['epochs']} ep × "
             f"{cfg.get('repeats', 1)} passes, batch {cfg['batch_size']}, lr {cfg['lr']:g}, "
             f"{cfg['size']} px @ ×{cfg['scale']}, {s['n_folds']}/{cfg['folds']} folds")
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:]]
    header = "| run | " + " | ".join(m.upper() for m in METRIC_NAMES) + " |"
    sep = "|" + "---|" * (len(METRIC_NAMES) + 1)
    for kind, title in (("mean", "per-image mean"), ("pooled", "pooled over the fold")):
        print(f"\n{title} (%), mean ± SD over folds\n")
        print(header)
        print(sep)
        for run in runs:
            print(row(run, kind))


if __name__ == "__main__":
    main()
