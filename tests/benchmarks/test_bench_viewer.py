"""The viewer benchmark still runs (tiny phantom); its timings are not checked here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

ROOT = Path(__file__).resolve().parents[2]


def test_viewer_benchmark_runs(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_viewer.py"), "--slices", "12",
           "--matrix", "48", "--n", "4", "--size", "200", "--json", str(out)]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, env=env,
                          cwd=ROOT)
    assert "axial scroll" in done.stdout and "p95 ms" in done.stdout
    result = json.loads(out.read_text())
    assert result["shape"] == [12, 48, 48]
    cases = result["cases"]
    assert set(cases) == {"axial scroll", "axial window", "axial overlay", "coronal scroll"}
    for row in cases.values():
        assert row["n"] == 4 and 0 < row["mean_ms"] <= row["max_ms"]
        assert row["p95_ms"] <= row["max_ms"]
