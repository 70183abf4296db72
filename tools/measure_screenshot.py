"""The Viewer with a ruler and an ellipse ROI drawn through the Tools menu, as a screenshot.

Usage: QT_QPA_PLATFORM=offscreen python tools/measure_screenshot.py DICOM_FOLDER OUT.png
[--slice Z] [--ruler R0 C0 R1 C1] [--ellipse R0 C0 R1 C1]

Imports DICOM_FOLDER into a temporary database, opens it in the main window, turns on Tools ›
Ruler and Tools › Ellipse ROI, drags each with mouse events on the axial pane (pixel rows and
columns of the slice) and saves the window.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--slice", type=int, default=None)
    parser.add_argument("--ruler", type=float, nargs=4, default=(215, 72, 215, 190))
    parser.add_argument("--ellipse", type=float, nargs=4, default=(272, 410, 332, 444))
    args = parser.parse_args()
    os.environ["SCOAT_APP_DATA"] = tempfile.mkdtemp(prefix="scoat-measure-")
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from scoat_core.io.exams import find_exams
    from scoat_core.store import Store
    from tests.app.mouse import drag

    app = QApplication.instance() or QApplication([])
    with Store.open(Path(os.environ["SCOAT_APP_DATA"]) / "scoat.db") as store:
        store.import_inventory(find_exams(args.source))
    window = MainWindow(interactive=False)
    window.resize(1500, 900)
    window.show()
    (patient,) = window.store.patients()
    window.open_exam(window.store.exams(patient.id)[0].id)
    while window.busy() or window.exam_data is None:
        app.processEvents()
        time.sleep(0.02)
    pane = window.viewer.axial
    if args.slice is not None:
        pane.set_slice(args.slice)
    for kind, box in (("ruler", args.ruler), ("ellipse", args.ellipse)):
        getattr(window.measure_tools, kind).trigger()
        r0, c0, r1, c1 = box
        drag(pane, pane.map_from_pixel(r0, c0).toPoint(), pane.map_from_pixel(r1, c1).toPoint())
    window.measure_tools.leave.trigger()
    for _ in range(20):
        app.processEvents()
    print("\n".join(pane.measures.shown_texts()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab_window().save(str(args.out))
    window.close()
    window.store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
