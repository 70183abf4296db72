"""The ``scoat`` command line: one module per group of commands, shared helpers in ``common``."""
