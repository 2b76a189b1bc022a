"""TensorBoard logs are published (`--include-logs`) without this machine's host name or paths: renamed from the
structure of `runs/`, and rewritten to the training scalars, which TensorBoard still reads."""

import json
import re
import socket
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_model_card import TRAINING_HOST, write_tensorboard_logs, write_training_output
from training_fixtures import run_training, tiny_run_argv

from dfer.hub import PublishError, build_model_card, read_training_output, upload_operations
from dfer.hub.tensorboard_logs import publishable_logs


def published(folder: Path) -> dict[str, bytes]:
    output = read_training_output(folder)
    card = build_model_card(output, repo_id="alice/m", license="mit", include_logs=True)
    operations = upload_operations(output, card, include_logs=True)
    return {
        op.path_in_repo: op.path_or_fileobj if isinstance(op.path_or_fileobj, bytes) else Path(op.path_or_fileobj).read_bytes()
        for op in operations
    }


def write_out(files: dict[str, bytes], where: Path) -> Path:
    for name, content in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_bytes(content)
    return where


def test_the_logs_of_a_real_training_run_carry_neither_host_nor_path(tmp_path_factory):
    """A tiny training run with the Trainer's TensorBoard callback, as `dfer train` writes it."""
    base = tmp_path_factory.mktemp("real_run")
    argv = tiny_run_argv(base / "sample", base / "out", "gca_resnet")
    argv[argv.index("--report_to") + 1] = "tensorboard"
    run_training(argv)
    output = base / "out"
    host = socket.gethostname()
    (run_dir,) = (output / "runs").iterdir()
    assert run_dir.name.endswith(f"_{host}")  # what the Trainer wrote
    original = EventAccumulator(str(run_dir)).Reload()
    assert original.Tags()["tensors"]  # the text summaries of the run's arguments (with this machine's paths)
    assert any(str(output).encode() in events.read_bytes() for events in run_dir.iterdir())

    files = published(output)
    logs = {name: content for name, content in files.items() if name.startswith("runs/")}
    # Two event files in the one run folder: training's, and the final test metrics logged after the Trainer
    # closed its writer.
    assert len(logs) == 2 and len({Path(name).parent for name in logs}) == 1
    for name in logs:
        # The publisher numbers the files of one run that share a second (.0, .1): their names stay apart.
        assert re.fullmatch(rf"runs/{re.escape(run_dir.name.removesuffix('_' + host))}/events\.out\.tfevents\.\d+\.\d+", name)
        for path_part in name.split("/"):
            assert host not in path_part.split("_") and host not in path_part.split(".")
    for file_name, content in files.items():
        assert str(base).encode() not in content, file_name
    republished = EventAccumulator(str(write_out(logs, tmp_path_factory.mktemp("pub")) / Path(name).parent)).Reload()
    assert republished.Tags()["tensors"] == []  # no text summary left
    assert republished.Tags()["scalars"] == original.Tags()["scalars"]
    assert {"test/war", "test/uar"} <= set(original.Tags()["scalars"])
    for tag in original.Tags()["scalars"]:
        assert [(e.step, e.value) for e in republished.Scalars(tag)] == [(e.step, e.value) for e in original.Scalars(tag)]
        assert host not in tag.replace("/", "_").split("_")


def test_summary_writer_logs_keep_their_runs_apart(tmp_path):
    write_tensorboard_logs(tmp_path, host=TRAINING_HOST)
    write_tensorboard_logs(tmp_path, host="otherhost-9c1d")  # a second run on another machine, same second
    logs = publishable_logs(tmp_path, read_training_output_logs(tmp_path))
    names = [name for name, _ in logs]
    assert len(names) == len(set(names)) == 4
    assert not any(TRAINING_HOST in name or "otherhost" in name for name in names)
    for _, content in logs:
        assert TRAINING_HOST.encode() not in content and b"otherhost" not in content
        assert str(tmp_path).encode() not in content


def read_training_output_logs(folder: Path) -> tuple[str, ...]:
    return tuple(
        sorted(path.relative_to(folder).as_posix() for path in (folder / "runs").rglob("*tfevents*") if path.is_file())
    )


def test_a_damaged_log_is_refused_and_a_cut_last_record_dropped(tmp_path):
    write_tensorboard_logs(tmp_path)
    names = read_training_output_logs(tmp_path)
    main = tmp_path / min(names, key=len)
    content = main.read_bytes()
    main.write_bytes(content[:-5])  # the run was killed while it wrote its last record
    logs = dict(publishable_logs(tmp_path, names))
    assert len(logs) == 2
    main.write_bytes(content[:20] + bytes([content[20] ^ 0xFF]) + content[21:])
    with pytest.raises(PublishError, match="is damaged|not a readable TensorBoard event file") as error:
        publishable_logs(tmp_path, names)
    assert str(main) in str(error.value)
    main.write_bytes(b"not an event file at all, but long enough")
    with pytest.raises(PublishError, match="not a readable TensorBoard event file"):
        publishable_logs(tmp_path, names)


def test_a_scalar_named_after_the_host_is_refused(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    log_dir = tmp_path / "runs" / f"Jan01_00-00-00_{TRAINING_HOST}"
    writer = SummaryWriter(log_dir=str(log_dir))
    writer.add_scalar(f"{TRAINING_HOST}/loss", 1.0, 1)
    writer.close()
    with pytest.raises(PublishError, match="carries this machine's host name or a path"):
        publishable_logs(tmp_path, read_training_output_logs(tmp_path))


def test_logs_without_scalars_are_not_published(tmp_path):
    write_training_output(tmp_path, with_image=False)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path / "runs" / "Jan01_00-00-00_somehost"))
    writer.add_text("args", json.dumps({"output_dir": str(tmp_path)}))
    writer.close()
    with pytest.raises(PublishError, match="holds no training scalars to publish"):
        published(tmp_path)
