"""Thin wrapper of `dfer convert` (same flags)."""

import sys

from dfer.cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
