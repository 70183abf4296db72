"""Pure-numpy display helpers shared by the viewer, the figures and the PDF report (no Qt).

Conventions (radiological, as in Horos and syngo.via):

* axial images: patient right on the screen's left, anterior at the top;
* coronal images: patient right on the screen's left, superior at the top;
* a 2-D image returned here is ready to draw row by row; its physical pixel size is given by
  :func:`pixel_size_mm` so the caller can keep the aspect ratio.

Arrays are ``[z, y, x]`` (the :class:`~scoat_core.volume.Volume` layout).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Plane = Literal["axial", "coronal", "sagittal"]

#: Window presets: name → (width, level) in HU.
PRESETS: dict[str, tuple[float, float]] = {
    "lung": (1500.0, -600.0),
    "mediastinum": (400.0, 40.0),
}

#: Overlay colours (RGB), chosen to read on a dark background and in greyscale print.
COLOURS: dict[str, tuple[int, int, int]] = {
    "opacity": (255, 176, 0),  # amber
    "high": (230, 40, 120),  # magenta-red: HU > -200 part of the opacity
    "lung": (0, 190, 255),  # cyan lung contour
    "new": (230, 40, 40),
    "resolved": (40, 200, 90),
    "persistent": (255, 176, 0),
}


def window_to_uint8(image: np.ndarray, width: float, level: float) -> np.ndarray:
    """Map HU to 0–255 with a window of ``width`` centred on ``level`` (clipped)."""
    image = np.asarray(image)
    width = max(float(width), 1.0)
    lo = level - width / 2.0
    out = (image.astype(np.float32) - lo) * (255.0 / width)
    np.clip(out, 0, 255, out=out)
    if image.dtype.kind == "f":
        out[np.isnan(out)] = 0  # NaN (e.g. outside a resampled field of view) shows black
    return out.astype(np.uint8)


#: How a window preset is named in the viewer's controls.
PRESET_TITLES: dict[str, str] = {"lung": "Lung", "mediastinum": "Mediastinum"}


def _num(value: float) -> str:
    """A whole number with a typographic minus sign."""
    return format(value, ".0f").replace("-", "−")


def preset_of(width: float, level: float, tol: float = 0.5) -> str | None:
    """The name of the preset with this window (within ``tol`` HU), else None."""
    for name, (w, lev) in PRESETS.items():
        if abs(width - w) <= tol and abs(level - lev) <= tol:
            return name
    return None


def window_title(width: float, level: float) -> str:
    """``Lung (W1500 L−600)`` for a preset's window, ``Custom (W1620 L−560)`` for any other."""
    name = preset_of(width, level)
    if name is not None:
        width, level = PRESETS[name]
    title = PRESET_TITLES.get(name or "", "Custom")
    return f"{title} (W{_num(width)} L{_num(level)})"


def slice_title(index: int, n: int, instance_numbers: Sequence[int | None] = ()) -> str:
    """The slice line of a pane: ``Im 123 (slice 133/255)`` when slice ``index`` (0-based, in
    the volume's order) has a DICOM InstanceNumber, else ``Slice 133/255``.

    ``instance_numbers`` holds one entry per slice (:attr:`Volume.instance_numbers`); a list of
    another length (another plane, another grid) is ignored.
    """
    number = instance_numbers[index] if len(instance_numbers) == n and 0 <= index < n else None
    if number is None:
        return f"Slice {index + 1}/{n}"
    return f"Im {number} (slice {index + 1}/{n})"


def n_slices(shape: tuple[int, int, int], plane: Plane) -> int:
    """Number of slices of a ``[z, y, x]`` array in a plane."""
    return {"axial": shape[0], "coronal": shape[1], "sagittal": shape[2]}[plane]


def extract(array: np.ndarray, plane: Plane, index: int) -> np.ndarray:
    """The 2-D slice ``index`` of ``array`` in display orientation (a view where possible)."""
    if plane == "axial":
        return array[index]
    if plane == "coronal":
        return array[::-1, index, :]
    return array[::-1, :, index]


