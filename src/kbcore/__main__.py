"""``python -m kbcore``: the ``kbcore`` command."""

from __future__ import annotations

import sys

from kbcore.cli import main

if __name__ == "__main__":
    sys.exit(main())
