"""Volumetry of one exam from its masks: every number in mL or %, from physical spacing.

Inputs are the CT (HU), the lung labels (1 = right lung, 2 = left lung) and the opacity mask,
all on the same grid. Definitions:

* lung volume (mL): voxels of each lung × voxel volume (spacing x·y·z / 1000);
* **LOV** (lung opacification volume, mL): opacity voxels inside the lungs;
* **PO** (%): LOV / lung volume × 100;
* high-opacity volume (mL): opacity voxels with HU > ``HIGH_OPACITY_HU`` (−200 HU);
  **PHO** (%): high-opacity volume / lung volume × 100;
* ground-glass / consolidation split: the same −200 HU rule, so the consolidation volume equals
  the high-opacity volume and ground glass is the rest of the LOV (one rule, easy to check);
* zones: each lung is cut into upper / middle / lower thirds of its own cranio-caudal extent
  (by slice position along the patient's z); each zone gets its lung volume, LOV and PO;
* zone severity score, per zone: 0 none, 1 < 5 %, 2 5–25 %, 3 26–50 %, 4 51–75 %, 5 > 75 %
  (PO of the zone; boundaries: 25 % → 2, 50 % → 3, 75 % → 4); total 0–30 over six zones;
* mean HU of the opacity.

HU-based numbers (high opacity, PHO, the split, mean HU) are ``None`` with a reason in
``refused`` when the CT is not in Hounsfield units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from scoat_core.volume import Volume

HIGH_OPACITY_HU = -200.0
RIGHT, LEFT = 1, 2
ZONES = ("upper", "middle", "lower")


@dataclass
class ZoneResult:
    lung: str
    zone: str
    lung_ml: float
    lov_ml: float
    po_percent: float
    severity: int


@dataclass
class SideResult:
    lung_volume_ml: float
    lov_ml: float
    po_percent: float
    high_opacity_ml: float | None
    pho_percent: float | None


@dataclass
class ExamMetrics:
    """All the volumetry of one exam (see the module docstring for the definitions)."""

    lung_volume_ml: float
    lov_ml: float
    po_percent: float
    high_opacity_ml: float | None
    pho_percent: float | None
    ggo_ml: float | None
    consolidation_ml: float | None
    mean_opacity_hu: float | None
    right: SideResult
    left: SideResult
    zones: list[ZoneResult]
    severity_score: int
    voxel_ml: float
    refused: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["zones"] = {f"{z.lung}_{z.zone}": asdict(z) for z in self.zones}
        out["units"] = {"volumes": "mL", "percents": "% of lung volume", "hu": "HU"}
        return out


def percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def severity(po_percent: float) -> int:
    """Zone severity 0–5 from the zone's percent of opacification."""
    if po_percent <= 0:
        return 0
    if po_percent < 5:
        return 1
    for score, upper in ((2, 25.0), (3, 50.0), (4, 75.0)):
        if po_percent <= upper:
            return score
    return 5


def _side(ct: Volume, in_lung: np.ndarray, opacity: np.ndarray, high: np.ndarray | None):
    vox = ct.voxel_volume_ml
    lung_ml = float(np.count_nonzero(in_lung)) * vox
    lov = float(np.count_nonzero(opacity & in_lung)) * vox
    high_ml = None if high is None else float(np.count_nonzero(high & in_lung)) * vox
    return SideResult(lung_ml, lov, percent(lov, lung_ml), high_ml,
                      None if high_ml is None else percent(high_ml, lung_ml))


def zone_results(ct: Volume, labels: np.ndarray, opacity: np.ndarray) -> list[ZoneResult]:
    """Upper/middle/lower thirds of each lung along the patient's cranio-caudal axis."""
    vox = ct.voxel_volume_ml
    # Patient z (superior +) of each slice centre: the array's slice axis may run either way.
    z_of_slice = ct.index_to_lps(np.c_[np.zeros(ct.shape[0]), np.zeros(ct.shape[0]),
                                       np.arange(ct.shape[0])])[:, 2]
    results = []
    for label, name in ((RIGHT, "right"), (LEFT, "left")):
        lung = labels == label
        per_slice_lung = lung.reshape(lung.shape[0], -1).sum(1)
        per_slice_lov = (lung & opacity).reshape(lung.shape[0], -1).sum(1)
        present = per_slice_lung > 0
        if not present.any():
            results += [ZoneResult(name, z, 0.0, 0.0, 0.0, 0) for z in ZONES]
            continue
        top, bottom = z_of_slice[present].max(), z_of_slice[present].min()
        cuts = (top - (top - bottom) / 3, top - 2 * (top - bottom) / 3)
        zone_of = np.where(z_of_slice > cuts[0], 0, np.where(z_of_slice > cuts[1], 1, 2))
        for k, zone in enumerate(ZONES):
            lung_ml = float(per_slice_lung[zone_of == k].sum()) * vox
            lov_ml = float(per_slice_lov[zone_of == k].sum()) * vox
            po = percent(lov_ml, lung_ml)
            results.append(ZoneResult(name, zone, lung_ml, lov_ml, po, severity(po)))
    return results


def quantify(ct: Volume, lung_labels: Volume, opacity: Volume) -> ExamMetrics:
    """Volumetry of an exam; masks must be on the CT's grid."""
    for mask, what in ((lung_labels, "lung labels"), (opacity, "opacity mask")):
        if not mask.same_geometry(ct, tol=1e-3):
            raise ValueError(f"{what} are not on the CT's grid")
    labels = lung_labels.array
    lungs = labels > 0
    opac = (opacity.array > 0) & lungs
    refused: list[str] = []
    high = None
    hu_values = None
    if ct.is_hu:
        high = opac & (ct.array > HIGH_OPACITY_HU)
        hu_values = ct.array[opac]
    else:
        refused.append("the CT is not in Hounsfield units: high-opacity volume, PHO, the "
                       "ground-glass/consolidation split and mean HU are not computed")
    total = _side(ct, lungs, opac, high)
    zones = zone_results(ct, labels, opac)
    return ExamMetrics(
        lung_volume_ml=total.lung_volume_ml,
        lov_ml=total.lov_ml,
        po_percent=total.po_percent,
        high_opacity_ml=total.high_opacity_ml,
        pho_percent=total.pho_percent,
        ggo_ml=None if high is None else total.lov_ml - total.high_opacity_ml,
        consolidation_ml=total.high_opacity_ml,
        mean_opacity_hu=(float(hu_values.mean()) if hu_values is not None and hu_values.size
                         else None),
        right=_side(ct, labels == RIGHT, opac, high),
        left=_side(ct, labels == LEFT, opac, high),
        zones=zones,
        severity_score=sum(z.severity for z in zones),
        voxel_ml=ct.voxel_volume_ml,
        refused=refused,
    )
