"""Training and evaluation of the segmentation networks (datasets, losses, the loop, metrics)."""
