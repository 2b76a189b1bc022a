"""How every subcommand reports a failure: one `dfer SUB: error: ...` line (plus detail lines when the message
has them, e.g. a dataset check's report) on stderr, never a traceback."""

import sys

USAGE_ERROR = 2
PARTIAL_FAILURE = 1


def report_error(command: str, message: object) -> int:
    """Print the error of `dfer <command>` and return the exit status of a usage / input error."""
    print(f"dfer {command}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def report_warning(command: str, message: object) -> None:
    """Print a warning of `dfer <command>` that does not change its outcome."""
    print(f"dfer {command}: warning: {message}", file=sys.stderr)
