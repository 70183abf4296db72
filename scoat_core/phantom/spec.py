"""Inputs of the synthetic chest CT phantom: lesions, acquisition spec and scanner presets.

Lesion positions are given in the **anatomy frame**: LPS millimetres (x to the patient's Left,
y Posterior, z Superior) measured from the chest centre of the phantom patient. The anatomy frame
moves with ``PhantomSpec.shift_mm`` (patient position on the table), so a lesion stays at the same
place in the body whatever the scanner grid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Literal

Vec3 = tuple[float, float, float]
LesionKind = Literal["ggo", "consolidation"]

#: Label values of the lesion mask.
LESION_LABELS: dict[str, int] = {"ggo": 1, "consolidation": 2}
#: Label values of the lung mask.
LUNG_LABELS: dict[str, int] = {"right": 1, "left": 2}

Blob = tuple[float, float, float, float]


@dataclass(frozen=True)
class Lesion:
    """A COVID-like opacity: the union of spheres ``centre + radius*(dx,dy,dz)``, radius
    ``radius*r``, its margin made irregular by smooth noise of relative amplitude ``margin``
    (0, the default: the plain union of spheres).

    Only the part inside the lungs is drawn (and counted): every voxel of that shape carries the
    kind's label, whatever it shows. ``hu`` is the base value of the lesion before a mild
    texture, blur and noise. Vessels stay visible through ground glass and are hidden inside
    consolidation. ``septa_hu`` > 0 adds crazy paving to ground glass (a polygonal network of
    thickened interlobular septa that much denser). ``bronchi`` draws air-filled bronchi coming
    from the hilum through the centre (air bronchograms in consolidation, bronchi seen through
    ground glass). ``seed`` fixes margin noise, septa and bronchi: a site and its core with one
    seed share their bulges and bronchi. The shape scales about its centre with
    :meth:`scaled`; septa and bronchi stay where they are. The random and timeline lesions
    (and :mod:`.cases`) set these; the defaults keep the plain shape of explicit lesions.
    """

    kind: LesionKind
    center_mm: Vec3
    radius_mm: float
    hu: float
    blobs: tuple[Blob, ...] = ((0.0, 0.0, 0.0, 1.0),)
    seed: int = 0
    margin: float = 0.0
    septa_hu: float = 0.0
    bronchi: bool = False

    def __post_init__(self) -> None:
        if self.kind not in LESION_LABELS:
            raise ValueError(f"lesion kind must be 'ggo' or 'consolidation', got {self.kind!r}")
        if not self.radius_mm > 0:
            raise ValueError(f"lesion radius must be positive, got {self.radius_mm}")
        if not 0.0 <= self.margin <= 0.6:
            raise ValueError(f"lesion margin must be within 0..0.6, got {self.margin}")

    @property
    def label(self) -> int:
        return LESION_LABELS[self.kind]

    def scaled(self, factor: float) -> Lesion:
        """The same shape scaled about its centre by ``factor``."""
        return dataclasses.replace(self, radius_mm=self.radius_mm * factor)

    def spheres(self) -> list[tuple[float, float, float, float]]:
        """``(x, y, z, r)`` of every sphere, in the anatomy frame (mm)."""
        cx, cy, cz = self.center_mm
        r = self.radius_mm
        return [(cx + r * dx, cy + r * dy, cz + r * dz, r * rr) for dx, dy, dz, rr in self.blobs]


@dataclass(frozen=True)
class PhantomSpec:
    """Everything that defines one synthetic exam (all lengths in mm, all values in HU)."""

    seed: int = 0
    """Anatomy seed: body, lungs, vessels and (when ``lesions`` is None) the random lesions."""
    matrix: int | tuple[int, int] = 256
    """In-plane size: ``n`` (square) or ``(rows, columns)``."""
    fov_mm: float = 360.0
    """Reconstruction field of view; in-plane spacing is ``fov_mm / matrix``."""
    z_extent_mm: float = 260.0
    """Length scanned along z (apex to bases of an adult chest is ~230 mm)."""
    slice_thickness_mm: float = 2.5
    slice_spacing_mm: float = 2.5
    """Distance between slice centres; thickness > spacing gives overlapping slices."""
    noise_hu: float = 20.0
    """Standard deviation of the white Gaussian noise added after the blur."""
    blur_mm: float = 0.6
    """In-plane Gaussian sigma of the reconstruction kernel (small = sharp kernel)."""
    lesions: tuple[Lesion, ...] | None = None
    """Explicit lesions; None draws ``n_lesions`` COVID-like lesions from ``seed``; () none."""
    n_lesions: int = 5
    lesion_ml: float | None = None
    """Target total lesion volume (mL): all lesion radii are scaled by one factor, fitted on the
    output grid (aims at 0.5 %; within 3 % or 2 mL unless the lesions would fill the lungs or
    need to grow more than 8×). ``truth`` reports the exact volume reached."""
    shift_mm: Vec3 = (0.0, 0.0, 0.0)
    """Patient position: the anatomy is translated by this vector in the scanner (LPS) frame."""
    noise_seed: int | None = None
    """Seed of noise and texture; None uses ``seed``."""
    fine_step_mm: float = 1.25
    """Largest z step of the fine grid averaged into each thick slice."""
    table: bool = True
    """Draw the scanner table under the patient."""
    patient_id: str = ""
    """Empty: ``PHANTOM-<seed>``."""
    patient_name: str = ""
    """Empty: ``Phantom^Seed<seed>``."""
    study_date: date = date(2020, 2, 1)
    manufacturer: str = "SCOAT"
    model: str = "Synthetic CT"
    kernel: str = "STANDARD"
    kvp: float = 120.0
    station: str = "PHANTOM"
    study_description: str = "Synthetic chest CT phantom"
    series_description: str = ""
    """Empty: ``"<kernel> <thickness> mm phantom"``."""
    series_number: int = 1

    @property
    def shape_rc(self) -> tuple[int, int]:
        m = self.matrix
        rows, cols = (m, m) if isinstance(m, int) else (int(m[0]), int(m[1]))
        return rows, cols

    @property
    def spacing(self) -> Vec3:
        """``(x, y, z)`` voxel spacing of the output grid."""
        rows, cols = self.shape_rc
        return (self.fov_mm / cols, self.fov_mm / rows, float(self.slice_spacing_mm))

    @property
    def n_slices(self) -> int:
        return max(1, round(self.z_extent_mm / self.slice_spacing_mm))

    def resolved_patient(self) -> tuple[str, str]:
        """``(patient_id, patient_name)`` with the seed-derived defaults filled in."""
        pid = self.patient_id or f"PHANTOM-{self.seed:04d}"
        name = self.patient_name or f"Phantom^Seed{self.seed}"
        return pid, name

    def validate(self) -> None:
        """Raise ValueError for values the generator cannot honour."""
        rows, cols = self.shape_rc
        checks = {
            "matrix must be >= 16": min(rows, cols) >= 16,
            "fov_mm must be positive": self.fov_mm > 0,
            "station must be at most 16 characters (DICOM SH)": len(self.station) <= 16,
            "kernel must be at most 16 characters (DICOM SH)": len(self.kernel) <= 16,
            "z_extent_mm must be positive": self.z_extent_mm > 0,
            "slice_spacing_mm must be positive": self.slice_spacing_mm > 0,
            "slice_thickness_mm must be positive": self.slice_thickness_mm > 0,
            "noise_hu must be >= 0": self.noise_hu >= 0,
            "blur_mm must be >= 0": self.blur_mm >= 0,
            "fine_step_mm must be positive": self.fine_step_mm > 0,
            "lesion_ml must be >= 0": self.lesion_ml is None or self.lesion_ml >= 0,
        }
        bad = [msg for msg, ok in checks.items() if not ok]
        if bad:
            raise ValueError("; ".join(bad))


@dataclass(frozen=True)
class ScannerPreset:
    """A simulated scanner and reconstruction (used by the timeline)."""

    manufacturer: str
    model: str
    kernel: str
    slice_thickness_mm: float
    slice_spacing_mm: float
    noise_hu: float
    blur_mm: float
    fov_mm: float = 360.0
    matrix: int = 512
    kvp: float = 120.0
    station: str = "CT01"
    """DICOM StationName (at most 16 characters)."""

    def spec_fields(self) -> dict[str, object]:
        """The PhantomSpec fields this preset sets."""
        return {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "kernel": self.kernel,
            "slice_thickness_mm": self.slice_thickness_mm,
            "slice_spacing_mm": self.slice_spacing_mm,
            "noise_hu": self.noise_hu,
            "blur_mm": self.blur_mm,
            "fov_mm": self.fov_mm,
            "matrix": self.matrix,
            "kvp": self.kvp,
            "station": self.station,
        }


#: Thin-slice sharp reconstruction: little blur, more noise.
SIEMENS_SHARP = ScannerPreset(
    manufacturer="SIEMENS",
    model="SOMATOM Definition AS",
    kernel="B70f",
    slice_thickness_mm=1.0,
    slice_spacing_mm=1.0,
    noise_hu=35.0,
    blur_mm=0.3,
    fov_mm=340.0,
    kvp=120.0,
    station="SOMATOM-AS",
)

#: Thick-slice smooth reconstruction: more blur, less noise.
GE_STANDARD = ScannerPreset(
    manufacturer="GE MEDICAL SYSTEMS",
    model="LightSpeed VCT",
    kernel="STANDARD",
    slice_thickness_mm=5.0,
    slice_spacing_mm=5.0,
    noise_hu=12.0,
    blur_mm=1.0,
    fov_mm=380.0,
    kvp=120.0,
    station="LSVCT",
)
