"""Evaluating a model on a split and describing the result as an `EvaluationRecord` (`metrics.json`): after a
training run, or for a saved checkpoint (`dfer evaluate`), with what of it may be published."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from transformers import AutoModelForVideoClassification
from transformers.utils import cached_file

import dfer.modeling  # noqa: F401  (registers the models with the Auto classes)
from dfer.processing import DferVideoProcessor

from .arguments import FOLDED_DATASETS, MODEL_SELECTIONS, DataArguments
from .checkpoints import check_model_folder
from .metrics import classification_metrics, logits_from_predictions, save_confusion_matrix_figure
from .output_folder import (
    CONFUSION_MATRIX_NAME,
    METRICS_NAME,
    UNKNOWN_MODEL_SELECTION,
    EvaluationMetrics,
    EvaluationRecord,
)
from .run_checks import check_data_folders
from .run_components import align_labels, load_splits, with_decoding
from .trainer import DferTrainer, DferTrainingArguments


def evaluation_record(
    trainer, dataset, label_names: list[str], data_args: DataArguments, objective: str, split: str = "test"
) -> EvaluationRecord:
    """Predict `dataset` (the `split` split, gathered across processes) and describe the result as
    `metrics.json` does."""
    prediction = trainer.predict(dataset, metric_key_prefix="test")
    predictions = logits_from_predictions(prediction.predictions).argmax(axis=-1)
    return EvaluationRecord(
        model_type=trainer.model.config.model_type,
        objective=objective,
        dataset=data_args.dataset,
        fold=data_args.fold if data_args.dataset in FOLDED_DATASETS else None,
        eval_split=split,
        labels=label_names,
        metrics=EvaluationMetrics(**classification_metrics(predictions, prediction.label_ids, label_names)),
        test_runtime_s=round(prediction.metrics.get("test_runtime", float("nan")), 1),
    )


def evaluate_checkpoint(
    checkpoint: str, data_args: DataArguments, training_args: DferTrainingArguments, split: str = "test"
) -> EvaluationRecord:
    """Evaluate a saved checkpoint (model + processor) on a split, with its own preprocessing. The record names
    the checkpoint as given; `published_evaluation_record` makes it the record `dfer evaluate` writes.
    `ValueError` (before any data is read) for a checkpoint that is not a loadable model folder."""
    check_model_folder(checkpoint, "--checkpoint", need_processor=True)
    check_data_folders(data_args)
    try:
        # float32 whatever dtype the checkpoint was saved in: `--bf16_full_eval` is the one way to evaluate in bfloat16.
        model = AutoModelForVideoClassification.from_pretrained(checkpoint, dtype=torch.float32)
        processor = DferVideoProcessor.from_pretrained(checkpoint)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"--checkpoint {checkpoint} could not be loaded: {detail}") from error
    if training_args.bf16_full_eval:
        # The Trainer casts the model when it evaluates; where bfloat16 would be emulated, float32 is faster.
        native = dfer.modeling.resolve_inference_dtype(torch.bfloat16, training_args.device) == torch.bfloat16
        training_args.bf16_full_eval = native
    # Inference only: `Trainer.predict` calls `eval()`, which keeps the fusion (only `train()` undoes it).
    dfer.modeling.fuse_batch_norm(model)
    label_names = dfer.modeling.label_names(model.config)
    # The dataset's classes take the checkpoint's output order, by name (a user's data sorts them its own way).
    splits = align_labels(load_splits(data_args, processor), label_names, f"--checkpoint {checkpoint}")
    splits = with_decoding(splits, processor)
    if split not in splits:
        raise ValueError(f"No split {split!r}; available: {', '.join(splits)}.")
    training_args.remove_unused_columns = False
    trainer = DferTrainer(model=model, args=training_args)
    record = evaluation_record(trainer, splits[split], label_names, data_args, objective="none", split=split)
    return replace(record, checkpoint=str(checkpoint))


def checkpoint_reference(checkpoint: str) -> str:
    """How a record names an evaluated checkpoint: a local folder by its name (never this machine's path), a Hub
    repository by its id."""
    folder = Path(checkpoint)
    if folder.is_dir():
        return folder.resolve().name
    return checkpoint.strip("/")


def checkpoint_model_selection(checkpoint: str) -> str:
    """The `model_selection` of the checkpoint's own `metrics.json` (a local folder's, or the Hub repository's
    when it is cached or reachable), else UNKNOWN_MODEL_SELECTION."""
    known = (*MODEL_SELECTIONS, UNKNOWN_MODEL_SELECTION)
    path = Path(checkpoint) / METRICS_NAME
    if not Path(checkpoint).is_dir():
        try:
            found = cached_file(checkpoint, METRICS_NAME, _raise_exceptions_for_missing_entries=False)
        except Exception:  # offline, no such repository, no such file: the selection is not known
            found = None
        path = Path(found) if found else None
    try:
        selection = json.loads(path.read_text(encoding="utf-8")).get("model_selection") if path else None
    except (OSError, ValueError, AttributeError):
        selection = None
    return selection if selection in known else UNKNOWN_MODEL_SELECTION


def published_evaluation_record(record: EvaluationRecord) -> EvaluationRecord:
    """The record `dfer evaluate` writes: the checkpoint named by its folder name or repo id, and the
    checkpoint's own `model_selection` (or "unknown"). Read the checkpoint's record before writing over it."""
    checkpoint = record.checkpoint or ""
    return replace(
        record,
        checkpoint=checkpoint_reference(checkpoint) if checkpoint else None,
        model_selection=record.model_selection or checkpoint_model_selection(checkpoint),
    )


def write_metrics(output_dir: Path, record: EvaluationRecord) -> None:
    """`metrics.json` and the confusion-matrix figure of one evaluation record."""
    record.write(output_dir)
    title = f"{record.model_type} on {record.dataset} {record.eval_split}"
    if record.fold:
        title += f", fold {record.fold}"
    if record.model_selection:
        title += f" ({record.model_selection.replace('_', ' ')})"
    save_confusion_matrix_figure(
        np.array(record.metrics.confusion_matrix), record.labels, output_dir / CONFUSION_MATRIX_NAME, title
    )


def summary_line(record: dict) -> str:
    metrics = record["metrics"]
    return f"UAR {metrics['uar']:.4f}  WAR {metrics['war']:.4f}  ({metrics['num_clips']} test clips)"


__all__ = ["evaluation_record", "evaluate_checkpoint", "checkpoint_reference", "checkpoint_model_selection", "published_evaluation_record", "write_metrics", "summary_line"]
