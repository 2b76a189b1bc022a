"""Training on a user's own clips: any label set flows into the config, metrics and card; fine-tuning from a
checkpoint (new heads for new labels, the `finetune` recipe); WAR/UAR in TensorBoard whenever an eval split
exists and the test metrics in every model-selection mode."""

import json
from pathlib import Path

import pytest
import torch
from own_data_fixtures import write_mafw_tree, write_video_folder
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from training_fixtures import TINY_MODELS

from dfer.cli import evaluate, train
from dfer.modeling import label_names
from dfer.training.arguments import ModelArguments, training_argument_parser
from dfer.training.recipes import FINETUNE_SCHEDULE
from dfer.training.run_components import build_model, classification_heads


def write_clips(root: Path, classes: tuple[str, ...], splits=("train", "test"), per_class=(3, 1)) -> Path:
    return write_video_folder(root, {split: dict.fromkeys(classes, count) for split, count in zip(splits, per_class)}, size=(32, 32))


def own_data_argv(data_dir: Path, output_dir: Path, *extra: str, dataset: str = "videofolder") -> list[str]:
    return [
        "--dataset", dataset,
        "--data_dir", str(data_dir),
        "--output_dir", str(output_dir),
        "--num_train_epochs", "1",
        "--per_device_train_batch_size", "4",
        "--per_device_eval_batch_size", "4",
        "--report_to", "none",
        "--use_cpu",
        "--seed", "3",
        *extra,
    ]  # fmt: skip


def fresh_model_argv() -> list[str]:
    return ["--model", "gca_resnet", "--num_frames", "4", "--image_size", "32", "--config_overrides", TINY_MODELS["gca_resnet"]]


@pytest.fixture(scope="module")
def three_class_run(tmp_path_factory) -> Path:
    """A tiny GCA-ResNet trained from scratch on clips of three classes of the user's own naming."""
    base = tmp_path_factory.mktemp("own")
    data = write_clips(base / "clips", ("calm", "excited", "bored"))
    output = base / "run"
    assert train.main(own_data_argv(data, output, *fresh_model_argv(), "--recipe", "sample")) == 0
    return output


def test_any_label_set_flows_into_config_metrics_and_card(three_class_run):
    config = json.loads((three_class_run / "config.json").read_text())
    assert config["id2label"] == {"0": "bored", "1": "calm", "2": "excited"}  # sorted folder names
    metrics = json.loads((three_class_run / "metrics.json").read_text())
    assert metrics["dataset"] == "videofolder" and metrics["labels"] == ["bored", "calm", "excited"]
    assert len(metrics["metrics"]["confusion_matrix"]) == 3 and metrics["metrics"]["num_clips"] == 3
    card = (three_class_run / "README.md").read_text()
    assert "excited" in card and "own clips" in card


def test_finetune_recipe_is_the_default_from_a_checkpoint_and_takes_its_frames(three_class_run, tmp_path):
    argv = ["--model_name_or_path", str(three_class_run), *own_data_argv(tmp_path, tmp_path / "out")]
    model_args, _, training_args = training_argument_parser(argv).parse_args_into_dataclasses(argv)
    assert model_args.recipe == "finetune"
    assert (model_args.num_frames, model_args.image_size) == (4, 32)  # the checkpoint's, not the paper recipe's
    assert training_args.learning_rate == FINETUNE_SCHEDULE["learning_rate"]
    assert training_args.lr_step_epochs is None and training_args.objective == "ial"
    overridden = [*argv, "--learning_rate", "0.02"]
    assert training_argument_parser(overridden).parse_args_into_dataclasses(overridden)[2].learning_rate == 0.02


def test_a_paper_recipe_from_a_checkpoint_keeps_the_checkpoints_frames(three_class_run, tmp_path):
    argv = ["--model_name_or_path", str(three_class_run), "--recipe", "ial", *own_data_argv(tmp_path, tmp_path / "o")]
    model_args, _, training_args = training_argument_parser(argv).parse_args_into_dataclasses(argv)
    assert (model_args.recipe, model_args.num_frames, model_args.image_size) == ("ial", 4, 32)
    assert training_args.optim == "sgd" and training_args.learning_rate == 1e-3


def test_resuming_with_other_class_names_or_test_fraction_is_refused():
    from dfer.training.checkpoints import run_argument_differences

    saved = {"class_names": ["a", "b"], "test_fraction": 0.2, "recipe": "finetune", "dataset": "videofolder"}
    current = {**saved, "class_names": ["b", "a"], "test_fraction": 0.3, "recipe": "sample"}
    assert {line.split()[0] for line in run_argument_differences(saved, current)} == {"class_names", "test_fraction", "recipe"}


def test_a_single_class_is_refused_before_training(tmp_path, capsys):
    data = write_clips(tmp_path / "clips", ("only",))
    assert train.main(own_data_argv(data, tmp_path / "out", *fresh_model_argv(), "--recipe", "sample")) == 2
    assert "a classifier needs at least two" in capsys.readouterr().err


def test_other_labels_need_ignore_mismatched_sizes_before_any_training(three_class_run, tmp_path, capsys):
    data = write_clips(tmp_path / "clips", ("negative", "positive"))
    argv = ["--model_name_or_path", str(three_class_run), *own_data_argv(data, tmp_path / "out")]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dfer train: error:")
    assert "--ignore_mismatched_sizes" in err[0] and "bored, calm, excited" in err[0] and "negative, positive" in err[0]
    assert not (tmp_path / "out" / "checkpoint-1").exists()