def slice_to_voxel(plane: Plane, index: int, row: float, col: float,
                   shape: tuple[int, int, int]) -> tuple[float, float, float]:
    """Voxel ``(z, y, x)`` of display pixel ``(row, col)`` of slice ``index`` (inverse of
    :func:`extract`)."""
    nz = shape[0]
    if plane == "axial":
        return float(index), row, col
    if plane == "coronal":
        return nz - 1 - row, float(index), col
    return nz - 1 - row, col, float(index)


def voxel_to_slice(plane: Plane, zyx: tuple[float, float, float],
                   shape: tuple[int, int, int]) -> tuple[int, float, float]:
    """``(slice index, row, col)`` showing voxel ``(z, y, x)`` in a plane."""
    z, y, x = zyx
    nz = shape[0]
    if plane == "axial":
        return round(z), y, x
    if plane == "coronal":
        return round(y), nz - 1 - z, x
    return round(x), nz - 1 - z, y


def pixel_size_mm(spacing_xyz: tuple[float, float, float], plane: Plane) -> tuple[float, float]:
    """(row height, column width) in mm of a displayed slice."""
    sx, sy, sz = spacing_xyz
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[plane]


def _axis_letter(vector: np.ndarray) -> str:
    """LPS letter of the dominant component of a direction vector ('L', 'R', 'P', ...)."""
    i = int(np.argmax(np.abs(vector)))
    pair = [("L", "R"), ("P", "A"), ("S", "I")][i]
    return pair[0] if vector[i] > 0 else pair[1]


_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "S": "I", "I": "S"}


def orientation_letters(direction: np.ndarray, plane: Plane) -> dict[str, str]:
    """Patient-direction letters at the ``left``, ``right``, ``top`` and ``bottom`` edges of a
    displayed slice, from the volume's direction cosines (columns: x, y, z axes in LPS)."""
    d = np.asarray(direction, float).reshape(3, 3)
    col_axis = {"axial": d[:, 0], "coronal": d[:, 0], "sagittal": d[:, 1]}[plane]
    row_axis = {"axial": d[:, 1], "coronal": -d[:, 2], "sagittal": -d[:, 2]}[plane]
    right, bottom = _axis_letter(col_axis), _axis_letter(row_axis)
    return {"left": _OPPOSITE[right], "right": right, "top": _OPPOSITE[bottom], "bottom": bottom}


