"""Volumetry of one exam from its masks: every number in mL or %, from physical spacing.

Inputs are the CT (HU), the lung labels (1 = right lung, 2 = left lung) and the opacity mask,
all on the same grid. Every volume is a voxel count × the voxel volume from the spacing
(x·y·z mm³ / 1000 = mL), never a bare count. Definitions (:data:`DEFINITIONS` states each key
of :meth:`ExamMetrics.to_json` in one sentence; metrics.json carries them):

* lung volume (mL): voxels of each lung;
* **LOV** (lung opacification volume, mL): the *counted* opacity, opacity voxels inside the
  lungs (:func:`counted_opacity`, the mask written as ``opacity_mask.nii.gz``);
* **PO** (%): LOV / lung volume × 100;
* consolidation (mL): LOV voxels with HU > ``HIGH_OPACITY_HU`` (−200 HU), the paper's "high
  opacity"; ground glass (mL) is the rest of the LOV; **PHO** (%): consolidation / lung
  volume × 100;
* zones: each lung is cut into upper / middle / lower thirds of its own cranio-caudal extent
  (by slice position along the patient's z); each zone gets its lung volume, LOV and PO;
* zone severity score, per zone: 0 none, 1 < 5 %, 2 5–25 %, 3 26–50 %, 4 51–75 %, 5 > 75 %
  (PO of the zone; boundaries: 25 % → 2, 50 % → 3, 75 % → 4), and a zone scores ≥ 1 only with
  at least ``MIN_ZONE_LOV_ML`` of LOV (:func:`severity`); total 0–30 over six zones. A partial
  exam (lungs cut by the scan range or field of view, a single slice) has no scores: its thirds
  are not the lung's thirds, so they are ``None``;
* mean HU of the opacity.

HU-based numbers (consolidation, ground glass, PHO, mean HU) and the scores of a partial exam are
``None`` with a reason in ``refused``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

import numpy as np

from scoat_core.volume import Volume

HIGH_OPACITY_HU = -200.0
#: Least LOV (mL) for a zone to score ≥ 1. A 1 cm nodule is 0.52 mL; below about two of them
#: an opacity is at the scale of the mask's noise (edge voxels along vessels and the pleura, a
#: few slices of a lesion reaching into the next zone) rather than an involvement a reader would
#: score: 0.5 mL in the right lower zone used to score it 1. 1 mL is about 400 voxels of
#: 0.7 × 0.7 × 5 mm, so the floor holds at clinical slice spacings; for a whole zone
#: (≥ 100 mL) it is ≤ 1 % PO, inside band 1, so no other band moves.
MIN_ZONE_LOV_ML = 1.0
RIGHT, LEFT = 1, 2
ZONES = ("upper", "middle", "lower")
PARTIAL_REFUSAL = ("partial exam (the scan cuts the lungs or is not volumetric): no severity "
                   "score, since the zones of a cut lung are not its thirds")

_LUNGS = "the lung mask (labels 1 and 2)"
_SIDE_DEFINITIONS = {
    "lung_volume_ml": "volume of {lung}: voxel count × voxel volume from the image spacing "
                      "(x·y·z mm³ / 1000), mL",
    "lov_ml": "lung opacification volume: voxel count of the opacity mask inside {lung} (the "
              "voxels opacity_mask.nii.gz holds) × voxel volume from the image spacing, mL",
    "po_percent": "percent of opacification: LOV / lung volume of {lung} × 100, %",
    "consolidation_ml": "consolidation (high opacity): LOV voxels of {lung} above −200 HU × "
                        "voxel volume, mL; null when the CT is not in HU",
    "pho_percent": "percent of high opacity: consolidation / lung volume of {lung} × 100, %; "
                   "null when the CT is not in HU",
}
#: One-sentence method and unit of every key of :meth:`ExamMetrics.to_json` (dotted paths into
#: the blocks; ``*`` stands for a zone key such as ``right_upper``).
DEFINITIONS: dict[str, str] = {
    **{k: v.format(lung=_LUNGS) for k, v in _SIDE_DEFINITIONS.items()},
    "ggo_ml": "ground-glass opacity: LOV voxels at or below −200 HU × voxel volume (LOV − "
              "consolidation), mL; null when the CT is not in HU",
    "mean_opacity_hu": "mean CT number of the LOV voxels, HU; null when the CT is not in HU "
                       "or there is no LOV",
    **{side: f"the volumetry of the {side} lung (label {label}) alone"
       for side, label in (("right", RIGHT), ("left", LEFT))},
    **{f"{side}.{k}": v.format(lung=f"the {side} lung (label {label})")
       for side, label in (("right", RIGHT), ("left", LEFT))
       for k, v in _SIDE_DEFINITIONS.items()},
    "zones": "each lung cut into upper / middle / lower thirds of its cranio-caudal extent in "
             "the scan (by slice position along the patient's z), keyed right_upper … left_lower",
    "zones.*": "one zone: its lung and third, lung volume, LOV, PO and score",
    "zones.*.lung": "the lung of the zone: right or left",
    "zones.*.zone": "the third of the lung: upper, middle or lower",
    "zones.*.lung_ml": "lung-mask voxels of the zone × voxel volume, mL",
    "zones.*.lov_ml": "opacity voxels inside the lung mask in the zone × voxel volume, mL",
    "zones.*.po_percent": "zone LOV / zone lung volume × 100, % of the zone",
    "zones.*.severity": f"zone score from its PO, points 0–5: 0 none or LOV < {MIN_ZONE_LOV_ML:g} "
                        "mL, 1 < 5 %, 2 5–25 %, 3 > 25–50 %, 4 > 50–75 %, 5 > 75 %; null on a "
                        "partial exam",
    "severity_score": "sum of the six zone scores, points 0–30; null on a partial exam (lungs "
                      "cut by the scan range or field of view, a single slice)",
    "voxel_ml": "volume of one voxel: product of the x, y, z spacing (mm; DICOM pixel spacing "
                "and slice positions) / 1000, mL",
    "refused": "the numbers left null and why, one sentence each",
    "units": "the units of the volumes, percents and CT numbers",
}


@dataclass
class ZoneResult:
    lung: str
    zone: str
    lung_ml: float
    lov_ml: float
    po_percent: float
    severity: int | None


@dataclass
class SideResult:
    lung_volume_ml: float
    lov_ml: float
    po_percent: float
    consolidation_ml: float | None
    pho_percent: float | None


@dataclass
class ExamMetrics:
    """All the volumetry of one exam (see the module docstring for the definitions)."""

    lung_volume_ml: float
    lov_ml: float
    po_percent: float
    pho_percent: float | None
    ggo_ml: float | None
    consolidation_ml: float | None
    mean_opacity_hu: float | None
    right: SideResult
    left: SideResult
    zones: list[ZoneResult]
    severity_score: int | None
    """Sum of the zone scores; None on a partial exam (:meth:`partial`)."""
    voxel_ml: float
    refused: list[str] = field(default_factory=list)

    def partial(self) -> ExamMetrics:
        """A copy without severity scores (total and zones), for an exam that cuts the lungs."""
        refused = self.refused + ([] if PARTIAL_REFUSAL in self.refused else [PARTIAL_REFUSAL])
        return dataclasses.replace(
            self, severity_score=None, refused=refused,
            zones=[dataclasses.replace(z, severity=None) for z in self.zones])

    def to_json(self) -> dict[str, object]:
        """Plain JSON-ready dict; zones keyed ``right_upper`` … (see :data:`DEFINITIONS`)."""
        out = asdict(self)
        out["zones"] = {f"{z.lung}_{z.zone}": asdict(z) for z in self.zones}
        out["units"] = {"volumes": "mL", "percents": "% of the lung, side or zone volume",
                        "hu": "HU", "scores": "points (zone 0–5, total 0–30)"}
        return out


def percent(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole`` (0 when ``whole`` is empty)."""
    return 100.0 * part / whole if whole > 0 else 0.0


