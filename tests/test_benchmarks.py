"""The benchmark scripts still run (tiny settings); their numbers are not checked here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_inference_benchmark_runs(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_inference.py"), "--width", "2",
           "--slices", "2", "--batch", "1", "--threads", "1", "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["scoat_net-w2-scale1"] > 0
