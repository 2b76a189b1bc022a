"""Thin wrapper of `dfer push` (same flags)."""

import sys

from dfer.cli.push import main

if __name__ == "__main__":
    sys.exit(main())
