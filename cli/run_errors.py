"""How the commands that may run in several data-parallel processes (train, folds, evaluate) stop on an error.
Apart from errors.py, so that `dfer predict` and `dfer push` do not import the training stack."""

from dfer.training.distributed import leave_distributed_run

from .errors import report_error


def report_run_error(command: str, message: object) -> int:
    """`report_error`, then leave the process group: say why first, so that no process is cut short by the
    launcher before its message is out."""
    status = report_error(command, message)
    leave_distributed_run()
    return status
