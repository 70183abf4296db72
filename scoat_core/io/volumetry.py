"""Which slice stacks make a volume for whole-lung volumetry: one rule for every reader.

Trust rule (issue 14: never a plausible wrong number). A volume counts each slice as one step
thick, so its lung volume is right only when the slices are close and evenly cover their span.
A stack fails when its median step is over :data:`MAX_VOLUMETRY_STEP_MM` (10 mm), over
:data:`MAX_STEP_PER_THICKNESS` (3) times the slice thickness (when known), or when its slices'
number × median step misses their span by more than :data:`MAX_COVERAGE_ERROR_MM` (10 mm: gaps,
unreadable slices, varying steps). Each failure is a warning starting with
:data:`~scoat_core.volume.NOT_VOLUMETRIC`, so ``analyze()`` marks the exam partial (not
comparable). DICOM series (:mod:`scoat_core.io.dicom_geometry`) and volume files
(:mod:`scoat_core.io.images`) both apply it.
"""

from __future__ import annotations

import numpy as np

from scoat_core.volume import NOT_VOLUMETRIC

#: Slices further apart than this (mm, median step) do not make a volume for lung volumetry.
MAX_VOLUMETRY_STEP_MM = 10.0
#: Nor do slices more than this many times their SliceThickness apart (most tissue unimaged).
MAX_STEP_PER_THICKNESS = 3.0
#: Nor do slices whose number × median step differs from their span (plus one step) by more than
#: this (mm): gaps and unreadable slices add up, and the volume would miss that much length.
MAX_COVERAGE_ERROR_MM = 10.0


def coverage_problems(steps: np.ndarray, median: float, thickness: float | None) -> list[str]:
    """:data:`NOT_VOLUMETRIC` warnings for slices ``steps`` apart (mm, along the stack; counted
    as ``median`` each) that do not make a volume of what they span; empty when they do."""
    steps = np.asarray(steps, dtype=float)
    out = []
    if median > MAX_VOLUMETRY_STEP_MM:
        out.append(
            f"slices are {median:.3g} mm apart, more than the {MAX_VOLUMETRY_STEP_MM:g} mm "
            "volumetry allows"
        )
    elif thickness is not None and median > MAX_STEP_PER_THICKNESS * thickness:
        out.append(
            f"slices are {median:.3g} mm apart but {thickness:.3g} mm thick (more than "
            f"{MAX_STEP_PER_THICKNESS:g}× their thickness): most of the lungs is not imaged"
        )
    error = float(steps.sum()) - median * steps.size
    if error > MAX_COVERAGE_ERROR_MM:
        out.append(
            f"gaps leave {error:.3g} mm of the scanned range without slices (more than "
            f"{MAX_COVERAGE_ERROR_MM:g} mm): the volume would miss that length"
        )
    elif error < -MAX_COVERAGE_ERROR_MM:
        out.append(
            f"slice steps vary: counted as {median:.3g} mm each, the slices would make a volume "
            f"{-error:.3g} mm longer than their span (more than {MAX_COVERAGE_ERROR_MM:g} mm)"
        )
    return [NOT_VOLUMETRIC + text for text in out]


def uniform_stack_problems(n_slices: int, step_mm: float) -> list[str]:
    """:func:`coverage_problems` of ``n_slices`` slices ``step_mm`` apart (a volume file's grid,
    whose thickness is unknown); empty for a single slice (flagged as such elsewhere)."""
    if n_slices < 2:
        return []
    return coverage_problems(np.full(n_slices - 1, float(step_mm)), float(step_mm), None)
