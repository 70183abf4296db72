"""Data shipped with SCOAT Follow-up, installed as the ``scoat_resources`` package.

``models/``: the shipped weights and ``manifest.json`` (see ``scoat_core.models.weights``);
``icons/``: the application icon (SVG, PNGs 16–512 px, ``.ico``, ``.icns``). pyproject.toml maps
this folder to ``scoat_resources`` so ``importlib.resources.files("scoat_resources")`` finds it in
an installed wheel; a source checkout without an install falls back to the folder itself.
"""
