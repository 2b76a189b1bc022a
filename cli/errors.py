"""How every subcommand reports a failure: one `dfer SUB: error: ...` line (plus detail lines when the message
has them, e.g. a dataset check's report) on stderr, never a traceback."""

import sys

USAGE_ERROR = 2
PARTIAL_FAILURE = 1


def _write_line(text: str) -> None:
    # One write of the whole line: data-parallel processes share stderr, and `print` writes the text and its
    # newline separately, so two processes' messages could run together on one line.
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()


def report_error(command: str, message: object) -> int:
    """Print the error of `dfer <command>` and return the exit status of a usage / input error."""
    _write_line(f"dfer {command}: error: {message}")
    return USAGE_ERROR


def report_warning(command: str, message: object) -> None:
    """Print a warning of `dfer <command>` that does not change its outcome."""
    _write_line(f"dfer {command}: warning: {message}")
