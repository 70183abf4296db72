"""`scoat demo` prints each exam's error against the truth and flags a wrong trend."""

from __future__ import annotations

from scoat_core.cli.demo import _print_checks


def row(day: str, lov: float, lung: float, true_lov: float, true_lung: float = 4000.0):
    e = {"study_date": day, "lov_ml": lov, "lung_volume_ml": lung, "po_percent": 100 * lov / lung}
    t = {"study_date": day, "lesion_ml_total": true_lov, "lung_ml_total": true_lung,
         "percent_involved": 100 * true_lov / true_lung}
    return e, t


def test_errors_and_trends(capsys):
    _print_checks([row("2020-02-01", 110, 4010, 120), row("2020-02-06", 300, 3990, 319),
                   row("2020-02-12", 150, 4000, 399)])
    out = capsys.readouterr().out.splitlines()
    assert any("2020-02-01" in line and "-8.3%" in line and "ok" in line for line in out)
    assert any("2020-02-12" in line and "-62.4%" in line and "OUT" in line for line in out)
    first = next(line for line in out if "2020-02-01 → 2020-02-06" in line)
    second = next(line for line in out if "2020-02-06 → 2020-02-12" in line)
    assert first.split()[-2:] == ["progression", "progression"]
    assert second.split()[-3:] == ["absorption", "progression", "WRONG"]


def test_the_demo_timeline_arguments_load_the_shipped_model(tmp_path):
    from scoat_core.cli.analysis import load_checked_model
    from scoat_core.cli.demo import timeline_args

    model = load_checked_model(timeline_args(tmp_path, tmp_path / "analysis"))
    assert model.info.get("verified") is not False
