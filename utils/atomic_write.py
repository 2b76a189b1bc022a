"""Writing a file so that readers see the old file or the new one, never half of one.

Every output `dfer` writes that another program (or a later run) reads as finished goes through here: the
training run's records and completion marker, the fold table, the model card, `dfer predict`'s timelines.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: str | os.PathLike, write: Callable[[IO], object], mode: str = "w") -> None:
    """Call `write` with an open temporary file next to `path`, then rename that file over `path`.

    The temporary file is made by `tempfile.mkstemp` (O_CREAT | O_EXCL under a name no other run uses), so a
    file or symlink planted under any name is never written through, and `os.replace` replaces a symlink at `path`
    itself, never its target. Text (`mode="w"`) is UTF-8 with newlines written as given; `"wb"` for bytes. The
    data reach the disk before the rename, and the file gets the permissions a plain `open` would give. On any
    failure (a full disk, an interrupt) the temporary file is removed and `path` is left as it was. The folder
    must exist.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o666 & ~_current_umask())  # mkstemp alone makes the file private (0600)
        options = {"newline": "", "encoding": "utf-8"} if "b" not in mode else {}
        with os.fdopen(descriptor, mode, **options) as handle:
            descriptor = None  # closed by the `with` from here on
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if descriptor is not None:
            os.close(descriptor)
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """`write_atomically` of one string."""
    write_atomically(path, lambda handle: handle.write(text))


__all__ = ["write_atomically", "write_text_atomically"]
