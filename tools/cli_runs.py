"""Run `scoat analyze` and `scoat timeline` on every shared-data folder and a phantom timeline.

For each input it records the exit status, wall seconds, the last line the command printed (the
one-line message on failure) and, where the run succeeded, the numbers it wrote (lung volume,
LOV, PO per exam; trend labels per patient). This is the check behind the analysis issue's "runs on
every folder of ../shared/data and on phantom timelines".

Usage: python tools/cli_runs.py --work DIR [--json OUT] [--only NAME ...] [--phantom-matrix 256]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from scoat_core.shared_data import shared_data_dir


def run(cmd: list[str]) -> tuple[int, float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    stream = proc.stderr if proc.returncode else proc.stdout
    lines = [ln for ln in stream.splitlines() if ln.strip() and "\r" not in ln]
    return proc.returncode, round(seconds, 1), lines[-1].strip() if lines else ""


def analysis_numbers(out: Path) -> list[dict[str, object]]:
    rows = []
    for path in sorted(out.rglob("metrics.json")):
        m = json.loads(path.read_text())
        rows.append({"exam": str(path.parent.relative_to(out)) or ".",
                     "lung_ml": round(m["lung_volume_ml"], 1), "lov_ml": round(m["lov_ml"], 1),
                     "po_percent": round(m["po_percent"], 2), "seconds": m["seconds"],
                     "warnings": m.get("warnings", [])})
    return rows


def timeline_numbers(out: Path) -> list[dict[str, object]]:
    rows = []
    for path in sorted(out.rglob("timeline.json")):
        t = json.loads(path.read_text())
        rows.append({"patient": path.parent.name, "exams": len(t["exams"]),
                     "lov_ml": [round(e["lov_ml"], 1) for e in t["exams"]],
                     "trends": [c["trend"] for c in t["changes"]["consecutive"]]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="outputs go here")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", nargs="*", help="dataset names (and/or 'phantom')")
    parser.add_argument("--phantom-matrix", type=int, default=256)
    args = parser.parse_args()
    scoat = [sys.executable, "-m", "scoat_core"]
    inputs = {p.name: p for p in sorted(shared_data_dir().iterdir()) if p.is_dir()} \
        if shared_data_dir().is_dir() else {}
    phantom = args.work / "phantom-timeline"
    if not args.only or "phantom" in args.only:
        if not phantom.exists():
            subprocess.run([*scoat, "phantom", str(phantom), "--timeline", "4", "--matrix",
                            str(args.phantom_matrix)], check=True, capture_output=True)
        inputs["phantom"] = phantom
    results = []
    for name, path in inputs.items():
        if args.only and name not in args.only:
            continue
        for command in ("analyze", "timeline"):
            out = args.work / f"{name}-{command}"
            rc, seconds, message = run([*scoat, command, str(path), "--out", str(out)])
            row = {"input": name, "command": command, "rc": rc, "seconds": seconds,
                   "message": message}
            if rc == 0:
                row["numbers"] = (analysis_numbers(out) if command == "analyze"
                                  else timeline_numbers(out))
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "numbers"}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
