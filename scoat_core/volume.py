"""The `Volume` type: a CT (or mask) voxel array with its physical geometry and exam metadata.

Conventions, used everywhere in the project:

* ``array`` is indexed ``[slice, row, column]`` (``[z, y, x]``), the order of
  ``SimpleITK.GetArrayFromImage``. CT volumes hold Hounsfield units (``is_hu``), masks hold
  small integers.
* ``spacing``, ``origin`` and ``direction`` follow SimpleITK/ITK and DICOM: **LPS** patient
  coordinates in millimetres (x grows to the patient's Left, y to Posterior, z to Superior).
  ``spacing`` is ``(x, y, z)`` = (column, row, slice) spacing in mm; ``origin`` is the LPS position
  of the centre of voxel ``[0, 0, 0]``; ``direction`` is a 3×3 matrix whose *columns* are the unit
  LPS directions of the column, row and slice axes.
* A derived image (a mask, a probability map) is made with :meth:`Volume.derive`, which copies
  the geometry and metadata exactly, like ``SimpleITK.Image.CopyInformation``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, time
from typing import Literal

import numpy as np

Vec3 = tuple[float, float, float]

#: Coordinate convention of every Volume in this project.
SPACE: Literal["LPS"] = "LPS"

#: Start of a reader warning saying that the geometry of the volume does not support volumetry
#: of the whole lungs (slices far apart, gaps, a pixel size taken from a stand-in attribute).
#: ``analyze()`` marks such an exam partial (``lungs_complete`` False), so its trend reads "not
#: comparable". A warning, not a separate field, so that it survives wherever warnings are kept
#: (the store's series rows and CT cache, ``scoat info``, metrics.json).
NOT_VOLUMETRIC = "no whole-lung volumetry: "


@dataclass(frozen=True)
class ExamInfo:
    """Patient, study and acquisition metadata of one CT series (empty or None when unknown)."""

    patient_id: str = ""
    patient_name: str = ""
    birth_date: date | None = None
    patient_sex: str = ""
    study_uid: str = ""
    series_uid: str = ""
    study_date: date | None = None
    study_time: time | None = None
    study_description: str = ""
    series_description: str = ""
    series_number: int | None = None
    modality: str = ""
    manufacturer: str = ""
    model: str = ""
    station: str = ""
    kernel: str = ""
    slice_thickness_mm: float | None = None
    kvp: float | None = None
    contrast: bool | None = None
    source: str = ""
    """Where the data came from: a file, or the folder of a DICOM series."""

    def replace(self, **changes: object) -> ExamInfo:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        """Plain JSON-ready dict (dates as ISO strings)."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, (date, time)) else value
        return out


