"""One training run: data -> model -> `DferTrainer` -> final evaluation -> a loadable output folder.

The output folder (what `dfer push` publishes) is laid out in `output_folder.py`: the model and its remote code
(loads with or without `dfer`), the video processor in evaluation mode, `metrics.json` (an `EvaluationRecord`:
WAR, UAR, per-class accuracy, confusion matrix), the confusion-matrix figure, the run's arguments, TensorBoard
logs and the Trainer's checkpoints (for resuming).
"""

import gc
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from accelerate import PartialState
from datasets import DatasetDict
from transformers import AutoConfig, AutoModelForVideoClassification, PreTrainedModel, set_seed
from transformers.trainer_utils import get_last_checkpoint

import dfer.modeling  # noqa: F401  (registers the models with the Auto classes)
from dfer.data import EMOTION_LABELS, ClipTransform, generate_sample_dataset, load_dfew, load_ferv39k
from dfer.processing import DferVideoProcessor

from .arguments import DATASETS, FOLDED_DATASETS, MODEL_SELECTIONS, DataArguments, ModelArguments
from .distributed import wait_for_everyone
from .metrics import (
    classification_metrics,
    logits_from_predictions,
    make_compute_metrics,
    save_confusion_matrix_figure,
)
from .output_folder import CONFUSION_MATRIX_NAME, RUN_ARGS_NAME, EvaluationMetrics, EvaluationRecord
from .trainer import DferTrainer, DferTrainingArguments

logger = logging.getLogger(__name__)


def load_splits(data_args: DataArguments, processor: DferVideoProcessor) -> DatasetDict:
    """Checked, undecoded rows of `train` and `test` (plus `validation` when model selection needs it)."""
    common = dict(on_problems=data_args.on_problems, check_frames=data_args.check_frames, decode=False)
    if data_args.dataset == "sample":
        # One process writes the files; the others wait for it (data-parallel runs start together).
        with PartialState().main_process_first():
            generate_sample_dataset(data_args.data_dir, clips_per_class=data_args.sample_clips_per_class)
    if data_args.dataset in FOLDED_DATASETS:
        splits = load_dfew(
            data_args.data_dir,
            fold=data_args.fold,
            annotations=data_args.annotations,
            clip_folder=data_args.clip_folder,
            video_processor=processor,
            **common,
        )
    elif data_args.dataset == "ferv39k":
        splits = load_ferv39k(data_args.data_dir, annotations=data_args.annotations, video_processor=processor, **common)
    else:
        raise ValueError(f"Unknown dataset {data_args.dataset!r}; choose one of {', '.join(DATASETS)}.")
    if data_args.model_selection == "validation":
        carved = splits["train"].train_test_split(
            test_size=data_args.validation_fraction, stratify_by_column="label", seed=0
        )
        splits = DatasetDict(train=carved["train"], validation=carved["test"], test=splits["test"])
    return splits


def with_decoding(splits: DatasetDict, processor: DferVideoProcessor) -> DatasetDict:
    """Lazy decoding: random sampling + augmentation for `train`, deterministic for the others."""
    return DatasetDict(
        {name: split.with_transform(ClipTransform(processor, training=name == "train")) for name, split in splits.items()}
    )


def parse_overrides(text: str | None) -> dict:
    if not text:
        return {}
    overrides = {}
    for item in _split_top_level(text):
        key, _, value = item.partition("=")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets: 'a=1,b=[1,2]' -> ['a=1', 'b=[1,2]']."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [item for item in items + [current] if item.strip()]


def build_model(model_args: ModelArguments, label_names: list[str]) -> PreTrainedModel:
    labels = dict(id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)})
    overrides = parse_overrides(model_args.config_overrides)
    if model_args.model_name_or_path:
        return AutoModelForVideoClassification.from_pretrained(model_args.model_name_or_path, **labels, **overrides)
    config = AutoConfig.for_model(
        model_args.model, num_frames=model_args.num_frames, image_size=model_args.image_size, **labels, **overrides
    )
    return AutoModelForVideoClassification.from_config(config)


def build_processor(model_args: ModelArguments, data_args: DataArguments) -> DferVideoProcessor:
    augmentation = None if data_args.augmentation == "none" else data_args.augmentation
    return DferVideoProcessor(
        num_frames=model_args.num_frames,
        sampler=data_args.sampler,
        size={"height": model_args.image_size, "width": model_args.image_size},
        augmentation=augmentation or "ial",
        do_augment=augmentation is not None,
    )


