"""One phantom patient followed over several dated exams (COVID-like course, two scanners)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from .anatomy import make_anatomy
from .generate import Phantom, make_phantom
from .lesions import random_sites, with_cores
from .spec import GE_STANDARD, SIEMENS_SHARP, PhantomSpec, ScannerPreset

#: Days after the first exam, used in order.
DEFAULT_DAYS = (0, 5, 11, 20, 35, 50, 70, 95, 125, 160)
#: Clinical course keyframes ``(time fraction, LOV / peak LOV, consolidation fraction)``:
#: early → progressive → peak → absorption.
COURSE = ((0.0, 0.3, 0.05), (1 / 3, 0.8, 0.3), (2 / 3, 1.0, 0.5), (1.0, 0.4, 0.1))


def course(n_exams: int) -> list[tuple[float, float]]:
    """``(LOV fraction of peak, consolidation fraction)`` of each exam (4 exams: the keyframes)."""
    t_key, lov_key, cons_key = (np.array(k) for k in zip(*COURSE, strict=True))
    t = np.linspace(0.0, 1.0, n_exams) if n_exams > 1 else np.array([2 / 3])
    return [
        (float(np.interp(ti, t_key, lov_key)), float(np.interp(ti, t_key, cons_key))) for ti in t
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
    """Exams of one patient (same id, anatomy and lesion sites) with a COVID-like LOV course.

    Exam i is acquired on ``scanners[i % len(scanners)]`` on ``start_date + exam_days(n)[i]``,
    with its own noise, its own UIDs and the patient shifted by up to ``max_shift_mm``. The total
    lesion volume is fitted to ``course(n)[i][0] * peak_lesion_ml`` (more consolidation at the
    peak, mostly ground glass in absorption). ``overrides`` set PhantomSpec fields of every exam
    (for example ``matrix=128`` for speed).
    """
    if n_exams < 1:
        raise ValueError(f"n_exams must be >= 1, got {n_exams}")
    if not scanners:
        raise ValueError("at least one scanner preset is needed")
    anat = make_anatomy(seed)
    sites = random_sites(anat, seed, n_sites)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 808]))
    site_jitter = rng.uniform(0.6, 1.4, len(sites))
    out = []
    for i, ((lov, cons), day) in enumerate(zip(course(n_exams), exam_days(n_exams), strict=True)):
        shift = tuple(float(v) for v in rng.uniform(-1, 1, 3) * np.asarray(max_shift_mm))
        cores = [float(min(cons * j, 0.8)) for j in site_jitter]
        fields = {
            **scanners[i % len(scanners)].spec_fields(),
            "seed": seed,
            "noise_seed": seed * 1000 + i + 1,
            "study_date": start_date + timedelta(days=day),
            "lesions": tuple(with_cores(sites, cores, seed)),
            "lesion_ml": lov * peak_lesion_ml,
            "shift_mm": shift,
            "series_number": 2 + i % len(scanners),
            **overrides,
        }
        out.append(make_phantom(PhantomSpec(**fields)))
    return out
