"""Work is never lost and never mistaken for finished: resuming skips incomplete checkpoints, an output folder is
finished only once its completion marker is written, one run at a time per output folder, a checkpoint resumes
only the run that wrote it, and no token is written into the output folder."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file
from training_fixtures import cut_short, run_training, tiny_run_argv

from dfer.cli import evaluate, folds, train
from dfer.training.checkpoints import checkpoint_problem, newest_complete_checkpoint, run_argument_differences
from dfer.training.output_folder import (
    COMPLETION_NAME,
    LOCK_NAME,
    METRICS_NAME,
    EvaluationRecord,
    check_evaluation_record,
    is_complete_output,
)
from dfer.training.run_lock import OutputFolderInUse, OutputFolderLock

TOKEN = "hf_doNotWriteThisTokenAnywhere123"


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sample")


@pytest.fixture(scope="module")
def finished_run(sample_dir, tmp_path_factory):
    """A finished 2-epoch run (checkpoint-4 after epoch 1, checkpoint-8 at the end), passed a Hub token and logging
    to TensorBoard."""
    output_dir = tmp_path_factory.mktemp("run") / "out"
    argv = tiny_run_argv(sample_dir, output_dir, "gca_resnet", "--hub_token", TOKEN, "--report_to", "tensorboard")
    record = run_training(argv)
    return output_dir, record


def error_of(capsys) -> str:
    error = capsys.readouterr().err
    assert "Traceback" not in error
    lines = [line for line in error.splitlines() if "error:" in line]
    assert len(lines) == 1, error
    return lines[0]


# -- a finished folder -----------------------------------------------------------------------------------------


def test_a_finished_run_is_marked_complete_last(finished_run):
    output_dir, _ = finished_run
    assert is_complete_output(output_dir)
    listed = json.loads((output_dir / COMPLETION_NAME).read_text())["files"]
    assert {"config.json", "model.safetensors", "video_preprocessor_config.json", METRICS_NAME, "run_args.json",
            "confusion_matrix.png"} == set(listed)  # fmt: skip
    # Written after every file it lists.
    marker_time = (output_dir / COMPLETION_NAME).stat().st_mtime_ns
    assert all((output_dir / name).stat().st_mtime_ns <= marker_time for name in listed)
    # The lock is released (the file stays, empty).
    assert (output_dir / LOCK_NAME).read_text() == ""
    OutputFolderLock(output_dir).acquire().release()


def test_nothing_in_the_output_folder_carries_the_hub_token(finished_run):
    output_dir, _ = finished_run
    files = [path for path in output_dir.rglob("*") if path.is_file()]
    assert any(path.parent.name == "runs" or "runs" in path.parts for path in files)  # TensorBoard wrote logs
    assert {"training_args.bin", "checkpoint-4/training_args.bin"} <= {
        path.relative_to(output_dir).as_posix() for path in files
    }
    carrying = [path for path in files if TOKEN.encode() in path.read_bytes()]
    assert carrying == []
    saved = torch.load(output_dir / "training_args.bin", weights_only=False)
    assert saved.hub_token is None and saved.output_dir == str(output_dir)


def test_an_aborted_final_write_does_not_look_finished(sample_dir, tmp_path, monkeypatch):
    output_dir = tmp_path / "out"
    argv = tiny_run_argv(sample_dir, output_dir, "gca_resnet", "--num_train_epochs", "1")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    # metrics.json is written, then the disk fills up while the figure is written.
    monkeypatch.setattr("dfer.training.evaluation.save_confusion_matrix_figure", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train.main(argv)
    assert (output_dir / METRICS_NAME).is_file() and not is_complete_output(output_dir)
    monkeypatch.undo()

    # The lock went with the failed run; resuming finishes the folder.
    run_training([*argv, "--resume_from_checkpoint", "last"])
    assert is_complete_output(output_dir)
    (output_dir / "confusion_matrix.png").unlink()  # a file it lists is gone: not complete any more
    assert not is_complete_output(output_dir)


# -- resuming --------------------------------------------------------------------------------------------------


def damaged_copy(checkpoint, target, damage: str):
    shutil.copytree(checkpoint, target)
    if damage == "empty folder":  # killed the instant the folder was created
        for path in target.iterdir():
            path.unlink()
    elif damage == "no trainer state":  # killed before the Trainer wrote its state (it writes it last)
        (target / "trainer_state.json").unlink()
    elif damage == "weights cut short":
        cut_short(target / "model.safetensors")
    elif damage == "optimizer cut short":  # the disk filled up while the optimizer state was written
        cut_short(target / "optimizer.pt")
    elif damage == "no scheduler":
        (target / "scheduler.pt").unlink()
    elif damage == "trainer state not JSON":
        cut_short(target / "trainer_state.json")
    return target


@pytest.mark.parametrize(
    "damage, problem",
    [
        ("empty folder", "no trainer_state.json"),
        ("no trainer state", "no trainer_state.json"),
        ("trainer state not JSON", "trainer_state.json is not valid JSON"),
        ("weights cut short", "model.safetensors is damaged or cut short"),
        ("optimizer cut short", "optimizer.pt is damaged or cut short"),
        ("no scheduler", "scheduler.pt is missing"),
    ],
)
def test_an_incomplete_checkpoint_is_recognised(finished_run, tmp_path, damage, problem):
    output_dir, _ = finished_run
    assert checkpoint_problem(output_dir / "checkpoint-8") is None
    damaged = damaged_copy(output_dir / "checkpoint-8", tmp_path / "checkpoint-8", damage)
    assert problem in checkpoint_problem(damaged)
    shutil.copytree(output_dir / "checkpoint-4", tmp_path / "checkpoint-4")
    newest, incomplete = newest_complete_checkpoint(tmp_path)
    assert newest == tmp_path / "checkpoint-4" and [path.name for path, _ in incomplete] == ["checkpoint-8"]


@pytest.mark.parametrize("damage", ["empty folder", "optimizer cut short"])
def test_resume_last_skips_an_incomplete_newest_checkpoint(finished_run, sample_dir, tmp_path, damage, caplog):
    output_dir, record = finished_run
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    shutil.copytree(output_dir / "checkpoint-4", interrupted / "checkpoint-4")
    damaged_copy(output_dir / "checkpoint-8", interrupted / "checkpoint-8", damage)

    with caplog.at_level(logging.WARNING, logger="dfer.training.run"):
        resumed = run_training(tiny_run_argv(sample_dir, interrupted, "gca_resnet", "--resume_from_checkpoint", "last"))
    skipped = [entry.getMessage() for entry in caplog.records if "Skipped checkpoint-8" in entry.getMessage()]
    assert skipped and "incomplete-checkpoint-8" in skipped[0]
    # Resumed from checkpoint-4, it ends where the uninterrupted run ended.
    assert resumed["metrics"] == record["metrics"]
    final = load_file(output_dir / "model.safetensors")
    for name, tensor in load_file(interrupted / "model.safetensors").items():
        torch.testing.assert_close(tensor, final[name], msg=name)
    assert checkpoint_problem(interrupted / "checkpoint-8") is None
    assert (interrupted / "incomplete-checkpoint-8").is_dir()


def test_an_explicit_incomplete_checkpoint_is_refused_before_any_work(finished_run, sample_dir, tmp_path, capsys):
    output_dir, _ = finished_run
    damaged = damaged_copy(output_dir / "checkpoint-8", tmp_path / "checkpoint-8", "no trainer state")
    argv = tiny_run_argv(sample_dir, tmp_path / "out", "gca_resnet", "--resume_from_checkpoint", str(damaged))
    assert train.main(argv) == 2
    assert "is not a complete checkpoint: it has no trainer_state.json" in error_of(capsys)
    missing = tiny_run_argv(sample_dir, tmp_path / "out", "gca_resnet", "--resume_from_checkpoint", str(tmp_path / "x"))
    assert train.main(missing) == 2
    assert "--resume_from_checkpoint" in error_of(capsys) and not (tmp_path / "out").exists()


def test_resuming_another_runs_checkpoint_is_refused_unless_forced(finished_run, sample_dir, tmp_path, capsys):
    output_dir, record = finished_run
    folder = tmp_path / "out"
    folder.mkdir()
    shutil.copytree(output_dir / "checkpoint-4", folder / "checkpoint-4")

    other_seed = tiny_run_argv(sample_dir, folder, "gca_resnet", "--resume_from_checkpoint", "last", "--seed", "4")
    assert train.main(other_seed) == 2
    message = error_of(capsys)
    assert "checkpoint-4 was written by a run with other settings (seed 3 -> 4)" in message
    assert "--ignore_resume_mismatch" in message
    other_objective = [*other_seed[:-2], "--objective", "ce", "--fold", "2"]
    assert train.main(other_objective) == 2
    assert "fold 1 -> 2; objective 'ial' -> 'ce'" in error_of(capsys)
    assert not (folder / METRICS_NAME).exists()

    # A new run may not start over the checkpoints either.
    fresh = tiny_run_argv(sample_dir, folder, "gca_resnet")
    assert train.main(fresh) == 2
    assert "holds checkpoints of an earlier run (checkpoint-4): pass --resume_from_checkpoint last" in error_of(capsys)

    forced = run_training([*other_seed, "--ignore_resume_mismatch"])
    assert forced["metrics"]["num_clips"] == record["metrics"]["num_clips"]
    assert json.loads((folder / "run_args.json").read_text())["seed"] == 4


def test_run_arguments_that_make_a_run(finished_run):
    output_dir, _ = finished_run
    saved = json.loads((output_dir / "checkpoint-4" / "run_args.json").read_text())
    same = {**saved, "learning_rate": 0.5, "num_train_epochs": 10, "data_dir": f"/elsewhere/{saved['data_dir']}"}
    assert run_argument_differences(saved, same) == []  # schedule and dataset location may change
    changed = {**saved, "model": "logo_former", "sampler": "uniform", "auxiliary_weights": [0.1, 0.0]}
    assert run_argument_differences(saved, changed) == [
        "model 'gca_resnet' -> 'logo_former'", "sampler 'segment' -> 'uniform'",
        "auxiliary_weights [0.05, 0.0] -> [0.1, 0.0]",
    ]  # fmt: skip


# -- one run per output folder ---------------------------------------------------------------------------------


HOLDER = textwrap.dedent(
    """
    import sys, time
    from dfer.training.run_lock import OutputFolderLock
    lock = OutputFolderLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(600)
    """
)


def test_a_second_run_on_a_folder_in_use_is_refused(sample_dir, tmp_path, capsys):
    output_dir = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(output_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert train.main(tiny_run_argv(sample_dir, output_dir)) == 2
        assert f"is in use by another run (process {holder.pid})" in error_of(capsys)
        argv = [*tiny_run_argv(sample_dir, tmp_path), "--folds", "1"]
        argv[argv.index("--output_dir") + 1] = str(output_dir)
        assert folds.main(argv) == 2
        assert "is in use by another run" in error_of(capsys)
        assert sorted(path.name for path in output_dir.iterdir()) == [LOCK_NAME]  # nothing else was written
        with pytest.raises(OutputFolderInUse):
            OutputFolderLock(output_dir).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: the kernel releases the lock
        holder.wait()
    OutputFolderLock(output_dir).acquire().release()


def test_a_lock_released_in_one_process_is_free_for_the_next(tmp_path):
    with OutputFolderLock(tmp_path / "a") as lock:
        assert lock.held and (tmp_path / "a" / LOCK_NAME).read_text().strip() == str(os.getpid())
        with pytest.raises(OutputFolderInUse, match=rf"process {os.getpid()}"):
            OutputFolderLock(tmp_path / "a").acquire()
    assert not lock.held
    with OutputFolderLock(tmp_path / "a"):
        pass


# -- the fold protocol counts only finished folds --------------------------------------------------------------


def test_a_fold_with_metrics_but_no_completion_is_trained(sample_dir, tmp_path):
    root = tmp_path / "folds"
    argv = [*tiny_run_argv(sample_dir, root), "--num_train_epochs", "1", "--folds", "1"]
    assert folds.main(argv) == 0
    fold_1 = root / "fold_1"
    assert is_complete_output(fold_1)
    stamp = (fold_1 / "model.safetensors").stat().st_mtime_ns

    # Fold 2 looks finished the old way (a metrics.json, here fold 1's), but its run never completed.
    (root / "fold_2").mkdir()
    shutil.copy(fold_1 / METRICS_NAME, root / "fold_2" / METRICS_NAME)
    assert folds.main([*argv[:-1], "1", "2"]) == 0
    assert (fold_1 / "model.safetensors").stat().st_mtime_ns == stamp  # finished: not trained again
    assert is_complete_output(root / "fold_2") and (root / "fold_2" / "checkpoint-4").is_dir()
    assert EvaluationRecord.read(root / "fold_2").fold == 2
    summary = json.loads((root / "results.json").read_text())
    assert [row["fold"] for row in summary["folds"]] == [1, 2]


# -- dfer evaluate's record ------------------------------------------------------------------------------------


def test_evaluate_records_the_checkpoints_selection_and_name_only(finished_run, sample_dir, tmp_path):
    output_dir, record = finished_run
    data = ["--dataset", "sample", "--data_dir", str(sample_dir), "--sample_clips_per_class", "3", "--use_cpu"]
    assert evaluate.main(["--checkpoint", str(output_dir), *data, "--output_dir", str(tmp_path / "eval")]) == 0
    evaluated = json.loads((tmp_path / "eval" / METRICS_NAME).read_text())
    assert evaluated["checkpoint"] == output_dir.name == "out"
    assert evaluated["model_selection"] == record["model_selection"] == "last_epoch"
    assert evaluated["metrics"] == record["metrics"]
    assert str(tmp_path) not in (tmp_path / "eval" / METRICS_NAME).read_text()
    check_evaluation_record(evaluated)  # publishable

    # Without a GPU, `--bf16_full_eval` needs no `--use_cpu` (the commands default to it there).
    if not torch.cuda.is_available():
        bf16 = [arg for arg in data if arg != "--use_cpu"] + ["--bf16_full_eval", "--output_dir", str(tmp_path / "bf16")]
        assert evaluate.main(["--checkpoint", str(output_dir), *bf16]) == 0
        assert json.loads((tmp_path / "bf16" / METRICS_NAME).read_text())["metrics"]["war"] is not None

    # A converted checkpoint has no record of its own: "unknown". Evaluated into its own folder, too.
    converted = tmp_path / "converted"
    shutil.copytree(output_dir, converted, ignore=shutil.ignore_patterns("checkpoint-*", "runs", METRICS_NAME))
    assert evaluate.main(["--checkpoint", str(converted), *data, "--output_dir", str(converted)]) == 0
    evaluated = json.loads((converted / METRICS_NAME).read_text())
    assert evaluated["model_selection"] == "unknown" and evaluated["checkpoint"] == "converted"
    check_evaluation_record(evaluated)


def test_unknown_selection_is_only_for_evaluated_checkpoints(finished_run):
    output_dir, record = finished_run
    with pytest.raises(ValueError, match="model_selection 'unknown' is not one of last_epoch, validation, best_test_epoch."):
        check_evaluation_record({**record, "model_selection": "unknown"})
    check_evaluation_record({**record, "model_selection": "unknown", "checkpoint": "out"})
    with pytest.raises(ValueError, match="not a machine path"):
        check_evaluation_record({**record, "checkpoint": str(output_dir)})


def test_a_folder_that_cannot_be_written_is_refused_with_its_reason(tmp_path, monkeypatch, capsys, sample_dir):
    # (Root writes through permissions, so the denial is simulated; tests/cli covers real modes as non-root.)
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pathlib.Path.mkdir", denied)
    with pytest.raises(ValueError, match=r"cannot write the output folder .*\(Permission denied\): choose a folder"):
        OutputFolderLock(tmp_path / "out").acquire()
    monkeypatch.undo()

    monkeypatch.setattr("dfer.training.run_checks.os.access", lambda path, mode: False)
    assert train.main(tiny_run_argv(sample_dir, tmp_path / "out")) == 2
    assert f"{tmp_path} is not writable (permission denied)" in error_of(capsys)
    assert not (tmp_path / "out").exists()
