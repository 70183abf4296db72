"""Write the application icon set into resources/icons/ (run again after changing the SVG).

The SVG below is the only drawing: two stylised lungs with a trachea on a dark rounded square
and an amber opacity spot in the right lower lung (screen left, as on a radiological image).
Qt's SVG renderer turns it into PNGs (16–512 px); the Windows ``.ico`` and macOS ``.icns``
files are written here from those PNGs (both formats hold PNG data, so no extra tool is needed).

    .venv/bin/python packaging/make_icons.py [OUT_DIR]
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

NAME = "scoat-followup"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
#: ICNS element types that hold PNG data, by pixel size.
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}

SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <title>SCOAT Follow-up</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#1d4266"/>
      <stop offset="1" stop-color="#10263d"/>
    </linearGradient>
    <linearGradient id="lung" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#e3eef9"/>
      <stop offset="1" stop-color="#b7cde3"/>
    </linearGradient>
    <radialGradient id="halo" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0" stop-color="#ffb020" stop-opacity="0.95"/>
      <stop offset="0.55" stop-color="#f59e0b" stop-opacity="0.55"/>
      <stop offset="1" stop-color="#f59e0b" stop-opacity="0"/>
    </radialGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="52" fill="url(#bg)"/>
  <path d="M112 50 C84 52 60 92 50 140 C44 172 44 200 56 210 C74 212 94 198 114 204
           C120 206 124 200 124 192 L124 84 C124 64 120 50 112 50 Z" fill="url(#lung)"/>
  <path d="M144 50 C172 52 196 92 206 140 C212 172 212 200 200 210 C182 212 162 198 142 204
           C136 206 132 200 132 192 L132 84 C132 64 136 50 144 50 Z" fill="url(#lung)"/>
  <path d="M128 26 L128 96 M128 96 Q126 110 106 122 M128 96 Q130 110 150 122"
        fill="none" stroke="#7f9cbb" stroke-width="9" stroke-linecap="round"/>
  <circle cx="86" cy="162" r="38" fill="url(#halo)"/>
  <circle cx="86" cy="162" r="16" fill="#ffa31a"/>
</svg>
"""


def render_png(svg: bytes, size: int) -> bytes:
    """The SVG rendered at `size` × `size` pixels as PNG bytes (Qt's SVG renderer)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        raise ValueError("the icon SVG does not parse")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico holding PNG images (readable since Windows Vista)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        data = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256 in the directory entry
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        blobs += data
    return header + entries + blobs


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """A macOS .icns holding PNG images."""
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
                    for size, kind in sorted(ICNS_TYPES.items()))
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def write_icons(out: Path) -> list[Path]:
    """Write the SVG, the PNGs, the .ico and the .icns into `out`; returns the paths."""
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(["make_icons"])
    out.mkdir(parents=True, exist_ok=True)
    svg = SVG.encode()
    pngs = {size: render_png(svg, size) for size in SIZES}
    written = [out / f"{NAME}.svg", out / f"{NAME}.ico", out / f"{NAME}.icns"]
    written[0].write_bytes(svg)
    written[1].write_bytes(ico_bytes({s: pngs[s] for s in ICO_SIZES}))
    written[2].write_bytes(icns_bytes(pngs))
    for size, data in pngs.items():
        path = out / f"{NAME}-{size}.png"
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "resources" / "icons"
    for path in write_icons(target):
        print(f"{path}  {path.stat().st_size} bytes")