def severity(po_percent: float, lov_ml: float) -> int:
    """Zone severity 0–5 from the zone's percent of opacification; 0 below
    :data:`MIN_ZONE_LOV_ML` of zone LOV."""
    if po_percent <= 0 or lov_ml < MIN_ZONE_LOV_ML:
        return 0
    if po_percent < 5:
        return 1
    for score, upper in ((2, 25.0), (3, 50.0), (4, 75.0)):
        if po_percent <= upper:
            return score
    return 5


def counted_opacity(lung_labels: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """The opacity that LOV counts (boolean): opacity voxels inside the lungs (labels > 0)."""
    return (np.asarray(opacity) > 0) & (np.asarray(lung_labels) > 0)


def _side(ct: Volume, in_lung: np.ndarray, opacity: np.ndarray,
          high: np.ndarray | None) -> SideResult:
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
            results.append(ZoneResult(name, zone, lung_ml, lov_ml, po, severity(po, lov_ml)))
    return results


def quantify(ct: Volume, lung_labels: Volume, opacity: Volume, *,
             complete: bool = True) -> ExamMetrics:
    """Volumetry of an exam; masks must be on the CT's grid. ``complete=False`` (the scan cuts
    the lungs, or is not volumetric) leaves the severity scores out (:meth:`ExamMetrics.partial`).
    """
    for mask, what in ((lung_labels, "lung labels"), (opacity, "opacity mask")):
        if not mask.same_geometry(ct, tol=1e-3):
            raise ValueError(f"{what} are not on the CT's grid")
    labels = lung_labels.array
    lungs = labels > 0
    opac = counted_opacity(labels, opacity.array)
    refused: list[str] = []
    high = None
    hu_values = None
    if ct.is_hu:
        high = opac & (ct.array > HIGH_OPACITY_HU)
        hu_values = ct.array[opac]
    else:
        refused.append("the CT is not in Hounsfield units: consolidation, ground glass, PHO "
                       "and mean HU are not computed")
    total = _side(ct, lungs, opac, high)
    zones = zone_results(ct, labels, opac)
    metrics = ExamMetrics(
        lung_volume_ml=total.lung_volume_ml,
        lov_ml=total.lov_ml,
        po_percent=total.po_percent,
        pho_percent=total.pho_percent,
        ggo_ml=None if total.consolidation_ml is None else total.lov_ml - total.consolidation_ml,
        consolidation_ml=total.consolidation_ml,
        mean_opacity_hu=(float(hu_values.mean()) if hu_values is not None and hu_values.size
                         else None),
        right=_side(ct, labels == RIGHT, opac, high),
        left=_side(ct, labels == LEFT, opac, high),
        zones=zones,
        severity_score=sum(z.severity or 0 for z in zones),
        voxel_ml=ct.voxel_volume_ml,
        refused=refused,
    )
    return metrics if complete else metrics.partial()
