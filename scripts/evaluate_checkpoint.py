"""Thin wrapper of `dfer evaluate` (same flags)."""

import sys

from dfer.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
