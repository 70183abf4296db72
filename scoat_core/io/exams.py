"""Find every exam under a path, DICOM or volume files, as one list the CLI and the GUI share."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from scoat_core.io.errors import (
    EmptyFolderError,
    FileProblem,
    NotFoundError,
    PermissionDeniedError,
    ScoatIOError,
)
from scoat_core.io.images import is_volume_file, read_image
from scoat_core.volume import ExamInfo, Volume

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


@dataclass
class SeriesEntry:
    """One image series (a DICOM series or a volume file) as listed to the user."""

    source: str
    """Folder or file it came from."""
    kind: str
    """``"dicom"`` or ``"volume"``."""
    info: ExamInfo
    usable: bool = True
    selected: bool = False
    """The series picked for lung analysis in its exam."""
    excluded_reason: str = ""
    shape: tuple[int, int, int] | None = None
    spacing_mm: tuple[float, float, float] | None = None
    origin_mm: tuple[float, float, float] | None = None
    """LPS position of the first voxel, measured with the shape (for finding the same CT
    imported before in another format)."""
    hu: bool | None = None
    warnings: list[str] = field(default_factory=list)
    record: object | None = None
    """The scan record (DICOM) or the path (volume file), for :func:`load_series`."""
    content_hash: str | None = None
    """:meth:`~scoat_core.volume.Volume.content_hash` of the CT, when it was read (a volume
    file always; a DICOM series with ``load``): what the analyses of this CT are keyed on."""

    def to_json(self) -> dict[str, object]:
        """The documented JSON of ``scoat info``."""
        return {
            "patient_id": self.info.patient_id,
            "patient_name": self.info.patient_name,
            "study_date": self.info.study_date.isoformat() if self.info.study_date else None,
            "study_uid": self.info.study_uid,
            "series_uid": self.info.series_uid,
            "modality": self.info.modality,
            "manufacturer": self.info.manufacturer,
            "model": self.info.model,
            "series_description": self.info.series_description,
            "kernel": self.info.kernel,
            "slice_thickness_mm": self.info.slice_thickness_mm,
            "kind": self.kind,
            "source": self.source,
            "usable": self.usable,
            "selected": self.selected,
            "excluded_reason": self.excluded_reason,
            "shape": list(self.shape) if self.shape else None,
            "spacing_mm": [round(s, 6) for s in self.spacing_mm] if self.spacing_mm else None,
            "hu": self.hu,
            "warnings": list(self.warnings),
        }


@dataclass
class ExamEntry:
    """One exam (a DICOM study, or one volume file) of a patient."""

    study_date: date | None
    description: str
    series: list[SeriesEntry]

    @property
    def selected(self) -> SeriesEntry | None:
        return next((s for s in self.series if s.selected), None)


@dataclass
class PatientEntry:
    patient_id: str
    patient_name: str
    exams: list[ExamEntry]


@dataclass
class Inventory:
    """Everything found under a path: patients → exams → series, and the files that failed."""

    patients: list[PatientEntry]
    problems: list[FileProblem]

    def series(self) -> list[SeriesEntry]:
        return _all_series(self.patients)

    def usable_series(self) -> list[SeriesEntry]:
        return [s for s in self.series() if s.usable]

    def without_exams(self, exams: list[ExamEntry]) -> Inventory:
        """The inventory less these exams (the very entries), and less the patients left
        without an exam."""
        drop = {id(e) for e in exams}
        patients = [PatientEntry(p.patient_id, p.patient_name,
                                 [e for e in p.exams if id(e) not in drop])
                    for p in self.patients]
        return Inventory([p for p in patients if p.exams], list(self.problems))


def find_exams(
    path: str | Path,
    *,
    load: bool = True,
    study_date: date | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Inventory:
    """Scan ``path`` (file or folder) for DICOM series and volume files.

    With ``load`` the selected series of each exam is read to measure its exact shape, spacing,
    HU status and warnings (slower, but proves the series decodes); a series that fails to read
    is marked unusable with the reason, and the next-best series of the exam is tried.
    """
    from scoat_core.io.scan import scan_path

    path = Path(path)
    _check_input(path)
    scan = scan_path(path, progress=progress, cancel=cancel)
    problems = list(scan.problems)
    patients = [_patient_from_dicom(p) for p in scan.patients]
    dicom_dirs = {Path(s.source) for s in _all_series(patients)}
    for vol_path in _volume_files(path):
        if _has_dicom_below(vol_path.parent, dicom_dirs):
            continue  # a conversion stored beside its DICOM series: the DICOM is the exam
        try:
            entry = _entry_from_volume(vol_path, study_date)
        except ScoatIOError as exc:
            problems.append(FileProblem(str(vol_path), exc.problem))
            continue
        _add_volume_entry(patients, entry)
    if load:
        for patient in patients:
            for exam in patient.exams:
                _load_selected(exam, problems)
    patients.sort(key=lambda p: p.patient_id)
    for patient in patients:
        patient.exams.sort(key=lambda e: (e.study_date or date.min, e.description))
    return Inventory(patients=patients, problems=problems)


def load_series(entry: SeriesEntry) -> Volume:
    """Read one listed series into a Volume."""
    if entry.kind == "volume":
        return read_image(entry.source, study_date=entry.info.study_date)
    from scoat_core.io.dicom import read_series

    return read_series(entry.record)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ helpers
def _check_input(path: Path) -> None:
    if not path.exists():
        raise NotFoundError(path, "no such file or folder")
    if not os.access(path, os.R_OK):
        raise PermissionDeniedError(path, "permission denied")
    if path.is_dir() and not any(path.iterdir()):
        raise EmptyFolderError(path, "the folder is empty")


def _all_series(patients: list[PatientEntry]) -> list[SeriesEntry]:
    return [s for p in patients for e in p.exams for s in e.series]


def _has_dicom_below(folder: Path, dicom_dirs: set[Path]) -> bool:
    return any(d == folder or folder in d.parents for d in dicom_dirs)


def _volume_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if is_volume_file(path) else []
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        names = sorted(f for f in files if is_volume_file(f) and not f.startswith("."))
        found += [Path(root) / f for f in names]
    # Masks written next to a CT (lung_mask.nii.gz, ...) are not exams.
    return [f for f in found if "mask" not in f.name.lower() and "seg" not in f.name.lower()]


def _patient_from_dicom(p) -> PatientEntry:
    exams = []
    for study in p.studies:
        best = study.best_series()
        entries = [
            SeriesEntry(
                source=str(Path(s.files[0]).parent) if s.files else "",
                kind="dicom",
                info=s.info,
                usable=s.usable,
                selected=s is best,
                excluded_reason=s.excluded_reason,
                warnings=list(s.warnings),
                record=s,
            )
            for s in study.series
        ]
        exams.append(ExamEntry(study.study_date, study.description, entries))
    return PatientEntry(p.patient_id, p.patient_name, exams)


def _entry_from_volume(path: Path, study_date: date | None) -> SeriesEntry:
    vol = read_image(path, study_date=study_date)
    return SeriesEntry(
        source=str(path),
        kind="volume",
        info=vol.info,
        selected=True,
        shape=vol.shape,
        spacing_mm=vol.spacing,
        origin_mm=vol.origin,
        hu=vol.is_hu,
        warnings=list(vol.warnings),
        record=path,
        content_hash=vol.content_hash(),
    )


def _add_volume_entry(patients: list[PatientEntry], entry: SeriesEntry) -> None:
    pid = entry.info.patient_id
    patient = next((p for p in patients if p.patient_id == pid), None)
    if patient is None:
        patient = PatientEntry(pid, entry.info.patient_name, [])
        patients.append(patient)
    patient.exams.append(ExamEntry(entry.info.study_date, entry.info.series_description, [entry]))


def _load_selected(exam: ExamEntry, problems: list[FileProblem]) -> None:
    """Read the selected DICOM series; on failure fall back to the next usable one."""
    candidates = [s for s in exam.series if s.kind == "dicom" and s.usable]
    candidates.sort(key=lambda s: not s.selected)
    for entry in candidates:
        try:
            vol = load_series(entry)
        except ScoatIOError as exc:
            entry.usable, entry.selected = False, False
            entry.excluded_reason = exc.problem
            problems.append(FileProblem(exc.path, exc.problem))
            continue
        entry.selected = True
        entry.shape, entry.spacing_mm, entry.hu = vol.shape, vol.spacing, vol.is_hu
        entry.origin_mm = vol.origin
        entry.content_hash = vol.content_hash()
        entry.warnings = _merge_warnings(entry.warnings, vol.warnings)
        return


def _merge_warnings(scan: list[str], read: list[str]) -> list[str]:
    """Reader warnings plus the scan warnings that they do not already say in more detail."""
    kept = [w for w in scan if not any(r.startswith(w) for r in read)]
    return list(dict.fromkeys(kept + read))
