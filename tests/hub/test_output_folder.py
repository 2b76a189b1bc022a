"""A training output folder is read and checked before anything is sent: every problem ends in one message that
names the file, and only the files a Hub repository should hold are uploaded."""

import json
import shutil
from pathlib import Path

import pytest
from test_model_card import CONFUSION, write_training_output

from dfer.hub import PublishError, build_model_card, read_training_output, upload_operations
from dfer.training.output_folder import InvalidEvaluationRecord, check_evaluation_record


@pytest.fixture(scope="module")
def training_output(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    write_training_output(folder)
    return folder


def fresh_copy(training_output: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(training_output, tmp_path / "run"))


def test_only_publishable_files_are_uploaded(training_output):
    output = read_training_output(training_output)
    card = build_model_card(output, repo_id="alice/m")
    paths = [operation.path_in_repo for operation in upload_operations(output, card)]
    expected = {
        "README.md",
        "config.json",
        "model.safetensors",
        "video_preprocessor_config.json",
        "metrics.json",
        "run_args.json",
        "confusion_matrix.png",
    }
    expected |= {path.name for path in training_output.glob("*.py")}
    assert set(paths) == expected and len(paths) == len(expected)
    assert {"configuration_gca_resnet.py", "modeling_gca_resnet.py", "video_processing_dfer.py"} <= set(paths)
    with pytest.raises(PublishError, match="holds no TensorBoard files"):
        upload_operations(output, card, include_logs=True)


def _edit_json(folder: Path, name: str, edit) -> None:
    path = folder / name
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "model.safetensors").unlink(), r"has no model\.safetensors"),
        (lambda f: (f / "metrics.json").unlink(), r"metrics\.json is missing"),
        (lambda f: (f / "run_args.json").write_text("{not json"), r"run_args\.json is not valid JSON"),
        (lambda f: (f / "video_preprocessor_config.json").unlink(), "has no video processor"),
        (
            lambda f: _edit_json(f, "config.json", lambda c: c.pop("auto_map")),
            "no auto_map entry for AutoConfig",
        ),
        (lambda f: (f / "modeling_gca_resnet.py").unlink(), r"modeling_gca_resnet\.py is missing"),
        (
            lambda f: _edit_json(f, "video_preprocessor_config.json", lambda c: c.pop("auto_map")),
            "no auto_map entry for AutoVideoProcessor",
        ),
        (
            lambda f: _edit_json(f, "metrics.json", lambda m: m["metrics"].update(war=0.9)),
            "the confusion matrix gives",
        ),
        (
            lambda f: _edit_json(f, "metrics.json", lambda m: m["metrics"].update(uar=66.1)),
            "percentages are not",
        ),
        (
            lambda f: _edit_json(
                f, "metrics.json", lambda m: m["metrics"]["per_class_accuracy"].update(Sad=0.5)
            ),
            r"per_class_accuracy\['Sad'\]",
        ),
        (
            lambda f: _edit_json(f, "metrics.json", lambda m: m["metrics"].update(num_clips=5)),
            f"counts {sum(map(sum, CONFUSION))} clips",
        ),
        (
            lambda f: _edit_json(
                f, "config.json", lambda c: c["id2label"].update({"0": "Sad", "1": "Happy"})
            ),
            "same classes in the same order",
        ),
        (lambda f: _edit_json(f, "metrics.json", lambda m: m.update(fold=None)), "must name its fold"),
        (
            lambda f: _edit_json(f, "metrics.json", lambda m: m.update(model_selection="best")),
            "model_selection",
        ),
        (
            lambda f: _edit_json(f, "metrics.json", lambda m: m.update(model_type="logo_former")),
            "another run",
        ),
    ],
)
def test_a_bad_folder_fails_with_one_message_naming_the_file(training_output, tmp_path, damage, message):
    folder = fresh_copy(training_output, tmp_path)
    damage(folder)
    with pytest.raises(PublishError, match=message) as error:
        read_training_output(folder)
    assert str(folder) in str(error.value)


def test_the_metrics_check_is_the_schema_check(training_output, tmp_path):
    """The publisher reports what `dfer.training.output_folder` finds wrong with metrics.json, naming the file."""
    folder = fresh_copy(training_output, tmp_path)
    _edit_json(folder, "metrics.json", lambda m: m.update(dataset="affectnet"))
    with pytest.raises(InvalidEvaluationRecord) as schema_error:
        check_evaluation_record(json.loads((folder / "metrics.json").read_text()))
    with pytest.raises(PublishError) as error:
        read_training_output(folder)
    assert str(error.value) == f"{folder / 'metrics.json'}: {schema_error.value}"
    assert "dataset 'affectnet' is not one of dfew, ferv39k, mafw, sample, videofolder, manifest" in str(error.value)


# --- Nothing leaves the folder it belongs to -------------------------------------------------------------------