def configure_model_selection(data_args: DataArguments, training_args: DferTrainingArguments) -> str | None:
    """Point the Trainer's best-model machinery at the split the selection rule allows; return that split."""
    if data_args.model_selection not in MODEL_SELECTIONS:
        raise ValueError(f"`model_selection` must be one of {', '.join(MODEL_SELECTIONS)}.")
    if data_args.model_selection == "last_epoch":
        return None
    training_args.eval_strategy = training_args.save_strategy = "epoch"
    training_args.load_best_model_at_end = True
    training_args.metric_for_best_model = "uar"
    training_args.greater_is_better = True
    return "validation" if data_args.model_selection == "validation" else "test"


def train_and_evaluate(
    model_args: ModelArguments, data_args: DataArguments, training_args: DferTrainingArguments
) -> dict:
    """Train, evaluate on the test split and write the output folder; return the metrics record (the
    `metrics.json` object)."""
    set_seed(training_args.seed)
    training_args.remove_unused_columns = False  # the decoding transform needs the `path` column
    selection_split = configure_model_selection(data_args, training_args)
    processor = build_processor(model_args, data_args)
    splits = with_decoding(load_splits(data_args, processor), processor)
    label_names = list(EMOTION_LABELS)
    model = build_model(model_args, label_names)
    if training_args.objective == "ce" and getattr(model, "auxiliary_classifiers", None):
        # Plain CE leaves GCA-ResNet's auxiliary heads without gradient, which DDP must be told about.
        training_args.ddp_find_unused_parameters = True

    trainer = DferTrainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        eval_dataset=splits[selection_split] if selection_split else None,
        compute_metrics=make_compute_metrics(label_names),
    )
    resume = training_args.resume_from_checkpoint
    if resume == "last":
        # The newest checkpoint-* in output_dir, or a fresh start when the run never saved one.
        resume = get_last_checkpoint(training_args.output_dir) if Path(training_args.output_dir).is_dir() else None
    train_result = trainer.train(resume_from_checkpoint=resume)

    record = replace(
        evaluation_record(trainer, splits["test"], label_names, data_args, training_args.objective),
        model_selection=data_args.model_selection,
        train_runtime_s=round(train_result.metrics.get("train_runtime", float("nan")), 1),
        train_samples_per_second=train_result.metrics.get("train_samples_per_second"),
    )
    if trainer.is_world_process_zero():
        write_outputs(trainer, processor, record, model_args, data_args, training_args)
    # No process leaves while rank 0 still writes, and none holds the DDP model when it does (see distributed.py).
    del trainer, model
    gc.collect()
    wait_for_everyone()
    return record.to_dict()


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
    """Evaluate a saved checkpoint (model + processor) on a split, with its own preprocessing."""
    model = AutoModelForVideoClassification.from_pretrained(checkpoint)
    # Inference only: `Trainer.predict` calls `eval()`, which keeps the fusion (only `train()` undoes it).
    dfer.modeling.fuse_batch_norm(model)
    processor = DferVideoProcessor.from_pretrained(checkpoint)
    splits = with_decoding(load_splits(data_args, processor), processor)
    if split not in splits:
        raise ValueError(f"No split {split!r}; available: {', '.join(splits)}.")
    training_args.remove_unused_columns = False
    trainer = DferTrainer(model=model, args=training_args)
    label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    record = evaluation_record(trainer, splits[split], label_names, data_args, objective="none", split=split)
    return replace(record, checkpoint=str(checkpoint))


def write_outputs(trainer, processor, record: EvaluationRecord, model_args, data_args, training_args) -> None:
    output_dir = Path(training_args.output_dir)
    trainer.save_model(str(output_dir))
    processor.save_pretrained(str(output_dir))
    write_metrics(output_dir, record)
    run_args = {**asdict(model_args), **asdict(data_args), **_training_args_dict(training_args)}
    # The file is published with the model: keep folder names, not this machine's absolute paths.
    for key in ("data_dir", "annotations", "model_name_or_path"):
        if run_args.get(key) and Path(run_args[key]).is_absolute():
            run_args[key] = Path(run_args[key]).name
    (output_dir / RUN_ARGS_NAME).write_text(json.dumps(run_args, indent=2, default=str) + "\n")


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


def _training_args_dict(training_args: DferTrainingArguments) -> dict:
    values = training_args.to_dict()
    # Machine-specific or secret values do not belong in a published recipe.
    for key in ("hub_token", "output_dir", "push_to_hub_token", "logging_dir"):
        values.pop(key, None)
    return values


def summary_line(record: dict) -> str:
    metrics = record["metrics"]
    return f"UAR {metrics['uar']:.4f}  WAR {metrics['war']:.4f}  ({metrics['num_clips']} test clips)"


__all__ = [
    "DataArguments",
    "evaluate_checkpoint",
    "evaluation_record",
    "ModelArguments",
    "build_model",
    "build_processor",
    "load_splits",
    "train_and_evaluate",
]