@dataclass
class Volume:
    """A 3-D image with LPS geometry and exam metadata (see the module docstring)."""

    array: np.ndarray
    spacing: Vec3 = (1.0, 1.0, 1.0)
    origin: Vec3 = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    info: ExamInfo = field(default_factory=ExamInfo)
    is_hu: bool = True
    """False when the values are not Hounsfield units (e.g. 8-bit windowed display data)."""
    warnings: list[str] = field(default_factory=list)
    """Problems found while reading (gaps, tilt, non-uniform spacing...), one sentence each."""
    source_files: tuple[str, ...] = ()
    """The DICOM files the slices were read from, in slice order (empty for other sources):
    what a DICOM SEG must reference, which after a split or a dropped copy is not every file
    of the series."""
    instance_numbers: tuple[int | None, ...] = ()
    """The DICOM InstanceNumber of each slice, in slice order (None where a slice has none, e.g.
    a frame of a multi-frame file; empty for other sources): the image number PACS shows, which
    need not be the slice index (a series numbered from the top counts down)."""

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"Volume needs a 3-D array, got shape {self.array.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive and finite, got {self.spacing}")
        self.instance_numbers = tuple(self.instance_numbers)
        if self.instance_numbers and len(self.instance_numbers) != self.array.shape[0]:
            raise ValueError(f"{len(self.instance_numbers)} instance numbers for "
                             f"{self.array.shape[0]} slices")

    # ----------------------------------------------------------------- geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, columns)``."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def space(self) -> Literal["LPS"]:
        return SPACE

    @property
    def volumetry_problems(self) -> list[str]:
        """The warnings (:data:`NOT_VOLUMETRIC`) why whole-lung volumes of this volume would be
        wrong; empty when its geometry supports volumetry."""
        return [w for w in self.warnings if w.startswith(NOT_VOLUMETRIC)]

    @property
    def voxel_volume_mm3(self) -> float:
        sx, sy, sz = self.spacing
        return sx * sy * sz

    @property
    def voxel_volume_ml(self) -> float:
        return self.voxel_volume_mm3 / 1000.0

    def affine(self) -> np.ndarray:
        """4×4 matrix mapping ``(column, row, slice, 1)`` indices to LPS millimetres."""
        a = np.eye(4)
        a[:3, :3] = self.direction @ np.diag(self.spacing)
        a[:3, 3] = self.origin
        return a

    def index_to_lps(self, index_xyz: np.ndarray) -> np.ndarray:
        """LPS mm of continuous indices given as ``(column, row, slice)``, shape (..., 3)."""
        idx = np.asarray(index_xyz, dtype=float)
        return idx @ (self.direction @ np.diag(self.spacing)).T + np.asarray(self.origin)

    def lps_to_index(self, point_lps: np.ndarray) -> np.ndarray:
        """Continuous ``(column, row, slice)`` indices of LPS points, shape (..., 3)."""
        m = np.linalg.inv(self.direction @ np.diag(self.spacing))
        return (np.asarray(point_lps, dtype=float) - np.asarray(self.origin)) @ m.T

    def content_hash(self) -> str:
        """BLAKE2b (hex, 32 digits) of the CT as read: voxel bytes, dtype, shape, geometry and HU
        status (about 1 GB/s). The same source read again gives the same hash; other pixels or
        geometry under the same UIDs give another."""
        array = np.ascontiguousarray(self.array)
        h = hashlib.blake2b(digest_size=16)
        geometry = [np.round(np.asarray(v, float), 5).tolist()
                    for v in (self.spacing, self.origin, self.direction)]
        h.update(json.dumps([array.dtype.str, list(array.shape), geometry,
                             bool(self.is_hu)]).encode())
        h.update(array.reshape(-1).view(np.uint8))
        return h.hexdigest()

    def same_geometry(self, other: Volume, tol: float = 1e-4) -> bool:
        """True when shape, spacing, origin and direction agree within ``tol``."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.origin, other.origin, atol=tol)
            and np.allclose(self.direction, other.direction, atol=tol)
        )

    def is_axial(self, max_angle_deg: float = 10.0) -> bool:
        """True when the slice normal is within ``max_angle_deg`` of the LPS z axis."""
        normal = self.direction[:, 2]
        return abs(normal[2]) >= np.cos(np.deg2rad(max_angle_deg))

    # ---------------------------------------------------------- derived images
    def derive(self, array: np.ndarray, *, is_hu: bool = False) -> Volume:
        """A new Volume on the same grid (CopyInformation semantics): a mask, a map..."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise ValueError(f"derived array shape {array.shape} != volume shape {self.shape}")
        return Volume(
            array=array,
            spacing=self.spacing,
            origin=self.origin,
            direction=self.direction.copy(),
            info=self.info,
            is_hu=is_hu,
            warnings=[],
        )

    def volume_ml(self, mask: np.ndarray) -> float:
        """Physical volume (mL) of the non-zero voxels of ``mask`` on this grid."""
        if mask.shape != self.array.shape:
            raise ValueError(f"mask shape {mask.shape} != volume shape {self.shape}")
        return float(np.count_nonzero(mask)) * self.voxel_volume_ml

    # ------------------------------------------------------------ SimpleITK
    def to_sitk(self):  # -> SimpleITK.Image
        """A SimpleITK image with the same voxels and geometry."""
        import SimpleITK as sitk

        array = self.array.astype(np.uint8) if self.array.dtype == bool else self.array
        img = sitk.GetImageFromArray(np.ascontiguousarray(array))
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(tuple(self.direction.ravel()))
        return img

    @classmethod
    def from_sitk(cls, img, info: ExamInfo | None = None, *, is_hu: bool = True) -> Volume:
        """Build a Volume from a 3-D SimpleITK image (2-D images become one slice)."""
        import SimpleITK as sitk

        if img.GetDimension() == 2:
            img = sitk.JoinSeries(img)
        if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError("expected a scalar 3-D image")
        return cls(
            array=sitk.GetArrayFromImage(img),
            spacing=img.GetSpacing(),
            origin=img.GetOrigin(),
            direction=np.array(img.GetDirection()).reshape(3, 3),
            info=info or ExamInfo(),
            is_hu=is_hu,
        )

    def summary(self) -> str:
        """One line for logs: shape, spacing and the exam."""
        sx, sy, sz = self.spacing
        date_s = self.info.study_date.isoformat() if self.info.study_date else "no date"
        return (
            f"{self.shape[0]}×{self.shape[1]}×{self.shape[2]} voxels, "
            f"{sx:.3g}×{sy:.3g}×{sz:.3g} mm, {self.info.patient_id or '?'} {date_s}"
        )
