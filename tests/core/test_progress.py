"""Time left of staged work (StageEta) and the analysis' progress, on a fake clock."""

from __future__ import annotations

import itertools

import pytest

from scoat_core.progress import StageEta, shares_from_history


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(eta: StageEta, clock: FakeClock, stages: dict[str, float], steps: int = 10):
    """Run ``stages`` (name → true seconds) at constant rates; yields (true left, estimate)."""
    total = sum(stages.values())
    done = 0.0
    for stage, seconds in stages.items():
        eta.update(stage, 0.0)
        for i in range(1, steps + 1):
            clock.now += seconds / steps
            yield total - done - seconds * i / steps, eta.update(stage, i / steps)
        done += seconds


def test_time_left_follows_measured_rates_and_does_not_climb():
    """Lung mask 10 s, network 30 s, volumetry 0.5 s, shares as measured: the estimate is the
    time left from the first measured step (the old linear extrapolation of the whole bar
    climbed from 25 s to 2 min when the first stage was faster than its share of the bar)."""
    clock = FakeClock()
    stages = {"lung mask": 10.0, "opacity": 30.0, "volumetry": 0.5}
    eta = StageEta({k: v / 40.5 for k, v in stages.items()}, clock=clock)
    pairs = list(run(eta, clock, stages))
    for true_left, estimate in pairs:
        assert estimate == pytest.approx(true_left, abs=0.05)
    estimates = [e for _, e in pairs]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(estimates))


def test_later_stages_take_the_measured_rate_of_the_earlier_ones():
    """Shares only give the proportions: a machine twice as slow as expected is measured in
    the first stage and the later stages are timed at that rate."""
    clock = FakeClock()
    eta = StageEta({"lung mask": 0.25, "opacity": 0.75}, clock=clock)
    assert eta.update("lung mask", 0.0) is None  # nothing measured yet
    clock.now += 20.0
    assert eta.update("lung mask", 1.0) == pytest.approx(60.0)  # 20 s per quarter
    assert eta.update("opacity", 0.0) == pytest.approx(60.0)
    clock.now += 10.0  # too early to trust the network's own rate: the expected share
    assert eta.update("opacity", 0.01) == pytest.approx(50.0)
    clock.now += 10.0  # measured: 20 s for 10 % → 180 s left
    assert eta.update("opacity", 0.1) == pytest.approx(180.0)
    assert eta.update("done", 1.0) == 0.0


def test_an_unlisted_stage_counts_for_nothing():
    clock = FakeClock()
    eta = StageEta({"lung mask": 0.5, "opacity": 0.5}, clock=clock)
    eta.update("model", 0.0)
    clock.now += 50.0  # loading the model: not a share of the analysis
    assert eta.update("model", 0.0) is None
    eta.update("lung mask", 0.0)
    clock.now += 5.0
    assert eta.update("lung mask", 0.5) == pytest.approx(5.0 + 10.0)


def test_shares_from_history():
    default = {"lung mask": 0.23, "opacity": 0.75, "volumetry": 0.02}
    assert shares_from_history([], default) == default
    assert shares_from_history([{"lung mask": 1.0}], default) == default  # incomplete run
    runs = [{"lung mask": 10.0, "opacity": 30.0, "volumetry": 10.0},
            {"lung mask": 1.0, "opacity": 2.0, "volumetry": 1.0},
            {"lung mask": 5.0, "opacity": 5.0, "volumetry": 10.0}]
    shares = shares_from_history(runs, default)
    assert shares == pytest.approx({"lung mask": 0.25, "opacity": 0.5, "volumetry": 0.25})


def test_analyze_reports_the_time_left_of_the_whole_analysis(monkeypatch):
    """``analyze``'s progress carries the time left of all its stages (not of the current one)."""
    import numpy as np

    import scoat_core.analysis.pipeline as pipeline
    import scoat_core.lung as lung_module
    import scoat_core.progress as progress_module
    from scoat_core.phantom import make_phantom

    ph = make_phantom(matrix=32, z_extent_mm=40.0, slice_spacing_mm=5.0)
    clock = FakeClock()
    monkeypatch.setattr(progress_module, "monotonic", clock)

    class Lungs:
        labels, warnings, complete = ph.lung, [], True

    def segment_lungs(volume, progress, cancel):
        for i in range(1, 11):
            clock.now += 1.0
            progress(i / 10)
        return Lungs()

    def predict_opacity(volume, labels, seg, report, batch_size, tta):
        for i in range(1, 11):
            clock.now += 3.0
            report(i / 10)
        return np.zeros(volume.shape, np.uint8)

    class Segmenter:
        precision, device, backend = "fp32", "cpu", "torch"

    monkeypatch.setattr(lung_module, "segment_lungs", segment_lungs)
    monkeypatch.setattr(pipeline, "make_segmenter", lambda *a, **k: Segmenter())
    monkeypatch.setattr(pipeline, "predict_opacity", predict_opacity)
    seen = []
    model = pipeline.LoadedModel(None, None, 0.5, {"name": "fake"})
    pipeline.analyze(ph.ct, model, progress=lambda s, f, left: seen.append((s, f, left)),
                     stage_shares={"lung mask": 0.25, "opacity": 0.75})
    left = {(s, round(f, 1)): v for s, f, v in seen}
    assert left[("lung mask", 0.5)] == pytest.approx(5.0 + 30.0)
    assert left[("opacity", 0.5)] == pytest.approx(15.0)
    assert left[("done", 0.0)] == 0.0
