"""Run Python code in a fresh process that cannot import `dfer`, as a user loading a Hub checkpoint with
`trust_remote_code=True` would."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# An editable install puts `dfer` on every interpreter of the environment through a meta-path finder (or a
# path entry); remove both so the child sees only what a plain user environment has.
_REPO_PATHS = {str(REPO_ROOT), str(REPO_ROOT / "tests")}
_HIDE_DFER = f"""
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")
                    and "__editable__" not in type(f).__module__]
sys.path[:] = [p for p in sys.path if p.rstrip("/") not in {_REPO_PATHS!r} and "__editable__" not in p]
sys.path_importer_cache.clear()
try:
    import dfer  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("isolation failed: dfer is importable")
"""


def run_without_dfer(code: str, cwd: Path, timeout: float = 300) -> str:
    """Run `code` in `python -I` (stdin closed, working directory `cwd`, no PYTHONPATH); return its stdout."""
    script = _HIDE_DFER + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(cwd), "OMP_NUM_THREADS": "1"},
    )
    if result.returncode != 0:
        raise AssertionError(f"child process failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout
