"""Exports from the app: PNG figures and the PDF report."""
