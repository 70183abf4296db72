"""The benchmark scripts still run (tiny settings); their numbers are not checked here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_inference_benchmark_runs(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_inference.py"), "--width", "2",
           "--slices", "2", "--batch", "1", "--threads", "1", "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["scoat_net-w2-scale1"] > 0


def test_analysis_benchmark_runs(tmp_path):
    import torch

    from scoat_core.models.registry import ModelConfig, create_model
    from scoat_core.models.weights import save_weights

    torch.manual_seed(0)
    config = ModelConfig(arch="scoat_net", width=2)
    weights = tmp_path / "tiny.safetensors"
    save_weights(create_model(config), config, weights, metadata={"input_scale": "0.5"})
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_analysis.py"), "--weights",
           str(weights), "--phantom-only", "--phantom-matrix", "64", "--phantom-z-mm", "80",
           "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (row,) = json.loads(out.read_text())["rows"]
    assert row["slices"] == 80 and 0 <= row["dice_fast_vs_naive"] <= 1


def test_open_exam_benchmark_runs(tmp_path):
    import os

    out = tmp_path / "open.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_open_exam.py"), "--matrix", "48",
           "--z-mm", "40", "--repeats", "1", "--json", str(out)]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, check=True, capture_output=True, timeout=120, env=env)
    result = json.loads(out.read_text())
    assert result["reopen_s_median"] > 0


def test_volumetry_benchmark_runs(tmp_path):
    out = tmp_path / "vol.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_volumetry.py"), "--cases", "1",
           "--coarsen", "5", "--z-mm", "120", "--lesion-ml", "40", "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (row,) = json.loads(out.read_text())["rows"]
    assert row["true_masks_max_abs_error"] <= 1e-9 and row["inplane_mm"] == 3.0


def test_training_benchmark_runs(tmp_path):
    out = tmp_path / "train.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_training.py"), "--width", "2",
           "--batch", "1", "--steps", "1", "--size", "32", "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["samples_per_s"]["cpu fp32"] > 0 and result["cpu_class"]
