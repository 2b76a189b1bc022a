"""One run per output folder: an exclusive `flock` on the folder's lock file, held for the whole run.

Two runs started on one output folder would both "succeed" while overwriting each other's checkpoints and final
files. The run that writes a folder holds an exclusive, non-blocking `flock` on `<output_dir>/.dfer-run.lock`
(`output_folder.LOCK_NAME`); a second run finds it taken and stops before any work, with a message naming the
process that holds it. The kernel releases the lock when the holder exits, however it exits (a crash or `kill -9`
included), so a stale lock never blocks the next run; the (empty) file itself stays. Under torchrun / accelerate
only the main process takes the lock (see `run.py`, which tells the other processes the outcome).
"""

import errno
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX (Windows): runs are not locked
    fcntl = None

from .output_folder import LOCK_NAME


class OutputFolderInUse(ValueError):
    """Another run holds the output folder's lock; the message names it and says what to do."""


class OutputFolderLock:
    """An exclusive lock on `folder` (created if missing), for `with` or `acquire()` / `release()`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._descriptor: int | None = None

    def acquire(self) -> "OutputFolderLock":
        """Take the lock; `OutputFolderInUse` if another run holds it, `ValueError` if the folder cannot be
        written."""
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"--output_dir {self.folder} is a file, not a folder: choose a folder for the run.")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as error:
            raise ValueError(
                f"cannot write the output folder {self.folder} ({error.strerror or error}): choose a folder you "
                "can write to with --output_dir."
            ) from error
        if fcntl is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = _read_holder(descriptor)
                os.close(descriptor)
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise ValueError(f"cannot lock {self.path}: {error}") from error
                raise OutputFolderInUse(
                    f"--output_dir {self.folder} is in use by another run{holder}: wait for it to finish, or "
                    "choose another --output_dir."
                ) from error
        # Only the holder writes: the process id, for the message another run shows.
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._descriptor = descriptor
        return self

    def release(self) -> None:
        if self._descriptor is None:
            return
        try:
            os.ftruncate(self._descriptor, 0)
        except OSError:
            pass
        os.close(self._descriptor)  # closing the file releases the flock
        self._descriptor = None

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def __enter__(self) -> "OutputFolderLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _read_holder(descriptor: int) -> str:
    try:
        text = os.pread(descriptor, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {text})" if text.isdigit() else ""


__all__ = ["OutputFolderInUse", "OutputFolderLock"]