def mask_edges(mask: np.ndarray) -> np.ndarray:
    """Boolean inner boundary of a 2-D mask: pixels of the mask with a 4-neighbour outside it
    (outside the image counts as outside, so a mask touching the border is closed there)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return np.zeros(m.shape, bool)
    p = np.pad(m, 1)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def compose(
    gray: np.ndarray,
    *,
    opacity: np.ndarray | None = None,
    high: np.ndarray | None = None,
    lung: np.ndarray | None = None,
    alpha: float = 0.45,
    mode: Literal["fill", "contour"] = "fill",
    colours: dict[str, tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """RGB uint8 image: a grey slice with the opacity (fill or contour), its high-opacity part
    in a second colour and the lung contour. Masks are 2-D booleans of the slice's shape.

    In ``fill`` mode each overlay pixel is ``grey·(1−alpha) + colour·alpha`` (alpha clipped to
    0–1); the high-opacity colour replaces the opacity colour where both apply.
    """
    if mode not in ("fill", "contour"):
        raise ValueError(f"overlay mode must be 'fill' or 'contour', got {mode!r}")
    c = {**COLOURS, **(colours or {})}
    g = np.asarray(gray, np.uint8)
    rgb = np.stack([g, g, g], axis=-1)  # (a broadcast assignment is ~10x slower)
    flat_rgb, flat_g = rgb.reshape(-1, 3), g.reshape(-1)
    op = None if opacity is None else np.asarray(opacity, bool)
    hi = None if high is None else np.asarray(high, bool)
    if mode == "contour":
        for name, m in (("opacity", op), ("high", hi)):
            if m is not None:
                flat_rgb[np.flatnonzero(mask_edges(m))] = c[name]
    else:
        if op is not None and hi is not None:
            op = op & ~hi
        a = min(max(float(alpha), 0.0), 1.0)
        ramp = np.arange(256, dtype=np.float32)[:, None] * (1.0 - a)
        for name, m in (("opacity", op), ("high", hi)):
            idx = np.flatnonzero(m) if m is not None else ()
            if len(idx):
                # one lookup table per colour: grey value → blended RGB
                lut = np.rint(ramp + np.asarray(c[name], np.float32) * a).astype(np.uint8)
                flat_rgb[idx] = lut[flat_g[idx]]
    if lung is not None:
        flat_rgb[np.flatnonzero(mask_edges(lung))] = c["lung"]
    return rgb


def key_slices(opacity: np.ndarray, lung: np.ndarray | None = None) -> tuple[int, int]:
    """(axial z, coronal y) that show the most opacity; the middle of the lungs (or of the
    volume) when there is none."""
    mask = np.asarray(opacity) > 0
    if mask.any():
        return int(mask.sum(axis=(1, 2)).argmax()), int(mask.sum(axis=(0, 2)).argmax())
    ref = np.asarray(lung) > 0 if lung is not None and np.any(lung) else None
    if ref is not None:
        zs, ys = np.nonzero(ref.any(axis=2))
        return int(np.median(zs)), int(np.median(ys))
    return opacity.shape[0] // 2, opacity.shape[1] // 2


#: Viewer layouts: name → the panes shown, left to right.
LAYOUTS: dict[str, tuple[Plane, ...]] = {
    "1x1": ("axial",),
    "1x2": ("axial", "coronal"),
    "1x3": ("axial", "coronal", "sagittal"),
}
#: How a layout is named in the menus and the viewer's toolbar.
LAYOUT_TITLES: dict[str, str] = {
    "1x1": "1×1 (axial)",
    "1x2": "1×2 (axial, coronal)",
    "1x3": "1×3 (axial, coronal, sagittal)",
}

_SLICE_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}  # the slice axis in [z, y, x] order


def reference_line(plane: Plane, other: Plane, index: int,
                   shape: tuple[int, int, int]) -> tuple[Literal["row", "col"], float]:
    """Where slice ``index`` of plane ``other`` crosses a displayed slice of ``plane``:
    ``("row", r)`` (a horizontal line through pixel row ``r``) or ``("col", c)`` (vertical)."""
    if other == plane:
        raise ValueError(f"a {plane} slice has no {other} reference line")
    zyx = [0.0, 0.0, 0.0]
    zyx[_SLICE_AXIS[other]] = float(index)
    _, row, col = voxel_to_slice(plane, tuple(zyx), shape)  # type: ignore[arg-type]
    along_rows = other == ("coronal" if plane == "axial" else "axial")
    return ("row", float(row)) if along_rows else ("col", float(col))


def position_text(lps: Sequence[float]) -> str:
    """An LPS point (mm) as patient directions: ``R 12.3 P 45.0 I 158.0 mm`` (x < 0 is right,
    y < 0 anterior, z < 0 inferior; each letter names the side, the number its distance)."""
    parts = []
    for value, (pos, neg) in zip(lps, (("L", "R"), ("P", "A"), ("S", "I")), strict=True):
        shown = round(float(value), 1)
        parts.append(f"{pos if shown >= 0 else neg} {abs(shown):.1f}")
    return " ".join(parts) + " mm"


def hover_text(value: float | None, lps: Sequence[float], plane: Plane, index: int,
               is_hu: bool = True) -> str:
    """The status line for the voxel under the mouse:
    ``HU −812 at R 12.3 P 45.0 I 158.0 mm (axial slice 154)`` (``index`` 0-based)."""
    name = "HU" if is_hu else "Value"
    if value is None or not np.isfinite(value):
        shown = "–"
    else:
        shown = _num(value) if is_hu else format(float(value), ".4g").replace("-", "−")
    return f"{name} {shown} at {position_text(lps)} ({plane} slice {index + 1})"
