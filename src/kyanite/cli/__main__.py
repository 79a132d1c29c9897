"""``python -m kyanite.cli``: the same as the ``kyanite`` command."""

import sys

from kyanite.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
