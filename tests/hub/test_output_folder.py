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
    assert "dataset 'affectnet' is not one of dfew, ferv39k, sample" in str(error.value)
