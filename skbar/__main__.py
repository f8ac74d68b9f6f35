"""``python -m skbar``: the ``skbar`` command line (:mod:`skbar.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
