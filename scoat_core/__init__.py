"""SCOAT Follow-up core: CT I/O, geometry, models, analysis and the `scoat` CLI (no GUI code)."""

__version__ = "0.1.0"
