"""Analysing one exam: slices through the network, the opacity mask, volumetry, output files."""
