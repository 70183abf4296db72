"""Slice viewer speed: milliseconds to show one slice with the overlays in `app.views.slice_view`.

Builds a phantom (default 300 slices of 512², 1 mm) with its lesion and lung masks, shows it
in a SliceView of --size pixels, and times, over --n slices around the most involved one:

* ``axial scroll`` / ``coronal scroll``: ``set_slice`` + a synchronous paint (``repaint()``,
  or ``widget.grab()`` with ``--grab``), i.e. windowing, overlay compositing and drawing;
* ``axial window``: a window/level change on one slice (re-windowing, same overlays);
* ``axial overlay``: an overlay style change (the windowed grey slice is reused).

The target is ≤ 30 ms (≥ 30 frames/s while scrolling) for 512² slices. Without a display
the offscreen Qt platform is used. This is a benchmark, not part of the tests (a smoke test
runs it with a tiny phantom).

Usage: python benchmarks/bench_viewer.py [--slices 300] [--matrix 512] [--n 50]
       [--size 768] [--grab] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def stats(times_s: list[float]) -> dict[str, float]:
    ms = np.asarray(times_s) * 1000.0
    return {"n": len(ms), "mean_ms": float(ms.mean()), "p95_ms": float(np.percentile(ms, 95)),
            "max_ms": float(ms.max())}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--n", type=int, default=50, help="slices timed per case")
    parser.add_argument("--size", type=int, default=768, help="pane width and height (px)")
    parser.add_argument("--grab", action="store_true", help="paint through widget.grab()")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.views.slice_view import SliceView
    from scoat_core.display import key_slices
    from scoat_core.phantom import make_phantom

    app = QApplication.instance() or QApplication(sys.argv[:1])
    t0 = time.perf_counter()
    ph = make_phantom(matrix=args.matrix, z_extent_mm=float(args.slices), slice_spacing_mm=1.0,
                      slice_thickness_mm=1.0, seed=0)
    build_s = time.perf_counter() - t0
    key_z, key_y = key_slices(ph.lesion.array, ph.lung.array)

    def paint(view: SliceView) -> None:
        if args.grab:
            view.grab()
        else:
            view.repaint()
        app.processEvents()

    def make_view(plane: str) -> SliceView:
        view = SliceView(plane)
        view.resize(args.size, args.size)
        view.set_volume(ph.ct)
        view.set_masks(ph.lesion.array, ph.lung.array)
        view.set_label("benchmark")
        view.show()
        paint(view)
        return view

    def around(centre: int, total: int) -> list[int]:
        start = min(max(centre - args.n // 2, 0), max(total - args.n, 0))
        return [start + k for k in range(min(args.n, total))]

    def timed(view: SliceView, change, values) -> dict[str, float]:
        times = []
        for value in values:
            t = time.perf_counter()
            change(view, value)
            paint(view)
            times.append(time.perf_counter() - t)
        return stats(times)

    results: dict[str, dict[str, float]] = {}
    for plane, centre in (("axial", key_z), ("coronal", key_y)):
        view = make_view(plane)
        results[f"{plane} scroll"] = timed(view, SliceView.set_slice,
                                           around(centre, view.n_slices()))
        if plane == "axial":
            view.set_slice(centre)
            widths = [1500.0 + 7.0 * k for k in range(1, args.n + 1)]
            results["axial window"] = timed(view, lambda v, w: v.set_window(w, -600.0), widths)
            styles = [("fill", "contour")[k % 2] for k in range(args.n)]
            results["axial overlay"] = timed(view, SliceView.set_overlay_style, styles)
        view.close()

    print(f"phantom {ph.ct.shape[0]}×{ph.ct.shape[1]}×{ph.ct.shape[2]} built in {build_s:.1f} s; "
          f"pane {args.size}² px, paint via {'grab()' if args.grab else 'repaint()'}")
    print(f"{'case':<16}{'n':>4}{'mean ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, row in results.items():
        print(f"{name:<16}{row['n']:>4}{row['mean_ms']:>10.2f}{row['p95_ms']:>10.2f}"
              f"{row['max_ms']:>10.2f}")
    out = {"shape": list(ph.ct.shape), "pane_px": args.size, "grab": args.grab,
           "platform": app.platformName(), "cases": results}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
