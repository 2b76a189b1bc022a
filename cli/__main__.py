"""`python -m dfer.cli`, which is also how launchers start it: `torchrun ... -m dfer.cli train ...`."""

import sys

from dfer.cli import main

sys.exit(main())
