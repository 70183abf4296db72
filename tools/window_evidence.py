"""Which HU window were the 8-bit medseg slices exported with? Evidence from a real HU CT.

The training images are 8-bit lung-window displays; the application feeds the network HU through
`scoat_core.analysis.normalization` (window [HU_LOW, HU_HIGH] → [0, 1]). This script checks that
window against the real HU chest CT (RICORD): its chest slices, cropped to the body's bounding box
like the medseg images, are mapped through each candidate window (25 HU grid); the window whose grey
histogram is closest to the medseg histogram (1-D Wasserstein distance, in grey levels) wins. The
aerated-lung peaks are reported as a cross-check.

Usage: python tools/window_evidence.py [--json OUT]   (reads ../shared/data or SCOAT_SHARED_DATA)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import io

from scoat_core.analysis.normalization import HU_HIGH, HU_LOW
from scoat_core.io.dicom import read_dicom
from scoat_core.shared_data import shared_data_dir


def gray_histogram(images: Path, pattern: str = "*.jpg") -> np.ndarray:
    hist = np.zeros(256)
    for path in sorted(images.glob(pattern)):
        hist += np.bincount(io.imread(path).ravel(), minlength=256)
    return hist / hist.sum()


def fit_windows(hu: np.ndarray, gray_hist: np.ndarray, lows, highs) -> list[tuple]:
    """(distance, low, high) of every candidate window, best first. The HU values are integers
    (rescaled DICOM), so their histogram mapped through each window is exact and fast."""
    values, counts = np.unique(np.round(hu).astype(np.int64), return_counts=True)
    weights = counts / counts.sum()
    fits = []
    for low in lows:
        for high in highs:
            h = np.bincount(to_gray(values, low, high), weights=weights, minlength=256)
            fits.append((wasserstein(h, gray_hist), low, high))
    return sorted(fits)


def pseudo_set_windows(hu: np.ndarray, pseudo: Path) -> dict[str, object]:
    """The display window of each of covid-semiseg-pseudo's two image groups."""
    out = {}
    for group, pattern in (("coronacases", "*coronacases*.jpg"),
                           ("radiopaedia", "*radiopaedia*.jpg")):
        hist = gray_histogram(pseudo / "images", pattern)
        fits = fit_windows(hu, hist, range(-1500, -699, 25), range(0, 3001, 50))
        at_ours = fit_windows(hu, hist, [int(HU_LOW)], [int(HU_HIGH)])[0][0]
        out[group] = {"mean_gray": round(float((np.arange(256) * hist).sum()), 1),
                      "best_histogram_fits_hu": [{"window": [lo, hi], "distance": round(d, 2)}
                                                 for d, lo, hi in fits[:5]],
                      "network_window_distance": round(at_ours, 2)}
    return out


def ricord_chest_pixels(dicom_dir: Path) -> np.ndarray:
    """HU of chest slices (lungs visible), each cropped to its body bounding box."""
    hu = read_dicom(dicom_dir).array.astype(np.float32)
    pixels = []
    for sl in hu:
        body = ndimage.binary_fill_holes(sl > -400)
        lab, n = ndimage.label(body)
        if n == 0:
            continue
        body = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
        filled = ndimage.binary_fill_holes(body)
        lung_fraction = np.count_nonzero(filled & (sl < -400)) / max(1, np.count_nonzero(filled))
        if lung_fraction < 0.15:
            continue
        rows, cols = np.nonzero(filled)
        pixels.append(sl[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].ravel())
    return np.concatenate(pixels)


def peak(values: np.ndarray, weights: np.ndarray, lo: float, hi: float) -> float:
    sel = (values >= lo) & (values <= hi)
    smooth = np.convolve(weights[sel], np.ones(5) / 5, "same")
    return float(values[sel][np.argmax(smooth)])


def to_gray(hu: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip(np.round((hu - low) / (high - low) * 255), 0, 255).astype(np.int64)


def wasserstein(h1: np.ndarray, h2: np.ndarray) -> float:
    return float(np.abs(np.cumsum(h1) - np.cumsum(h2)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = shared_data_dir()
    gray_hist = gray_histogram(data / "medseg100-train" / "images")
    hu = ricord_chest_pixels(data / "ricord-covid-chest-ct" / "dicom")
    grays = np.arange(256, dtype=float)
    g_lung = peak(grays, gray_hist, 10, 128)
    hu_bins = np.arange(-1200, 201, 5, dtype=float)
    hu_hist = np.histogram(hu, bins=np.append(hu_bins, 205))[0].astype(float)
    h_lung = peak(hu_bins, hu_hist, -1000, -600)
    fits = fit_windows(hu, gray_hist, range(-1500, -899, 25), range(0, 501, 25))
    ours = np.bincount(to_gray(hu, HU_LOW, HU_HIGH), minlength=256) / hu.size
    conventional = np.bincount(to_gray(hu, -1250, 250), minlength=256) / hu.size
    best_lo, best_hi = fits[0][1], fits[0][2]
    result = {
        "medseg_lung_peak_gray": g_lung,
        "ricord_lung_peak_hu": h_lung,
        "lung_peak_hu_under_best_window": round(best_lo + g_lung / 255 * (best_hi - best_lo)),
        "best_histogram_fits_hu": [{"window": [lo, hi], "distance": round(d, 2)}
                                   for d, lo, hi in fits[:5]],
        "used_window_hu": [HU_LOW, HU_HIGH],
        "used_window_distance": round(wasserstein(ours, gray_hist), 2),
        "conventional_window_hu": [-1250, 250],
        "conventional_window_distance": round(wasserstein(conventional, gray_hist), 2),
        "n_ricord_pixels": int(hu.size),
    }
    pseudo = data / "covid-semiseg-pseudo"
    if pseudo.is_dir():
        result["covid_semiseg_pseudo"] = pseudo_set_windows(hu, pseudo)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
