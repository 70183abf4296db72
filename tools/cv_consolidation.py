"""What a training change does to consolidation: cross-validated per-class sensitivity on the
expert slices, and the share of the demo phantom's lesions that each model finds.

For every run folder given (a ``scoat train`` CV run), each fold's model (its last checkpoint)
predicts the fold's own validation slices of ``medseg100-train``; the class masks
(``masks-multiclass``: 1 ground glass, 2 consolidation) give the sensitivity per class, per-image
mean and pooled. The same fold model then predicts the demo timeline's lesion slices
(``make_timeline(4, seed=0)``, every second slice with lesion): share of true consolidation and
ground glass found, and false-positive opacity outside the true lungs but inside the body (mL:
the heart, mediastinum and chest wall that must stay out). Means over folds.

With ``--weights FILE`` a finished model (no CV) is scored on the phantom part only.

Usage: python tools/cv_consolidation.py RUN [RUN ...] [--weights FILE ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from scoat_core.analysis.normalization import hu_to_unit
from scoat_core.analysis.pipeline import LoadedModel, load_model, make_segmenter
from scoat_core.analysis.slices import THRESHOLD
from scoat_core.cli.model import ASSUMED_SOURCE_PIXEL_MM
from scoat_core.models.registry import create_model
from scoat_core.phantom import make_timeline
from scoat_core.shared_data import shared_data_dir
from scoat_core.training.data import load_class_masks, load_image_folder
from scoat_core.training.evaluate import evaluate_samples
from scoat_core.training.loop import TrainConfig


def phantom_scores(loaded: LoadedModel, exams) -> dict[str, float]:
    """Pooled share of the phantom's consolidation / ground glass found, and FP mL in the body."""
    found = {1: [0, 0], 2: [0, 0]}
    fp_ml = 0.0
    for exam in exams:
        lesion, lung, body = exam.lesion.array, exam.lung.array > 0, exam.body.array > 0
        voxel_ml = float(np.prod(exam.ct.spacing)) / 1000.0
        seg = make_segmenter(loaded, exam.ct.spacing[0], "cpu", "fp32", "torch")
        zs = np.flatnonzero(lesion.any(axis=(1, 2)))[::2]
        for start in range(0, zs.size, 8):
            batch = zs[start : start + 8]
            probs = seg.predict([hu_to_unit(exam.ct.array[z]) for z in batch], batch_size=8)
            for z, prob in zip(batch, probs, strict=True):
                pred = prob > THRESHOLD
                for label in (1, 2):
                    where = lesion[z] == label
                    found[label][0] += int((pred & where).sum())
                    found[label][1] += int(where.sum())
                fp_ml += float((pred & body[z] & ~lung[z]).sum()) * voxel_ml
    return {"phantom_consolidation_found": found[2][0] / max(1, found[2][1]),
            "phantom_ggo_found": found[1][0] / max(1, found[1][1]),
            "phantom_fp_outside_lungs_ml": fp_ml / len(exams)}


def fold_model(fold: Path, cfg: TrainConfig) -> LoadedModel:
    model = create_model(cfg.model_config())
    state = torch.load(fold / "checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()
    return LoadedModel(model, ASSUMED_SOURCE_PIXEL_MM / cfg.scale, cfg.scale, {})


def score_run(run: Path, samples, classes, exams) -> dict[str, float]:
    cfg = TrainConfig.from_json(json.loads((run / "config.json").read_text()))
    by_name = {s.name: i for i, s in enumerate(samples)}
    rows = []
    for fold in sorted(run.glob("fold*/metrics.json")):
        val = [by_name[n] for n in json.loads(fold.read_text())["val_names"]]
        loaded = fold_model(fold.parent, cfg)
        seg = make_segmenter(loaded, ASSUMED_SOURCE_PIXEL_MM, "cpu", "fp32", "torch")
        s = evaluate_samples(seg, [samples[i] for i in val], [classes[i] for i in val])
        cls = s["class_sensitivity"]
        rows.append({"dsc": s["dsc"]["mean"], "sen": s["sen"]["mean"], "ppv": s["ppv"]["mean"],
                     "ggo_sen": cls["ggo"]["pooled"],
                     "consolidation_sen": cls["consolidation"]["pooled"],
                     **phantom_scores(loaded, exams)})
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["n_folds"] = len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--weights", nargs="*", type=Path, default=[],
                        help="finished models scored on the phantom only ('shipped': default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    exams = make_timeline(4, seed=0)
    medseg = shared_data_dir() / "medseg100-train"
    samples = load_image_folder(medseg / "images", medseg / "masks")
    classes = load_class_masks(medseg / "masks-multiclass", [s.name for s in samples])
    results = {}
    for run in args.runs:
        results[str(run)] = score_run(run, samples, classes, exams)
    for w in args.weights:
        loaded = load_model(None if str(w) == "shipped" else w, trust_unverified=True)
        results[str(w)] = phantom_scores(loaded, exams)
    keys = ["dsc", "sen", "ppv", "ggo_sen", "consolidation_sen", "phantom_consolidation_found",
            "phantom_ggo_found", "phantom_fp_outside_lungs_ml"]
    print("| model | CV Dice | SEN | PPV | GGO SEN | cons. SEN | phantom cons. found | "
          "phantom GGO found | phantom FP outside lungs (mL/exam) |")
    print("|---" * (len(keys) + 1) + "|")
    for name, r in results.items():
        cells = [("n/a" if k not in r else f"{r[k]:.1f}" if k.endswith("_ml")
                  else f"{100 * r[k]:.1f} %") for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
