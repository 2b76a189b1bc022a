"""Stress test of the data-parallel exit: two-process training (`torchrun -m dfer.cli train`, gloo on CPU) run
again and again with a CPU-burning process beside it; every run must exit 0 with a complete output folder.

    python scripts/stress_distributed_training.py [--runs 20] [--burners 1] [--launcher torchrun|accelerate]

Before the fix (the Trainer and DDP model released, a barrier, then the process group destroyed, see
dfer/training/distributed.py) such runs aborted now and then on a loaded 2-core machine: rank 1 died with
SIGABRT ("terminate called without an active exception") after training had finished.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from training_fixtures import tiny_run_argv  # noqa: E402  (the test suite's tiny training settings)

from dfer.training.output_folder import METRICS_NAME, RUN_ARGS_NAME, WEIGHTS_NAME  # noqa: E402

LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"],
}  # fmt: skip
BURN = "while True: pass"


def one_run(launcher: str, folder: Path) -> tuple[bool, float, str]:
    """(succeeded, seconds, tail of stderr) of one two-process training run in `folder`."""
    output_dir = folder / "out"
    argv = tiny_run_argv(folder / "sample", output_dir, "gca_resnet", "--objective", "ial", "--max_steps", "2")
    command = [*LAUNCHERS[launcher], "-m", "dfer.cli", "train", *argv]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900)
    seconds = time.perf_counter() - started
    complete = all((output_dir / name).is_file() for name in (WEIGHTS_NAME, METRICS_NAME, RUN_ARGS_NAME))
    succeeded = completed.returncode == 0 and complete
    detail = "" if succeeded else f"exit {completed.returncode}\n{shlex.join(command)}\n{completed.stderr[-2000:]}"
    return succeeded, seconds, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burners", type=int, default=1, help="CPU-burning processes running beside training")
    parser.add_argument("--launcher", choices=list(LAUNCHERS), default="torchrun")
    args = parser.parse_args()
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.burners)]
    failures = 0
    try:
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory() as folder:
                succeeded, seconds, detail = one_run(args.launcher, Path(folder))
            failures += not succeeded
            print(f"run {run:>3}/{args.runs}: {'ok' if succeeded else 'FAILED'} in {seconds:.1f} s", flush=True)
            if detail:
                print(detail, flush=True)
    finally:
        for burner in burners:
            burner.kill()
    print(f"{args.launcher}, {args.burners} CPU burner(s): {args.runs - failures} of {args.runs} runs ok, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
