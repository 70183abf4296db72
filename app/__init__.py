"""SCOAT Follow-up desktop application (PySide6). GUI code only; logic lives in scoat_core."""
