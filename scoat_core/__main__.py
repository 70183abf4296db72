"""``python -m scoat_core``: the ``scoat`` command line."""

import sys

from scoat_core.cli.main import main

sys.exit(main())
