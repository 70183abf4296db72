"""Exam I/O speed on the real JPEG Lossless series: folder scan, series read, and SimpleITK.

Times (best of --repeat runs): `scan_path` of the RICORD folder (255 files, header-only),
`scan_path` of a folder of about 3,000 files (symlinks to those 255, in 12 sub-folders), our
`read_series` of the 255 slices (pixels decoded by pydicom's plugins), and SimpleITK's
ImageSeriesReader on the same files for comparison.

Usage: python benchmarks/bench_io.py [--repeat 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from scoat_core.io.dicom import read_series
from scoat_core.io.scan import scan_path
from scoat_core.shared_data import shared_dataset


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ricord = shared_dataset("ricord-covid-chest-ct")
    if ricord is None:
        raise SystemExit("the shared RICORD data is not available (SCOAT_SHARED_DATA)")
    folder = ricord / "dicom"
    files = sorted(folder.glob("*.dcm"))
    import SimpleITK as sitk

    def sitk_read() -> None:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
        reader.Execute()

    with tempfile.TemporaryDirectory() as tmp:
        for k in range(12):
            sub = Path(tmp) / f"copy{k:02d}"
            sub.mkdir()
            for f in files:
                (sub / f.name).symlink_to(f)
        n_big = 12 * len(files)
        results = {
            "scan_255_files_s": best_of(args.repeat, lambda: scan_path(folder)),
            f"scan_{n_big}_files_s": best_of(args.repeat, lambda: scan_path(tmp)),
            "read_series_255_slices_s": best_of(args.repeat, lambda: read_series(files)),
            "simpleitk_series_reader_255_slices_s": best_of(args.repeat, sitk_read),
        }
    for key, value in results.items():
        print(f"{key}: {value:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
