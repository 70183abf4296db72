"""All training experiments of the model card in one call, in parallel, under a time budget.

Runs ``scoat train`` jobs (one process per CV fold or full-data run) from a priority list, at
most ``--jobs`` at a time on one GPU, stops starting new ones at ``--deadline-s`` and kills
what still runs at ``--deadline-s`` + ``--grace-s``. Then, for each shipping candidate, writes
its weights + manifest (with the CV metrics of the finished folds) and the CV figure, and runs
the inference benchmarks on the device. Everything lands in ``--out`` (one run folder per
experiment, ``summary.json``); ``--pack`` writes a tarball without the checkpoints.

Usage (GPU machine): python tools/gpu_experiments.py --images D --masks D --out runs/gpu
       [--jobs 10] [--deadline-s 420] [--only NAME ...] [--smoke]
``--smoke`` runs a tiny version (1 epoch, 2 jobs, few experiments) to check the script.

Measured on one H100 (16 CPU cores), 2026-11-27: 12 jobs at once with 10 passes per epoch
reached only 44 % of their steps in 380 s (about 1.4 steps/s each: the many small kernels of a
width-16 network keep each process launch-bound); 6 jobs with ``--set repeats=3`` finished in
143–151 s. The shipped model is ``--only scoat_net-w16 --set repeats=3``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Settings of the shipped-model candidate (the model card's reference row).
BASE = {"arch": "scoat_net", "width": 16, "size": 192, "scale": 0.5, "batch-size": 16,
        "epochs": 50, "repeats": 10, "seed": 0}


@dataclass
class Experiment:
    name: str
    settings: dict[str, object]
    full: bool = False
    """Also train on all data (a shipping candidate)."""
    folds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])


def experiments() -> list[Experiment]:
    """In priority order: shipping candidates, then Table II, width, Table I, resolution."""
    e = [
        Experiment("scoat_net-w16", dict(BASE), full=True),
        Experiment("scoat_net-w16-synth", {**BASE, "synthetic-consolidation": 0.5}, full=True),
        Experiment("scoat_net-w16-lr1e-3", {**BASE, "lr": 0.001, "restart-lr": 0.0001},
                   full=True),
        Experiment("unet-w16", {**BASE, "arch": "unet"}),
        Experiment("unetpp-w16", {**BASE, "arch": "unetpp"}),
        Experiment("scoat_net-w32", {**BASE, "width": 32}),
    ]
    e += [Experiment(f"scoat_net-w16-{loss}", {**BASE, "loss": loss})
          for loss in ("bce", "dice", "iou", "mae", "focal")]
    e.append(Experiment("scoat_net-w16-x1", {**BASE, "scale": 1.0, "size": 384}))
    return e


def train_command(exp: Experiment, out: Path, args, fold: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "scoat_core", "train", "--out", str(out / exp.name),
           "--images", str(args.images), "--masks", str(args.masks), "--device", args.device]
    for key, value in exp.settings.items():
        cmd += [f"--{key}", str(value)]
    cmd += ["--full"] if fold is None else ["--fold", str(fold)]
    return cmd


def _smoke(exps: list[Experiment]) -> list[Experiment]:
    out = []
    for exp in exps[:3]:
        s = {**exp.settings, "epochs": 1, "repeats": 1, "batch-size": 4, "restart-epoch": 0}
        out.append(Experiment(exp.name, s, exp.full, [0]))
    return out


def run_jobs(jobs: list[tuple[str, list[str], Path]], n_parallel: int, deadline: float,
             grace: float) -> dict[str, dict]:
    """Run (label, command, log) jobs in order, n at a time, until the deadline."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    pending, running, status = list(jobs), {}, {}
    t0 = time.monotonic()
    while pending or running:
        now = time.monotonic() - t0
        while pending and len(running) < n_parallel and now < deadline:
            label, cmd, log = pending.pop(0)
            log.parent.mkdir(parents=True, exist_ok=True)
            fh = log.open("w")
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                    cwd=ROOT, start_new_session=True)
            running[label] = (proc, fh, now)
        if now >= deadline and pending:
            for label, _cmd, _log in pending:
                status[label] = {"state": "not started"}
            pending = []
        for label, (proc, fh, started) in list(running.items()):
            rc = proc.poll()
            if rc is None and now >= deadline + grace:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = "killed at deadline"
            if rc is not None:
                fh.close()
                status[label] = {"state": "done" if rc == 0 else f"failed ({rc})",
                                 "seconds": round(now - started, 1)}
                print(f"[{now:6.0f} s] {label}: {status[label]['state']} "
                      f"in {status[label]['seconds']} s", flush=True)
                del running[label]
        time.sleep(1.0)
    return status


