"""Fixtures for every level: the real-data setting (skips with a reason when absent), a private
app-data folder, DICOM helpers. Qt-only fixtures are in ``tests/app/conftest.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scoat_core.shared_data import ENV_VAR, shared_data_dir

# Qt widgets render offscreen in tests (no display on CI); set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _dataset(name: str) -> Path:
    path = shared_data_dir() / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {name!r} not found at {path} (set {ENV_VAR} to its folder)")
    return path


@pytest.fixture(scope="session")
def ricord_dir() -> Path:
    """255-slice JPEG Lossless COVID-19 chest CT (DICOM folder)."""
    return _dataset("ricord-covid-chest-ct") / "dicom"


@pytest.fixture(scope="session")
def three_slice_dir() -> Path:
    """Three uncompressed CT slices, 1.0 mm apart, SliceThickness 1.25 mm."""
    return _dataset("dicom-ct-3slice")


@pytest.fixture(scope="session")
def serial_dir() -> Path:
    """10 patients x 2 dated single-slice exams."""
    return _dataset("covid-ny-sbu-serial")


@pytest.fixture(scope="session")
def medseg_dir() -> Path:
    """50 labelled 8-bit lung-window slices (images/, masks/)."""
    return _dataset("medseg100-train")


@pytest.fixture(autouse=True, scope="session")
def private_app_data(tmp_path_factory) -> Path:
    """The app's database goes to a temporary folder, never the user's."""
    data = tmp_path_factory.mktemp("app-data")
    os.environ["SCOAT_APP_DATA"] = str(data / "data")
    return data


@pytest.fixture(scope="session")
def erase_lungs():
    """``erase_lungs(dicom_folder)``: every slice becomes soft tissue (40 HU), so the lung
    segmentation finds no lungs (an exam that cannot be analysed)."""
    import numpy as np
    import pydicom

    def erase(folder: Path) -> None:
        for f in Path(folder).glob("*.dcm"):
            ds = pydicom.dcmread(f)
            stored = round((40 - float(ds.RescaleIntercept)) / float(ds.RescaleSlope))
            ds.PixelData = np.full_like(ds.pixel_array, stored).tobytes()
            ds.save_as(f)

    return erase
