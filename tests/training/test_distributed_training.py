"""Two data-parallel processes on CPU (gloo) train a few steps with each objective, launched as the README says:
`torchrun ... -m dfer.cli train` and `accelerate launch ... -m dfer.cli train`."""

import json
import os
import shlex
import subprocess
import sys

import pytest
from training_fixtures import tiny_run_argv

from dfer.training.output_folder import LOCK_NAME, is_complete_output
from dfer.training.run_lock import OutputFolderLock

LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"],
}  # fmt: skip


@pytest.mark.multiprocess
@pytest.mark.parametrize(
    "launcher, model, objective_args",
    [
        ("torchrun", "gca_resnet", ["--objective", "ce"]),
        ("torchrun", "gca_resnet", ["--objective", "ial"]),
        ("torchrun", "logo_former", ["--recipe", "logo_former"]),  # CE + compact loss with class centres
        ("accelerate", "gca_resnet", ["--objective", "ial"]),
    ],
)
def test_two_process_training(tmp_path, launcher, model, objective_args):
    output_dir = tmp_path / "out"
    argv = tiny_run_argv(tmp_path / "sample", output_dir, model, *objective_args, "--max_steps", "2")
    command = [*LAUNCHERS[launcher], "-m", "dfer.cli", "train", *argv]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)
    assert completed.returncode == 0, f"{shlex.join(command)}\n{completed.stderr[-3000:]}"

    record = json.loads((output_dir / "metrics.json").read_text())
    assert is_complete_output(output_dir)
    expected_objective = {"ce": "ce", "ial": "ial"}.get(objective_args[-1], "compact")
    assert record["objective"] == expected_objective
    # The test fold's 7 clips, split over two processes and gathered back without duplicates.
    assert record["metrics"]["num_clips"] == 7
    state = json.loads((output_dir / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # Both processes ran to the end (torchrun reports any failure); only the main one prints the summary.
    assert completed.stdout.count("on sample: UAR") == 1


@pytest.mark.multiprocess
def test_every_process_stops_cleanly_when_the_output_folder_is_in_use(tmp_path):
    """Only rank 0 takes the output folder's lock; when it cannot, every rank stops with the same one-line error
    before any work (none waits forever for a rank that gave up)."""
    output_dir = tmp_path / "out"
    argv = tiny_run_argv(tmp_path / "sample", output_dir, "gca_resnet", "--max_steps", "2")
    command = [*LAUNCHERS["torchrun"], "-m", "dfer.cli", "train", *argv]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with OutputFolderLock(output_dir):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert completed.returncode != 0
    errors = [line for line in completed.stderr.splitlines() if line.startswith("dfer train: error: ")]
    assert len(errors) == 2 and all("is in use by another run" in line for line in errors), completed.stderr[-3000:]
    assert "SIGABRT" not in completed.stderr and "terminate called" not in completed.stderr
    assert sorted(path.name for path in output_dir.iterdir()) == [LOCK_NAME]
    assert not (tmp_path / "sample").exists()  # no data was generated
