"""One phantom patient followed over several dated exams (COVID-like course, two scanners)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from .anatomy import make_anatomy
from .generate import Phantom, make_phantom
from .placement import SEPTA_HU, random_sites, satellites, with_cores
from .spec import GE_STANDARD, SIEMENS_SHARP, Lesion, PhantomSpec, ScannerPreset

#: Days after the first exam, used in order.
DEFAULT_DAYS = (0, 5, 11, 20, 35, 50, 70, 95, 125, 160)
#: Clinical course keyframes ``(time fraction, LOV / peak LOV, consolidation fraction)``:
#: early (ground glass) → progressive (spreading, crazy paving) → peak (consolidation) →
#: absorption (consolidation resorbed, fainter ground glass left).
COURSE = ((0.0, 0.25, 0.02), (1 / 3, 0.6, 0.2), (2 / 3, 1.0, 0.35), (1.0, 0.4, 0.06))
#: Keyframes ``(time fraction, satellite size, crazy paving, ground-glass density shift HU)``:
#: satellite foci appear in the progressive stage and merge with their neighbours at the peak;
#: crazy paving in the progressive and peak stages only.
STAGES = ((0.0, 0.0, 0.0, -50.0), (1 / 3, 0.8, 1.0, 0.0), (2 / 3, 1.0, 1.0, 40.0),
          (1.0, 0.9, 0.0, -90.0))
#: Satellites smaller than this (relative size) are not there yet.
MIN_SATELLITE = 0.3
#: Relative consolidation tendency of the smallest primary site: it consolidates completely at
#: the peak (no ground-glass rim left there); the others draw theirs from 0.6..1.4.
RIMLESS_TENDENCY = 3.0


def course(n_exams: int) -> list[tuple[float, float]]:
    """``(LOV fraction of peak, consolidation fraction)`` of each exam (4 exams: the keyframes)."""
    t_key, lov_key, cons_key = (np.array(k) for k in zip(*COURSE, strict=True))
    return [
        (float(np.interp(ti, t_key, lov_key)), float(np.interp(ti, t_key, cons_key)))
        for ti in _times(n_exams)
    ]


def _times(n_exams: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_exams) if n_exams > 1 else np.array([2 / 3])


def _stages(n_exams: int) -> list[tuple[float, float, float]]:
    """``(satellite size, crazy paving, ground-glass HU shift)`` of each exam."""
    t_key, size, paving, shift = (np.array(k) for k in zip(*STAGES, strict=True))
    return [
        (float(np.interp(t, t_key, size)), float(np.interp(t, t_key, paving)),
         float(np.interp(t, t_key, shift)))
        for t in _times(n_exams)
    ]


def exam_days(n_exams: int) -> list[int]:
    """Days of the exams after the first: DEFAULT_DAYS, then every 40 days."""
    days = list(DEFAULT_DAYS[:n_exams])
    while len(days) < n_exams:
        days.append(days[-1] + 40)
    return days


def make_timeline(
    n_exams: int = 4,
    *,
    seed: int = 0,
    start_date: date = date(2020, 2, 1),
    scanners: Sequence[ScannerPreset] = (SIEMENS_SHARP, GE_STANDARD),
    peak_lesion_ml: float = 400.0,
    n_sites: int = 5,
    max_shift_mm: tuple[float, float, float] = (6.0, 4.0, 10.0),
    **overrides,
) -> list[Phantom]:
    """Exams of one patient (same id, anatomy and lesion sites) with a COVID-like course.

    Exam i is acquired on ``scanners[i % len(scanners)]`` on ``start_date + exam_days(n)[i]``,
    with its own noise, its own UIDs and the patient shifted by up to ``max_shift_mm``. The total
    lesion volume is fitted to ``course(n)[i][0] * peak_lesion_ml``. The ``n_sites`` sites are
    primary foci (half, rounded up; bilateral, subpleural, posterior, lower zone) and
    satellites beside them. Early: ground glass in the primary foci; progressive: satellites
    appear, crazy paving, consolidation starts; peak: the foci merge and consolidate (one
    without a ground-glass rim); absorption: consolidation resorbed, fainter ground glass left.
    ``overrides`` set PhantomSpec fields of every exam (for example ``matrix=128`` for speed).
    """
    if n_exams < 1:
        raise ValueError(f"n_exams must be >= 1, got {n_exams}")
    if not scanners:
        raise ValueError("at least one scanner preset is needed")
    anat = make_anatomy(seed)
    primaries = random_sites(anat, seed, (n_sites + 1) // 2, chances=(1.0, 1.0, 1.0))
    sats = satellites(anat, primaries, seed, n_sites - len(primaries))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 808]))
    tendency = rng.uniform(0.6, 1.4, len(primaries) + len(sats))
    if primaries:
        tendency[int(np.argmin([s.radius_mm for s in primaries]))] = RIMLESS_TENDENCY
    paving = rng.random(len(tendency)) < 0.5
    paving[:1] = True
    septa = np.round(rng.uniform(*SEPTA_HU, len(tendency)))
    out = []
    stages = _stages(n_exams)
    for i, ((lov, cons), day) in enumerate(zip(course(n_exams), exam_days(n_exams), strict=True)):
        shift = tuple(float(v) for v in rng.uniform(-1, 1, 3) * np.asarray(max_shift_mm))
        sites, index = _exam_sites(primaries, sats, stages[i], paving * septa)
        fields = {
            **scanners[i % len(scanners)].spec_fields(),
            "seed": seed,
            "noise_seed": seed * 1000 + i + 1,
            "study_date": start_date + timedelta(days=day),
            "lesions": tuple(with_cores(sites, [min(cons * tendency[k], 1.0) for k in index],
                                         seed)),
            "lesion_ml": lov * peak_lesion_ml,
            "shift_mm": shift,
            "series_number": 2 + i % len(scanners),
            **overrides,
        }
        out.append(make_phantom(PhantomSpec(**fields)))
    return out


def _exam_sites(primaries: list[Lesion], sats: list[Lesion], stage: tuple[float, float, float],
                septa: np.ndarray) -> tuple[list[Lesion], list[int]]:
    """The sites of one exam (satellites grown to the stage's size, crazy paving and density
    of the stage) and their indices among ``primaries + sats``."""
    sat_size, paving, hu_shift = stage
    sites, index = [], []
    for k, site in enumerate(primaries + sats):
        size = 1.0 if k < len(primaries) else sat_size
        if size < MIN_SATELLITE:
            continue
        hu = float(np.clip(site.hu + hu_shift, -700.0, -350.0))
        septa_hu = float(septa[k]) if paving >= 0.5 else 0.0
        sites.append(dataclasses.replace(site, radius_mm=site.radius_mm * size, hu=hu,
                                         septa_hu=septa_hu))
        index.append(k)
    return sites, index
