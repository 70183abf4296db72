"""`scoat info --json` on each folder of the shared real data gives the right answer."""

from __future__ import annotations

import json

import pytest

from scoat_core.cli.main import main


def info_json(path, capsys) -> dict:
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ricord_series(ricord_dir, capsys):
    (series,) = info_json(ricord_dir, capsys)["series"]
    assert series["shape"] == [255, 512, 512]
    assert series["spacing_mm"] == pytest.approx([0.703125, 0.703125, 1.25])
    assert series["hu"] is True and series["modality"] == "CT"
    assert series["study_date"] == "2002-08-02"
    assert series["patient_id"] == "MIDRC-RICORD-1A-419639-000082"
    assert series["series_description"] == "ROUTINE CHEST NON-CON"
    assert series["warnings"] == []


def test_three_slice_spacing_from_positions(three_slice_dir, capsys):
    (series,) = info_json(three_slice_dir, capsys)["series"]
    assert series["shape"] == [3, 512, 512]
    assert series["spacing_mm"][2] == pytest.approx(1.0)
    assert series["slice_thickness_mm"] == pytest.approx(1.25)
    assert series["manufacturer"] == "GE MEDICAL SYSTEMS" and series["model"] == "LightSpeed Ultra"


def test_serial_patients_with_two_dated_exams(serial_dir, capsys):
    out = info_json(serial_dir, capsys)
    assert len(out["patients"]) == 10
    for patient in out["patients"]:
        dates = [e["study_date"] for e in patient["exams"]]
        assert len(dates) == 2 and dates == sorted(dates) and dates[0] < dates[1]
    for series in out["series"]:
        assert series["shape"][0] == 1
        assert series["hu"] is True, series  # includes RescaleType "Houndsfield Unit"
        assert any("one slice" in w for w in series["warnings"])


def test_medseg_images_are_not_exams(medseg_dir, capsys):
    assert main(["info", str(medseg_dir)]) == 1
    assert "no usable CT image series" in capsys.readouterr().err