def finalize(exp: Experiment, out: Path, args, env, status) -> dict[str, object]:
    """Weights + manifest (with CV metrics) of a candidate, and its CV figure."""
    result: dict[str, object] = {}
    ship = out / exp.name / "ship"
    # only a finished full run: rerunning an unfinished one would resume its training
    if status.get(f"{exp.name}/full", {}).get("state") == "done":
        cmd = [*train_command(exp, out, args, None), "--ship-to", str(ship), "--name", exp.name]
        r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        result["ship"] = "ok" if r.returncode == 0 else r.stderr[-2000:]
    if list((out / exp.name).glob("fold*/metrics.json")):
        cmd = [sys.executable, "tools/cv_figure.py", str(out / exp.name), "--out",
               str(out / exp.name / "cv_predictions.png"), "--images", str(args.images),
               "--masks", str(args.masks)]
        r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        result["figure"] = "ok" if r.returncode == 0 else r.stderr[-2000:]
    return result


def _run(cmd: list[str], env, timeout: float) -> None:
    try:
        subprocess.run(cmd, env=env, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"timed out after {timeout} s: {' '.join(cmd)}", flush=True)


def benchmarks(out: Path, args, env) -> None:
    """Inference speed of each candidate's weights on this device."""
    for weights in sorted(out.glob("*/ship/*.safetensors")):
        cmd = [sys.executable, "benchmarks/bench_inference.py", "--weights", str(weights),
               "--device", args.device, "--slices", "64", "--batch", "16", "--json",
               str(weights.parent / "bench_inference.json")]
        _run(cmd, env, 120)
    if args.bench_analysis:
        weights = next(iter(sorted(out.glob("scoat_net-w16/ship/*.safetensors"))), None)
        cmd = [sys.executable, "benchmarks/bench_analysis.py", "--phantom-only", "--device",
               args.device, "--json", str(out / "bench_analysis.json")]
        if weights:
            cmd += ["--weights", str(weights)]
        _run(cmd, env, args.bench_timeout_s)


def pack(out: Path, tarball: Path) -> None:
    """Everything under ``out`` except training checkpoints."""
    with tarfile.open(tarball, "w:gz") as tar:
        for path in sorted(out.rglob("*")):
            if path.is_file() and path.suffix not in (".pt", ".tmp"):
                tar.add(path, arcname=str(path.relative_to(out.parent)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--masks", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--jobs", type=int, default=10)
    p.add_argument("--deadline-s", type=float, default=420.0,
                   help="start no job after this many seconds")
    p.add_argument("--grace-s", type=float, default=40.0, help="then kill what still runs")
    p.add_argument("--only", nargs="*", help="experiment names to run (default: all)")
    p.add_argument("--bench-analysis", action="store_true")
    p.add_argument("--bench-timeout-s", type=float, default=90.0)
    p.add_argument("--pack", type=Path, help="write a .tar.gz of the results here")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override a training setting of every experiment (e.g. repeats=3)")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()

    exps = experiments()
    if args.only:
        exps = [e for e in exps if e.name in args.only]
    for item in args.set:
        key, value = item.split("=", 1)
        for e in exps:
            e.settings[key] = value
    if args.smoke:
        exps = _smoke(exps)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for exp in exps:  # candidates' full runs first: they matter most
        if exp.full:
            jobs.append((f"{exp.name}/full", train_command(exp, args.out, args, None),
                         args.out / exp.name / "train-full.log"))
    for exp in exps:
        for k in exp.folds:
            jobs.append((f"{exp.name}/fold{k}", train_command(exp, args.out, args, k),
                         args.out / exp.name / f"train-fold{k}.log"))
    t0 = time.monotonic()
    status = run_jobs(jobs, args.jobs, args.deadline_s, args.grace_s)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    final = {e.name: finalize(e, args.out, args, env, status) for e in exps if e.full}
    benchmarks(args.out, args, env)
    summary = {"jobs": status, "finalize": final, "seconds": round(time.monotonic() - t0, 1),
               "experiments": {e.name: e.settings for e in exps}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.pack:
        pack(args.out, args.pack)
    done = sum(s["state"] == "done" for s in status.values())
    print(f"{done}/{len(status)} jobs done in {summary['seconds']} s")


if __name__ == "__main__":
    main()
