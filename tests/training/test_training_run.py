import functools
import json
import shutil
from dataclasses import replace

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from training_fixtures import run_training, tiny_run_argv
from transformers import pipeline

import dfer.modeling  # noqa: F401
from dfer.cli import folds
from dfer.training import DataArguments, evaluate_checkpoint
from dfer.training.folds import RESULTS_JSON, RESULTS_MARKDOWN, summarize_folds
from dfer.training.output_folder import (
    METRICS_NAME,
    EvaluationMetrics,
    EvaluationRecord,
    InvalidEvaluationRecord,
)
from dfer.training.trainer import OBJECTIVE_STATE_NAME, DferTrainingArguments


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    # Generated once by the first run (scripts/train.py generates a missing sample dataset).
    return tmp_path_factory.mktemp("sample")


@pytest.fixture(scope="module")
def finished_run(sample_dir, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run") / "out"
    record = run_training(tiny_run_argv(sample_dir, output_dir))
    return output_dir, record


def test_run_writes_a_complete_output_folder(finished_run, sample_dir):
    output_dir, record = finished_run
    for name in ("config.json", "model.safetensors", "modeling_gca_resnet.py", "video_preprocessor_config.json",
                 "metrics.json", "run_args.json", "confusion_matrix.png"):  # fmt: skip
        assert (output_dir / name).is_file(), name
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    # `dfer train` leaves the true card in the folder, so `hf upload` of the folder publishes one too.
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.model_name and "gca_resnet" in card.text.lower().replace("-", "_")
    assert card.data.eval_results[0].metric_value == pytest.approx(record["metrics"]["war"])

    assert record["model_type"] == "gca_resnet" and record["objective"] == "ial"
    assert record["dataset"] == "sample" and record["fold"] == 1 and record["model_selection"] == "last_epoch"
    metrics = record["metrics"]
    matrix = torch.tensor(metrics["confusion_matrix"])
    assert matrix.shape == (7, 7) and matrix.sum() == metrics["num_clips"] == 7
    assert metrics["war"] == pytest.approx(matrix.trace().item() / 7)
    recalls = [metrics["per_class_accuracy"][name] for name in record["labels"]]
    assert metrics["uar"] == pytest.approx(sum(recalls) / 7)

    # Each objective term is logged next to the total loss.
    state = json.loads((output_dir / "checkpoint-8" / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "loss" in entry]
    assert logged and all(
        {"loss_cross_entropy", "loss_intensity_aware", "loss_auxiliary_0", "loss_auxiliary_1"} <= set(entry)
        for entry in logged
    )

    run_args = json.loads((output_dir / "run_args.json").read_text())
    # The sample recipe's values, except where the command line overrode them.
    assert run_args["recipe"] == "sample" and run_args["optim"] == "adamw_torch" and run_args["ial_weight"] == 0.1
    assert run_args["num_train_epochs"] == 2 and run_args["image_size"] == 32
    assert "hub_token" not in run_args


def test_output_folder_classifies_through_pipeline(finished_run, sample_dir):
    output_dir, _ = finished_run
    classifier = pipeline("video-classification", model=str(output_dir))
    clip = sample_dir / "Clip" / "clip_224x224" / "00001"
    predictions = classifier(str(clip), top_k=7)
    assert sorted(p["label"] for p in predictions) == sorted(
        ["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]
    )
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)


def test_evaluate_checkpoint_reproduces_the_run_metrics(finished_run, sample_dir, tmp_path):
    output_dir, record = finished_run
    data_args = DataArguments(dataset="sample", data_dir=str(sample_dir), sample_clips_per_class=3)
    training_args = DferTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    evaluated = evaluate_checkpoint(str(output_dir), data_args, training_args)
    assert evaluated.to_dict()["metrics"] == record["metrics"]
    assert evaluated.checkpoint == str(output_dir) and evaluated.model_selection is None


def test_bf16_full_eval_evaluates_in_bfloat16_with_the_float32_result(finished_run, sample_dir, tmp_path, monkeypatch):
    from dfer.modeling import inference_precision
    from dfer.training.trainer import DferTrainer

    output_dir, record = finished_run
    seen = []
    original = DferTrainer.prediction_step

    def recording_step(self, model, inputs, *args, **kwargs):
        seen.append((next(model.parameters()).dtype, inputs["pixel_values"].dtype))
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(DferTrainer, "prediction_step", recording_step)
    monkeypatch.setattr(inference_precision, "supports_native_bfloat16", lambda device: True)
    data_args = DataArguments(dataset="sample", data_dir=str(sample_dir), sample_clips_per_class=3)
    arguments = dict(output_dir=str(tmp_path), report_to=[], use_cpu=True, bf16_full_eval=True)
    evaluated = evaluate_checkpoint(str(output_dir), data_args, DferTrainingArguments(**arguments))
    assert seen and all(model_dtype == torch.bfloat16 for model_dtype, _ in seen)
    # The tiny model's classes are far apart on the sample's faces: bfloat16 changes no prediction.
    assert evaluated.to_dict()["metrics"]["confusion_matrix"] == record["metrics"]["confusion_matrix"]

    seen.clear()  # where bfloat16 would be emulated, the evaluation runs in float32
    monkeypatch.setattr(inference_precision, "supports_native_bfloat16", lambda device: False)
    evaluate_checkpoint(str(output_dir), data_args, DferTrainingArguments(**arguments))
    assert seen and all(model_dtype == torch.float32 for model_dtype, _ in seen)


def test_bf16_trains_under_bfloat16_autocast_and_saves_float32_weights(sample_dir, tmp_path, monkeypatch):
    # `--bf16 --use_cpu` is accelerate's bf16 mixed precision: 2.3x the official training step on an AVX-512 BF16
    # CPU (scripts/benchmark_training_step.py).
    from dfer.modeling import GcaResNetForVideoClassification

    autocast_seen = []
    original = GcaResNetForVideoClassification.forward

    @functools.wraps(original)  # the Trainer finds the label argument in the signature
    def recording_forward(self, *args, **kwargs):
        if self.training:
            autocast_seen.append(torch.is_autocast_enabled("cpu"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GcaResNetForVideoClassification, "forward", recording_forward)
    record = run_training(tiny_run_argv(sample_dir, tmp_path / "out", "gca_resnet", "--bf16"))
    assert autocast_seen and all(autocast_seen)
    assert 0 <= record["metrics"]["war"] <= 1
    weights = load_file(tmp_path / "out" / "model.safetensors")
    assert {tensor.dtype for tensor in weights.values() if tensor.is_floating_point()} == {torch.float32}


def test_run_record_follows_the_metrics_schema(finished_run):
    output_dir, record = finished_run
    saved = EvaluationRecord.read(output_dir)
    saved.validate()  # what publishing checks
    assert saved.to_dict() == record
    assert {"test_runtime_s", "train_runtime_s", "train_samples_per_second"} <= set(record)


def tiny_record(**changes) -> EvaluationRecord:
    record = EvaluationRecord(
        model_type="gca_resnet",
        objective="ial",
        dataset="dfew",
        fold=1,
        eval_split="test",
        labels=["Happy", "Sad"],
        metrics=EvaluationMetrics(
            war=5 / 6,
            uar=(2 / 3 + 1) / 2,
            per_class_accuracy={"Happy": 2 / 3, "Sad": 1.0},
            confusion_matrix=[[2, 1], [0, 3]],
            num_clips=6,
        ),
        model_selection="last_epoch",
    )
    return replace(record, **changes)


def test_evaluation_record_round_trips_through_its_folder(tmp_path):
    record = tiny_record(train_runtime_s=1.5)
    assert record.write(tmp_path / "out") == tmp_path / "out" / METRICS_NAME
    on_disk = json.loads((tmp_path / "out" / METRICS_NAME).read_text())
    # Optional fields are written only when set; `fold` always is.
    assert set(on_disk) == {
        "model_type", "objective", "dataset", "fold", "eval_split", "model_selection", "labels", "metrics",
        "train_runtime_s",
    }  # fmt: skip
    assert set(on_disk["metrics"]) == {"war", "uar", "per_class_accuracy", "confusion_matrix", "num_clips"}
    assert EvaluationRecord.read(tmp_path / "out") == record
    record.validate()

    evaluation = tiny_record(dataset="ferv39k", fold=None, model_selection=None, checkpoint="out/fold1")
    assert "model_selection" not in evaluation.to_dict() and evaluation.to_dict()["fold"] is None
    with pytest.raises(InvalidEvaluationRecord, match="missing model_selection"):
        evaluation.validate()  # a checkpoint evaluation is not a publishable training record


def test_an_inconsistent_or_incomplete_record_is_refused(tmp_path):
    with pytest.raises(InvalidEvaluationRecord, match="the confusion matrix gives 0.833333"):
        tiny_record(metrics=replace(tiny_record().metrics, war=0.5)).validate()
    with pytest.raises(InvalidEvaluationRecord, match="model_selection 'best' is not one of last_epoch"):
        tiny_record(model_selection="best").validate()
    (tmp_path / METRICS_NAME).write_text(json.dumps({"model_type": "gca_resnet", "metrics": {}}))
    with pytest.raises(InvalidEvaluationRecord, match=r"metrics\.json: missing objective, dataset"):
        EvaluationRecord.read(tmp_path)
    (tmp_path / METRICS_NAME).write_text("{not json")
    with pytest.raises(InvalidEvaluationRecord, match=r"metrics\.json is not valid JSON"):
        EvaluationRecord.read(tmp_path)


def test_same_seed_same_metrics_and_resume_equals_uninterrupted(finished_run, sample_dir, tmp_path):
    output_dir, record = finished_run
    # Same seed, same data: same result. ("last" with no checkpoint yet starts afresh, as the fold runner needs.)
    again = run_training(tiny_run_argv(sample_dir, tmp_path / "again", "gca_resnet", "--resume_from_checkpoint", "last"))
    assert again["metrics"] == record["metrics"]

    # An interruption after epoch 1 leaves checkpoint-4 behind; resuming from it ends where the full run ended.
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    shutil.copytree(output_dir / "checkpoint-4", interrupted / "checkpoint-4")
    resumed = run_training(tiny_run_argv(sample_dir, interrupted, "gca_resnet", "--resume_from_checkpoint", "last"))
    assert resumed["metrics"] == record["metrics"]
    final = load_file(output_dir / "model.safetensors")
    for name, tensor in load_file(interrupted / "model.safetensors").items():
        torch.testing.assert_close(tensor, final[name], msg=name)


def test_compact_objective_state_is_checkpointed_and_restored(sample_dir, tmp_path):
    argv = tiny_run_argv(
        sample_dir, tmp_path / "full", "logo_former", "--recipe", "logo_former",
        "--centers_learning_rate", "0.3",
    )  # fmt: skip
    full = run_training(argv)
    assert full["objective"] == "compact"
    checkpoint = tmp_path / "full" / "checkpoint-4"
    centres_after_epoch_1 = load_file(checkpoint / OBJECTIVE_STATE_NAME)["compact_loss.centers"]
    assert centres_after_epoch_1.shape == (7, 16)

    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(checkpoint, resumed_dir / "checkpoint-4")
    resumed_argv = [a if a != str(tmp_path / "full") else str(resumed_dir) for a in argv]
    resumed = run_training([*resumed_argv, "--resume_from_checkpoint", "last"])
    assert resumed["metrics"] == full["metrics"]
    torch.testing.assert_close(
        load_file(resumed_dir / "checkpoint-8" / OBJECTIVE_STATE_NAME)["compact_loss.centers"],
        load_file(tmp_path / "full" / "checkpoint-8" / OBJECTIVE_STATE_NAME)["compact_loss.centers"],
    )
    # The centres are training state: the published model does not carry them.
    assert not any("center" in name for name in load_file(tmp_path / "full" / "model.safetensors"))


def test_model_selection_on_test_fold_is_labelled(sample_dir, tmp_path):
    record = run_training(
        tiny_run_argv(sample_dir, tmp_path / "best", "gca_resnet", "--model_selection", "best_test_epoch")
    )
    assert record["model_selection"] == "best_test_epoch"
    state = json.loads((tmp_path / "best" / "checkpoint-8" / "trainer_state.json").read_text())
    evaluated_epochs = [entry["epoch"] for entry in state["log_history"] if "eval_uar" in entry]
    assert evaluated_epochs == [1.0, 2.0]
    assert state["best_metric"] == max(e["eval_uar"] for e in state["log_history"] if "eval_uar" in e)


def test_fold_protocol_table_and_resume(sample_dir, tmp_path, capsys):
    argv = tiny_run_argv(sample_dir, tmp_path / "folds") + ["--num_train_epochs", "1", "--folds", "1", "2"]
    assert folds.main(argv) == 0
    summary = json.loads((tmp_path / "folds" / RESULTS_JSON).read_text())
    assert [row["fold"] for row in summary["folds"]] == [1, 2]
    per_fold = [json.loads((tmp_path / "folds" / f"fold_{k}" / "metrics.json").read_text()) for k in (1, 2)]
    assert summary == summarize_folds(per_fold)
    uars = [record["metrics"]["uar"] for record in per_fold]
    assert summary["uar"]["mean"] == pytest.approx(sum(uars) / 2)
    assert "mean ± std" in (tmp_path / "folds" / RESULTS_MARKDOWN).read_text()

    # Finished folds are not trained again: a rerun leaves their outputs untouched.
    stamp = (tmp_path / "folds" / "fold_1" / "model.safetensors").stat().st_mtime_ns
    assert folds.main(argv) == 0
    assert (tmp_path / "folds" / "fold_1" / "model.safetensors").stat().st_mtime_ns == stamp

    # ... but a rerun with other settings does not count them as its own: the table would mix two protocols.
    assert folds.main(argv + ["--seed", "7"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("dfer folds: error: ") and "seed" in error and "fold_1" in error
    assert (tmp_path / "folds" / "fold_1" / "model.safetensors").stat().st_mtime_ns == stamp