def uploaded(folder: Path, include_logs: bool = False) -> dict[str, bytes]:
    """path in the repository -> the bytes a push of `folder` would upload."""
    output = read_training_output(folder)
    operations = upload_operations(output, build_model_card(output, repo_id="alice/m"), include_logs=include_logs)
    return {
        op.path_in_repo: op.path_or_fileobj if isinstance(op.path_or_fileobj, bytes) else Path(op.path_or_fileobj).read_bytes()
        for op in operations
    }


def shard_the_weights(folder: Path, shard_name: str) -> None:
    """Replace model.safetensors by an index naming `shard_name` for every tensor (the shard itself is left where
    the name points, if it can be)."""
    from safetensors import safe_open

    with safe_open(folder / "model.safetensors", "pt") as weights:
        names = list(weights.keys())
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    index = {"metadata": {"total_size": 1}, "weight_map": {name: shard_name for name in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def test_sharded_weights_are_published_with_their_index(training_output, tmp_path):
    folder = fresh_copy(training_output, tmp_path)
    shard_the_weights(folder, "model-00001-of-00001.safetensors")
    files = uploaded(folder)
    assert {"model.safetensors.index.json", "model-00001-of-00001.safetensors"} <= set(files)
    assert "model.safetensors" not in files


@pytest.mark.parametrize("where", ["absolute", "parent", "nested_parent", "not_safetensors"])
def test_a_shard_name_outside_the_folder_is_refused(training_output, tmp_path, where):
    folder = fresh_copy(training_output, tmp_path)
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"a file of someone else")
    name = {
        "absolute": str(outside),
        "parent": "../outside.safetensors",
        "nested_parent": "sub/../../outside.safetensors",
        "not_safetensors": "config.json",
    }[where]
    shard_the_weights(folder, name)
    with pytest.raises(PublishError, match="names the shard") as error:
        read_training_output(folder)
    assert repr(name) in str(error.value) and str(folder / "model.safetensors.index.json") in str(error.value)


def test_the_dry_run_refuses_an_outside_shard_with_one_line(training_output, tmp_path, capsys):
    from dfer.cli import main as dfer

    folder = fresh_copy(training_output, tmp_path)
    shard_the_weights(folder, "/etc/passwd.safetensors")
    assert dfer(["push", str(folder), "--repo-id", "alice/m", "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "/etc/passwd" not in captured.out
    assert captured.err.startswith("dfer push: error: ") and len(captured.err.strip().splitlines()) == 1
    assert "'/etc/passwd.safetensors'" in captured.err


@pytest.mark.parametrize(
    "name", ["model.safetensors", "modeling_gca_resnet.py", "confusion_matrix.png", "metrics.json", "config.json"]
)
def test_a_symbolic_link_is_refused_naming_it(training_output, tmp_path, name):
    folder = fresh_copy(training_output, tmp_path)
    target = tmp_path / f"elsewhere_{name}"
    shutil.move(folder / name, target)
    (folder / name).symlink_to(target)
    with pytest.raises(PublishError, match="is a symbolic link") as error:
        uploaded(folder)
    assert str(folder / name) in str(error.value)


@pytest.mark.parametrize("link", ["runs", "event_file"])
def test_linked_logs_are_refused_only_when_published(training_output, tmp_path, link):
    from test_model_card import write_tensorboard_logs

    folder = fresh_copy(training_output, tmp_path)
    log_dir = write_tensorboard_logs(tmp_path / "elsewhere")
    if link == "runs":
        (folder / "runs").symlink_to(log_dir.parent)
        linked = folder / "runs"
    else:
        event_file = next(path for path in log_dir.iterdir() if path.is_file())
        (folder / "runs" / "Jan01_00-00-00").mkdir(parents=True)
        linked = folder / "runs" / "Jan01_00-00-00" / event_file.name
        linked.symlink_to(event_file)
    assert not any(name.startswith("runs/") for name in uploaded(folder))  # no logs asked for: no problem
    with pytest.raises(PublishError, match="is a symbolic link") as error:
        uploaded(folder, include_logs=True)
    assert str(linked) in str(error.value)


def test_only_the_remote_code_is_published(training_output, tmp_path, capsys):
    from dfer.cli import main as dfer

    folder = fresh_copy(training_output, tmp_path)
    (folder / "notes.py").write_text("API_KEY = 'not for the Hub'\n")
    (folder / "README.md").write_text("a stale card\n")
    (folder / "runs_backup.bin").write_bytes(b"\x80\x04pickle")
    files = uploaded(folder)
    code = {name for name in files if name.endswith(".py")}
    assert code == {
        "configuration_gca_resnet.py",  # auto_map: AutoConfig
        "modeling_gca_resnet.py",  # auto_map: AutoModel, AutoModelForVideoClassification
        "video_processing_dfer.py",  # the processor's auto_map: AutoVideoProcessor
        # ... and what the processor imports from its folder
        "clip_transforms.py",
        "face_crop.py",
        "face_detection.py",
        "frame_sampling.py",
        "video_decoding.py",
    }
    assert files["README.md"] != b"a stale card\n"
    assert not {"notes.py", "runs_backup.bin", "training_args.bin"} & set(files)
    assert not any(name.startswith("checkpoint-") for name in files)
    assert dfer(["push", str(folder), "--repo-id", "alice/m", "--dry-run"]) == 0
    left_out = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("not uploaded: "))
    assert left_out == "not uploaded: README.md, checkpoint-10, notes.py, runs_backup.bin, training_args.bin"


def test_remote_code_that_would_not_load_is_refused(training_output, tmp_path):
    folder = fresh_copy(training_output, tmp_path)
    (folder / "frame_sampling.py").unlink()
    with pytest.raises(PublishError, match=r"imports \.frame_sampling, but .*frame_sampling\.py is missing"):
        read_training_output(folder)
    folder = fresh_copy(training_output, tmp_path / "again")
    code = folder / "clip_transforms.py"
    code.write_text(code.read_text() + "\nfrom ..secrets import key\n")
    with pytest.raises(PublishError, match=r"clip_transforms\.py imports from \.\.secrets, outside its own folder"):
        read_training_output(folder)


def test_no_machine_path_or_secret_is_published(training_output, tmp_path):
    folder = fresh_copy(training_output, tmp_path)
    home = "/home/alice/experiments"
    _edit_json(folder, "metrics.json", lambda m: m.update(checkpoint=f"{home}/ial_dfew_fold1"))
    _edit_json(
        folder,
        "run_args.json",
        lambda r: r.update(
            data_dir=f"{home}/DFEW",
            resume_from_checkpoint=f"{home}/out/checkpoint-40",
            hub_token="hf_secret_value",
            notes=f"started from {home}/warmup/last (see ~/notes/run1.txt)",
            url="https://huggingface.co/alice/m",
            rescale="1/255",
        ),
    )
    files = uploaded(folder)
    for name, content in files.items():
        for text in (home, "/home/", "hf_secret_value", "~/notes", str(tmp_path)):
            assert text.encode() not in content, (text, name)
    run_args = json.loads(files["run_args.json"])
    assert run_args["data_dir"] == "DFEW" and run_args["resume_from_checkpoint"] == "checkpoint-40"
    assert run_args["notes"] == "started from last (see run1.txt)" and "hub_token" not in run_args
    assert run_args["url"] == "https://huggingface.co/alice/m" and run_args["rescale"] == "1/255"
    assert json.loads(files["metrics.json"])["checkpoint"] == "ial_dfew_fold1"
    # The files themselves are left as they are; an unchanged record is uploaded byte for byte.
    assert json.loads((folder / "run_args.json").read_text())["hub_token"] == "hf_secret_value"
    assert files["config.json"] == (folder / "config.json").read_bytes()


def test_a_machine_path_in_the_checkpoint_config_is_refused(training_output, tmp_path):
    folder = fresh_copy(training_output, tmp_path)
    _edit_json(folder, "config.json", lambda c: c.update(_name_or_path=str(tmp_path / "somewhere")))
    with pytest.raises(PublishError, match="records the machine path") as error:
        read_training_output(folder)
    assert str(folder / "config.json") in str(error.value)


def test_an_evaluated_checkpoint_of_unknown_selection_is_published_truthfully(training_output, tmp_path):
    """What `dfer evaluate` writes for a converted official checkpoint: no run record, selection unknown."""
    folder = fresh_copy(training_output, tmp_path)
    (folder / "run_args.json").unlink()
    _edit_json(
        folder,
        "metrics.json",
        lambda m: m.update(objective="none", model_selection="unknown", checkpoint="/data/official/ial_dfew_fold1"),
    )
    files = uploaded(folder)
    assert "run_args.json" not in files
    assert json.loads(files["metrics.json"])["checkpoint"] == "ial_dfew_fold1"
    card = files["README.md"].decode()
    assert "**Model selection:** **unknown**" in card and "These numbers may be optimistic" in card
    assert "official IAL code" in card
    assert "how it was trained is not recorded" in card and "**Recipe.** Not recorded" in card
    assert "(run_args.json)" not in card and "/data/official" not in card  # no link to a file that is not there
    assert "These numbers are optimistic" not in card  # unknown is not claimed to be test-fold selection


@pytest.mark.parametrize("repo_id", ["bad repo id", "no-namespace", "a/b/c", "../x"])
def test_a_bad_repo_id_is_refused_before_anything_is_read(repo_id, tmp_path, capsys):
    from dfer.cli import main as dfer

    assert dfer(["push", str(tmp_path / "missing"), "--repo-id", repo_id, "--dry-run"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"dfer push: error: --repo-id {repo_id!r}") and "Traceback" not in error
