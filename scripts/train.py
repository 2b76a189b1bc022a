"""Thin wrapper of `dfer train` (same flags), for `accelerate launch scripts/train.py ...`."""

import sys

from dfer.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
