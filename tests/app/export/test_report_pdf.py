"""PDF report and PNG export (offscreen Qt): pages, searchable text, anonymisation, DPI."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6", reason="PySide6 (the gui extra) is not installed")

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel

from app.export.pdf import _image_block, write_pdf
from app.export.png import save_png
from scoat_core.phantom import make_phantom
from scoat_core.report.content import build_report, report_exam

PID, NAME = "PAT4711", "Musterfrau^Erika"
MODEL = {"name": "scoat-net", "width": 32, "arch": "scoat", "sha256": "fedcba9876543210" * 4}
HAS_PDFTOTEXT = shutil.which("pdftotext") is not None


@pytest.fixture(scope="module")
def base_exam():
    ph = make_phantom(matrix=64, slice_spacing_mm=5.0, slice_thickness_mm=5.0, seed=3,
                      lesion_ml=150, patient_id=PID, patient_name=NAME)
    metrics = {"lov_ml": 150.0, "po_percent": 4.1, "pho_percent": 0.7,
               "lung_volume_ml": 3600.0, "severity_score": 6, "exam": ph.ct.info.to_json()}
    return report_exam(metrics, ph.ct, ph.lung, ph.lesion)


def _exams(base, n: int):
    """``n`` dated exams sharing the phantom's key images, LOV rising then falling."""
    out = []
    for i in range(n):
        lov = 150.0 + 80.0 * i - 30.0 * i * i
        day = base.study_date + timedelta(days=6 * i)
        metrics = {**base.metrics, "lov_ml": lov, "po_percent": lov / 36.0,
                   "exam": {**base.metrics["exam"], "study_date": day.isoformat()}}
        out.append(dataclasses.replace(base, study_date=day, metrics=metrics,
                                       label=day.isoformat()))
    return out


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def _text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture(scope="module")
def reports(qapp, base_exam, tmp_path_factory):
    """PDFs of 1 and 5 exams: {n: (path, page count returned by write_pdf)}."""
    folder = tmp_path_factory.mktemp("reports")
    out = {}
    for n in (1, 5):
        data = build_report(PID, NAME, _exams(base_exam, n), MODEL, "9.8.7")
        path = folder / f"report{n}.pdf"
        out[n] = (path, write_pdf(data, path))
    assert not list(folder.glob(".*tmp"))  # no temporary file left behind
    return out


def test_pdf_pages_fonts_and_images(reports):
    for path, pages in reports.values():
        raw = path.read_bytes()
        assert raw.startswith(b"%PDF") and raw.rstrip().endswith(b"%%EOF")
        assert _pages(raw) == pages
        assert b"/FontFile" in raw or b"/Font" in raw  # text drawn as text, font embedded
        assert b"/Image" in raw
    assert reports[1][1] >= 2  # page 1: header/table/plot, then the key images
    assert reports[5][1] > reports[1][1]


@pytest.mark.skipif(not HAS_PDFTOTEXT, reason="pdftotext not installed")
def test_pdf_text_is_searchable(reports):
    path, pages = reports[5]
    text = _text(path)
    assert PID in text and "Musterfrau Erika" in text
    assert "not for diagnostic use" in text
    assert "Lung opacification follow-up" in text
    assert text.count("Page ") == pages and f"Page {pages}/{pages}" in text
    assert "LOV 150.0 mL · PO 4.2 %" in text  # written over the first key image
    assert "sha256 fedcba987654" in text and "9.8.7" in text
    assert "+50.0" in text and "progression" in text  # the table's signed change


@pytest.mark.skipif(not HAS_PDFTOTEXT, reason="pdftotext not installed")
def test_anonymised_pdf_has_no_name_or_id(qapp, tmp_path, base_exam):
    data = build_report(PID, NAME, _exams(base_exam, 2), MODEL, "0.1.0", anonymise=True,
                        birth_date=date(1960, 1, 2))
    path = tmp_path / "anon.pdf"
    write_pdf(data, path)
    text = _text(path)
    assert "Anonymised" in text
    for secret in (PID, "Musterfrau", "Erika", "1960"):
        assert secret not in text
        assert secret.encode() not in path.read_bytes()  # metadata too


