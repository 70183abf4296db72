"""Errors of the lung segmentation (user errors: the CLI and the GUI show them as one line)."""

from ..errors import UserError


class LungSegmentationError(UserError):
    """The lungs could not be segmented (no lungs, unusable input...)."""


class NotHounsfieldError(LungSegmentationError, ValueError):
    """The volume does not hold Hounsfield units."""
