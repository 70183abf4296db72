"""Time to open an analysed exam in the app: database → CT + masks → both panes drawn.

Builds a phantom exam (300 slices of 512² by default), imports it into a fresh database,
stores an analysis (the phantom's true masks, so no network runs), then measures in one run:

* the first open, from the source file (reads the NIfTI, writes the CT cache);
* reopening, as after an app restart: ``Store.load_volume`` (cache) + ``Store.load_masks`` +
  ``ViewerPanel.set_exam`` + one repaint of both panes (the issue's target: ≤ 2 s).

Not part of the tests (``tests/test_benchmarks.py`` runs it small). Usage:
``QT_QPA_PLATFORM=offscreen python benchmarks/bench_open_exam.py [--matrix 512] [--z-mm 300]
[--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matrix", type=int, default=512)
    p.add_argument("--z-mm", type=float, default=300.0)
    p.add_argument("--slice-mm", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.views.viewer_panel import ViewerPanel
    from scoat_core.analysis.pipeline import AnalysisResult
    from scoat_core.analysis.quantify import quantify
    from scoat_core.io.exams import find_exams
    from scoat_core.io.images import write_image
    from scoat_core.phantom import make_phantom
    from scoat_core.store import Store

    app = QApplication.instance() or QApplication([])
    ph = make_phantom(matrix=args.matrix, z_extent_mm=args.z_mm,
                      slice_spacing_mm=args.slice_mm, slice_thickness_mm=args.slice_mm)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "exam_2020-03-01.nii"
        write_image(ph.ct, source)
        store = Store.open(tmp / "db" / "scoat.db")
        store.import_inventory(find_exams(source, load=False))
        exam = store.exams(store.patients()[0].id)[0]
        opacity = ph.ct.derive((ph.lesion.array > 0).astype("uint8"))
        result = AnalysisResult(lung=ph.lung, opacity=opacity,
                                metrics=quantify(ph.ct, ph.lung, opacity),
                                model={"name": "truth", "sha256": "0" * 64}, device="none",
                                seconds=0.0, stage_seconds={}, warnings=[])
        store.save_analysis(exam.selected.id, result, "bench")
        viewer = ViewerPanel()
        viewer.resize(1200, 700)
        viewer.show()

        def open_exam() -> float:
            t0 = time.perf_counter()
            series = store.exam(exam.id).selected
            volume = store.load_volume(series)
            lung, opac = store.load_masks(store.analysis(series.id))
            viewer.set_exam(volume, lung.array, opac.array, "bench")
            for pane in viewer.panes:
                pane.repaint()
            app.processEvents()
            return time.perf_counter() - t0

        first = open_exam()
        again = [open_exam() for _ in range(args.repeats)]
        store.close()
    out = {"shape_zyx": list(ph.ct.shape), "first_open_from_source_s": round(first, 3),
           "reopen_s_median": round(statistics.median(again), 3),
           "reopen_s_max": round(max(again), 3), "target_s": 2.0}
    print(f"exam {ph.ct.shape[0]}×{ph.ct.shape[1]}×{ph.ct.shape[2]}: first open from the source "
          f"{first:.2f} s; reopen (cache) median {out['reopen_s_median']:.2f} s, "
          f"max {out['reopen_s_max']:.2f} s (target ≤ 2 s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