def test_failed_write_keeps_old_file(qapp, tmp_path, base_exam, monkeypatch):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"old report")

    def boom(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr("app.export.pdf._draw_footer", boom)
    data = build_report(PID, NAME, _exams(base_exam, 1), MODEL, "0.1.0")
    with pytest.raises(RuntimeError):
        write_pdf(data, path)
    assert path.read_bytes() == b"old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]
    with pytest.raises(OSError):
        write_pdf(data, tmp_path / "missing" / "r.pdf")


def test_plot_image_keeps_aspect(qapp):
    block = _image_block(QImage(800, 400, QImage.Format.Format_RGB32), 1000.0, 10_000.0)
    assert block.height == pytest.approx(500.0)
    tall = _image_block(QImage(400, 800, QImage.Format.Format_RGB32), 1000.0, 600.0)
    assert tall.height == pytest.approx(600.0)  # limited height, width shrinks with it


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm not installed")
def test_key_image_page_shows_the_overlay(qapp, tmp_path, base_exam):
    path = tmp_path / "r.pdf"
    write_pdf(build_report(PID, NAME, _exams(base_exam, 1), MODEL, "0.1.0"), path)
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "2", "-l", "2", str(path),
                    str(tmp_path / "page")], check=True)
    image = QImage(str(next(tmp_path.glob("page*.png")))).convertToFormat(
        QImage.Format.Format_RGB888)
    a = np.frombuffer(image.constBits(), np.uint8).reshape(
        image.height(), image.bytesPerLine())[:, :image.width() * 3].reshape(
        image.height(), image.width(), 3).astype(int)
    assert ((a[..., 0] - a[..., 2]) > 60).sum() > 10  # amber opacity visible
    assert ((a[..., 2] - a[..., 0]) > 100).sum() > 10  # cyan lung contour visible


@pytest.mark.skipif(not HAS_PDFTOTEXT, reason="pdftotext not installed")
def test_single_slice_follow_up_says_it_shows_its_own_key_slice(qapp, tmp_path):
    """A follow-up of one slice cannot be matched in 3-D: its row shows its own key slice and
    says why, its interval page says there is no change map, the coronal page that it has no
    coronal image."""
    from scoat_core.followup.comparison import TimePoint
    from scoat_core.followup.registration import register
    from scoat_core.report.series import report_series
    from tests.app.patients import single_slice

    ph = make_phantom(matrix=64, slice_spacing_mm=5.0, slice_thickness_mm=5.0, seed=3,
                      lesion_ml=150, patient_id=PID, patient_name=NAME)
    one = single_slice(ph)
    one[0].info = ph.ct.info.replace(study_date=ph.ct.info.study_date + timedelta(days=7))
    points = [TimePoint(k, str(ct.info.study_date), ct, lung.array, lesion.array,
                        {"lov_ml": lov, "po_percent": 4.0, "exam": ct.info.to_json()})
              for k, (ct, lung, lesion), lov in ((1, (ph.ct, ph.lung, ph.lesion), 150.0),
                                                  (2, one, 6.0))]
    reg = register(ph.lung, one[1])
    exams, intervals, _ = report_series(points, {2: reg})
    path = tmp_path / "thin.pdf"
    pages = write_pdf(build_report(PID, NAME, exams, MODEL, "0.1.0", intervals=intervals), path)
    text = " ".join(_text(path).split())
    assert "Own key slice, not at the matched levels: 2-D rigid + affine registration (single " \
           "slice)" in text
    assert "Own key slice" in text and "Level 1" in text
    assert "No change map: 2-D rigid + affine registration (single slice) only, not 3-D" in text
    assert f"No coronal image of {one[0].info.study_date}" in text
    assert pages == 4  # summary, key images, coronal, the interval


def test_save_png_widget_at_dpi(qtbot, tmp_path):
    label = QLabel("LOV 123 mL")
    qtbot.addWidget(label)
    label.resize(200, 100)
    path = save_png(label, tmp_path / "view.png", dpi=192)
    assert path == tmp_path / "view.png"
    image = QImage(str(path))
    assert (image.width(), image.height()) == (400, 200)
    assert image.dotsPerMeterX() == pytest.approx(192 / 0.0254, abs=2)
    assert not list(tmp_path.glob(".*tmp"))


def test_save_png_image_tags_dpi(qapp, tmp_path):
    src = QImage(30, 20, QImage.Format.Format_RGB32)
    src.fill(0x336699)
    path = save_png(src, tmp_path / "plot.png", dpi=300)
    image = QImage(str(path))
    assert (image.width(), image.height()) == (30, 20)
    assert image.dotsPerMeterY() == pytest.approx(300 / 0.0254, abs=2)
    assert image.pixel(5, 5) & 0xFFFFFF == 0x336699
    with pytest.raises(ValueError):
        save_png(QImage(), tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()
