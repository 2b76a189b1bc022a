"""Thin wrapper of `dfer folds` (same flags)."""

import sys

from dfer.cli.folds import main

if __name__ == "__main__":
    sys.exit(main())