def test_new_labels_get_new_heads_and_the_backbone_loads(three_class_run):
    start = build_model(ModelArguments(model_name_or_path=str(three_class_run)), ["bored", "calm", "excited"])
    base = {name: value.clone() for name, value in start.state_dict().items()}
    arguments = ModelArguments(model_name_or_path=str(three_class_run), ignore_mismatched_sizes=True)
    torch.manual_seed(0)
    model = build_model(arguments, ["negative", "positive"])
    assert label_names(model.config) == ["negative", "positive"]
    head_names = {
        f"{prefix}{name}"
        for head, prefix in zip(classification_heads(model), ["classifier."] + [f"auxiliary_classifiers.{i}." for i in range(99)])
        for name, _ in head.named_parameters()
    }
    assert head_names and any(name.startswith("auxiliary_classifiers.") for name in head_names)
    for name, value in model.state_dict().items():
        if name in head_names:
            # Every head starts afresh, even the auxiliary heads' projections whose shapes did not change.
            assert value.shape != base[name].shape or not torch.equal(value, base[name]), name
        else:
            assert torch.equal(value, base[name]), name


def test_same_labels_in_another_order_keep_the_checkpoints_heads_and_order(three_class_run, tmp_path):
    data = write_clips(tmp_path / "clips", ("excited", "calm", "bored"))
    output = tmp_path / "out"
    argv = ["--model_name_or_path", str(three_class_run), *own_data_argv(data, output), "--class_names", "excited", "calm", "bored", "--max_steps", "1"]
    assert train.main(argv) == 0
    assert json.loads((output / "metrics.json").read_text())["labels"] == ["bored", "calm", "excited"]
    run_args = json.loads((output / "run_args.json").read_text())
    assert run_args["model_name_or_path"] == three_class_run.name and run_args["recipe"] == "finetune"
    card = (output / "README.md").read_text()
    assert three_class_run.name in card  # the card names the model it started from
    assert "base_model:" not in card  # a local folder, not a Hub repository to link
    assert run_args["model_name_or_path_is_local"] is True


def tensorboard_scalars(output: Path) -> set[str]:
    tags = set()
    for events in (output / "runs").rglob("*tfevents*"):
        tags |= set(EventAccumulator(str(events.parent)).Reload().Tags()["scalars"])
    return tags


@pytest.mark.parametrize("model_selection", ["last_epoch", "validation"])
def test_tensorboard_shows_eval_and_test_war_uar(tmp_path, model_selection):
    data = write_clips(tmp_path / "clips", ("a", "b"), ("train", "validation", "test"), (3, 1, 1))
    output = tmp_path / "out"
    argv = own_data_argv(data, output, *fresh_model_argv(), "--recipe", "sample", "--model_selection", model_selection)
    argv[argv.index("--report_to") + 1] = "tensorboard"
    assert train.main(argv) == 0
    tags = tensorboard_scalars(output)
    for split in ("eval", "test"):
        assert {f"{split}/war", f"{split}/uar", f"{split}/accuracy_a", f"{split}/accuracy_b"} <= tags, tags


def test_evaluate_a_checkpoint_on_a_manifest_in_its_label_order(three_class_run, tmp_path):
    data = write_clips(tmp_path / "clips", ("excited", "bored"), ("test",), (1,))
    (data / "manifest.csv").write_text("path,label,split\ntest/excited/c0,excited,test\ntest/bored/c0,bored,test\n")
    argv = ["--checkpoint", str(three_class_run), "--dataset", "manifest", "--data_dir", str(data / "manifest.csv"),
            "--output_dir", str(tmp_path / "eval"), "--per_device_eval_batch_size", "2", "--report_to", "none"]  # fmt: skip
    # No train split: the manifest's clips are all test clips, so nothing is held out.
    assert evaluate.main(argv) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["labels"] == ["bored", "calm", "excited"]
    assert metrics["metrics"]["per_class_accuracy"]["calm"] is None  # no calm clip: no recall, not in UAR
    assert metrics["metrics"]["num_clips"] == 2


def test_mafw_fold_protocol(tmp_path):
    from dfer.cli import folds

    root = write_mafw_tree(tmp_path / "MAFW", folds=(1, 2), size=(32, 32))
    output = tmp_path / "mafw_folds"
    argv = own_data_argv(root, output, *fresh_model_argv(), "--recipe", "sample", "--folds", "1", "2", dataset="mafw")
    assert folds.main(argv) == 0
    results = json.loads((output / "results.json").read_text())
    assert results["dataset"] == "mafw" and len(results["labels"]) == 11
    assert [row["fold"] for row in results["folds"]] == [1, 2] and all(row["num_clips"] == 11 for row in results["folds"])
    assert "Disappointment" in (output / "results.md").read_text()


@pytest.mark.parametrize(
    ("dataset", "make", "message"),
    [
        ("manifest", lambda root: (root / "m.csv").write_text("video,class\nx.mp4,a\n") and root / "m.csv", "has no 'path' and no 'label' column"),
        ("videofolder", lambda root: (root / "a").mkdir() or root, "the class folder 'a' holds no clip"),
        ("manifest", lambda root: root / "absent.csv", "no such file"),
    ],
)
def test_bad_own_data_is_one_error_line_before_training(tmp_path, capsys, dataset, make, message):
    data = make(tmp_path)
    argv = own_data_argv(data, tmp_path / "out", *fresh_model_argv(), "--recipe", "sample", dataset=dataset)
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dfer train: error:") and message in err[0], err
    assert not any((tmp_path / "out").glob("checkpoint-*"))
