"""One training run: data -> model -> `DferTrainer` -> final evaluation -> a loadable output folder.

The output folder (what `dfer push` publishes) is laid out in `output_folder.py`: the model and its remote code
(loads with or without `dfer`), the video processor in evaluation mode, `metrics.json` (an `EvaluationRecord`:
WAR, UAR, per-class accuracy, confusion matrix), the confusion-matrix figure, the run's arguments, TensorBoard
logs and the Trainer's checkpoints (for resuming).

Before any data is read or model built, `check_run_settings` refuses every setting that cannot work (values,
folders, the model's configuration against the objective, the checkpoint to resume). Then the main process claims
the output folder (`claimed_output_folder`): it takes the folder's lock (one run per folder), marks the folder
unfinished, and finds the checkpoint to resume: `--resume_from_checkpoint last` takes the newest *complete*
checkpoint (incomplete ones are set aside, named in a warning), and a checkpoint written with another model,
data, fold, objective or seed is refused unless `--ignore_resume_mismatch`. The final files are written last,
then `run_complete.json` (see output_folder.py), so an aborted run never looks finished.
"""

import gc
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from accelerate import PartialState
from datasets import DatasetDict
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoModelForVideoClassification,
    PreTrainedConfig,
    PreTrainedModel,
    set_seed,
)
from transformers.utils import cached_file

import dfer.modeling  # noqa: F401  (registers the models with the Auto classes)
from dfer.data import EMOTION_LABELS, ClipTransform, generate_sample_dataset, load_dfew, load_ferv39k
from dfer.processing import DferVideoProcessor

from .arguments import (
    DATASETS,
    FOLDED_DATASETS,
    MODEL_SELECTIONS,
    DataArguments,
    ModelArguments,
    check_run_arguments,
    parse_overrides,
)
from .checkpoints import (
    check_model_folder,
    check_resume_arguments,
    checkpoint_problem,
    checkpoint_step,
    newest_complete_checkpoint,
    set_aside,
)
from .distributed import broadcast_from_main, wait_for_everyone
from .metrics import (
    classification_metrics,
    logits_from_predictions,
    make_compute_metrics,
    save_confusion_matrix_figure,
)
from .output_folder import (
    CONFIG_NAME,
    CONFUSION_MATRIX_NAME,
    METRICS_NAME,
    PROCESSOR_CONFIG_NAMES,
    RUN_ARGS_NAME,
    UNKNOWN_MODEL_SELECTION,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    EvaluationMetrics,
    EvaluationRecord,
    is_complete_output,
    mark_complete,
    mark_incomplete,
    write_text_atomically,
)
from .run_lock import OutputFolderLock
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


def _label_maps(label_names: list[str]) -> dict:
    return dict(id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)})


def build_config(model_args: ModelArguments, label_names: list[str]) -> PreTrainedConfig:
    """The configuration of the model a run trains (a fresh one, or the one of --model_name_or_path), with the
    overrides applied; `ValueError` for an override the configuration does not have or refuses."""
    overrides = parse_overrides(model_args.config_overrides)
    try:
        if model_args.model_name_or_path:
            base = AutoConfig.from_pretrained(model_args.model_name_or_path)
        else:
            base = AutoConfig.for_model(model_args.model)
        unknown = [name for name in overrides if not hasattr(base, name)]
        if unknown:
            raise ValueError(
                f"--config_overrides: {', '.join(unknown)} is not a setting of the {base.model_type} configuration."
            )
        if model_args.model_name_or_path:
            return AutoConfig.from_pretrained(model_args.model_name_or_path, **_label_maps(label_names), **overrides)
        return AutoConfig.for_model(
            model_args.model,
            num_frames=model_args.num_frames,
            image_size=model_args.image_size,
            **_label_maps(label_names),
            **overrides,
        )
    except (TypeError, ValueError, OSError) as error:
        if str(error).startswith("--config_overrides"):
            raise
        source = model_args.model_name_or_path or model_args.model
        given = " and --config_overrides" if model_args.config_overrides else ""
        raise ValueError(f"the {source} configuration refuses these settings (--num_frames, --image_size{given}): {error}") from error


def build_model(model_args: ModelArguments, label_names: list[str]) -> PreTrainedModel:
    if model_args.model_name_or_path:
        overrides = parse_overrides(model_args.config_overrides)
        return AutoModelForVideoClassification.from_pretrained(
            model_args.model_name_or_path, **_label_maps(label_names), **overrides
        )
    return AutoModelForVideoClassification.from_config(build_config(model_args, label_names))


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


# -- checks before any work -------------------------------------------------------------------------------------


def check_output_folder(output_dir: str | None, flag: str = "--output_dir") -> None:
    """`ValueError` unless `output_dir` is (or can be created as) a folder this process can write."""
    if not output_dir:
        raise ValueError(f"{flag} is required: the folder the run writes.")
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {output_dir} is a file, not a folder: choose a folder for the run.")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} {output_dir}: {existing} is a file, so the folder cannot be created.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {output_dir}: {existing} is not writable (permission denied); choose another folder.")


def check_data_folders(data_args: DataArguments) -> None:
    """`ValueError` unless the dataset's folders exist (the sample's root is generated when missing)."""
    root = Path(data_args.data_dir)
    if data_args.dataset == "sample":
        if root.exists() and not root.is_dir():
            raise ValueError(f"--data_dir {root} is a file: the sample dataset is generated into a folder.")
    elif not root.is_dir():
        raise ValueError(f"--data_dir {root}: no such folder (the {data_args.dataset} dataset's root).")
    if data_args.annotations and not Path(data_args.annotations).is_dir():
        raise ValueError(f"--annotations {data_args.annotations}: no such folder (it holds the list files).")


def _auxiliary_heads(config: PreTrainedConfig) -> int:
    """How many auxiliary classifiers the model has (GCA-ResNet: one per GCA stage)."""
    return sum(bool(flag) for flag in getattr(config, "gca_stages", None) or ())


def check_objective_fits_model(training_args: DferTrainingArguments, config: PreTrainedConfig) -> None:
    """`ValueError` if the objective needs outputs the model does not give."""
    objective, model_type = training_args.objective, config.model_type
    if objective == "ial":
        heads = _auxiliary_heads(config)
        weighted = [w for w in training_args.auxiliary_weights[heads:] if w != 0]
        if weighted:
            raise ValueError(
                f"--objective ial: {model_type} has {heads} auxiliary head(s) but --auxiliary_weights "
                f"{' '.join(map(str, training_args.auxiliary_weights))} weights more; give one weight per head "
                f"({' '.join(['0'] * max(heads, 1))} for none)."
            )
    if objective == "compact":
        feature_dim = getattr(config, "hidden_size", None) or getattr(config, "temporal_hidden_size", None)
        if not feature_dim:
            raise ValueError(f"--objective compact needs the model's clip feature size; {model_type} does not give one.")


def check_run_settings(model_args: ModelArguments, data_args: DataArguments, training_args: DferTrainingArguments) -> None:
    """`ValueError` for any setting of a run that cannot work, before anything is written, any data read or any
    model built: the values (`check_run_arguments`), the dataset's folders, the output folder, the model's
    configuration (overrides, --model_name_or_path) against the objective and the frame settings, and an explicit
    --resume_from_checkpoint."""
    check_run_arguments(model_args, data_args, training_args)
    check_data_folders(data_args)
    check_output_folder(training_args.output_dir)
    if model_args.model_name_or_path:
        check_model_folder(model_args.model_name_or_path, "--model_name_or_path")
    config = build_config(model_args, list(EMOTION_LABELS))
    if model_args.model_name_or_path:
        for name in ("num_frames", "image_size"):
            value = getattr(config, name, None)
            if value is not None and value != getattr(model_args, name):
                raise ValueError(
                    f"--model_name_or_path {model_args.model_name_or_path} takes {name} {value}, but the run "
                    f"would feed it {getattr(model_args, name)}: pass --{name} {value}."
                )
    check_objective_fits_model(training_args, config)
    resume = training_args.resume_from_checkpoint
    if resume is not None and resume != "last":
        if not Path(resume).is_dir():
            raise ValueError(f"--resume_from_checkpoint {resume}: no such folder (or pass 'last').")
        problem = checkpoint_problem(resume, **_checkpoint_requirements(training_args))
        if problem:
            raise ValueError(f"--resume_from_checkpoint {resume} is not a complete checkpoint: {problem}.")


# -- the output folder ------------------------------------------------------------------------------------------


def _checkpoint_requirements(training_args: DferTrainingArguments) -> dict:
    return dict(
        needs_optimizer_state=not training_args.save_only_model,
        needs_objective_state=training_args.objective == "compact",
    )


def _checkpoint_to_resume(training_args: DferTrainingArguments, run_args: dict) -> str | None:
    """The checkpoint this run resumes (None: a fresh start); run by the main process holding the lock."""
    output_dir = Path(training_args.output_dir)
    requirements = _checkpoint_requirements(training_args)
    resume = training_args.resume_from_checkpoint
    if resume == "last":
        newest, incomplete = newest_complete_checkpoint(output_dir, **requirements)
        for path, problem in incomplete:
            moved = set_aside(path)
            logger.warning(
                "Skipped %s, an incomplete checkpoint (%s: the run that wrote it was interrupted); renamed it %s.",
                path.name, problem, moved.name,
            )
        if newest is None:
            if is_complete_output(output_dir):
                raise ValueError(
                    f"--output_dir {output_dir} holds a finished run and no checkpoint to resume: choose another "
                    "--output_dir for a new run."
                )
            logger.info("No checkpoint in %s yet: starting afresh.", output_dir)
            return None
        logger.info("Resuming from %s.", newest)
        resume = newest
    elif resume is None:
        existing = sorted(
            (p.name for p in output_dir.iterdir() if p.is_dir() and checkpoint_step(p) is not None),
            key=lambda name: checkpoint_step(name),
        )
        if existing or is_complete_output(output_dir):
            what = f"checkpoints of an earlier run ({', '.join(existing)})" if existing else "a finished run"
            raise ValueError(
                f"--output_dir {output_dir} holds {what}: pass --resume_from_checkpoint last to continue it, or "
                "choose another --output_dir for a new run."
            )
        return None
    check_resume_arguments(Path(resume), run_args, training_args.ignore_resume_mismatch)
    return str(resume)


@contextmanager
def claimed_output_folder(training_args: DferTrainingArguments, run_args: dict) -> Iterator[str | None]:
    """Hold the output folder for the run inside the `with` block; yield the checkpoint to resume (or None).

    The main process takes the folder's lock, marks the folder unfinished and chooses the checkpoint; every process
    learns the outcome from it (one broadcast), so under torchrun all of them stop with the same `ValueError` when
    the folder is in use, cannot be written, or the checkpoint does not belong to this run."""
    training_args.device  # noqa: B018  (sets up the process group under torchrun / accelerate)
    lock, outcome = None, {"error": None, "resume": None}
    if training_args.process_index == 0:
        try:
            lock = OutputFolderLock(training_args.output_dir).acquire()
            outcome["resume"] = _checkpoint_to_resume(training_args, run_args)
            mark_incomplete(training_args.output_dir)
        except (ValueError, OSError) as error:
            outcome["error"] = str(error)
            if lock is not None:
                lock.release()
    outcome = broadcast_from_main(outcome)
    if outcome["error"]:
        raise ValueError(outcome["error"])
    try:
        yield outcome["resume"]
    finally:
        if lock is not None:
            lock.release()


# -- one run ----------------------------------------------------------------------------------------------------


def train_and_evaluate(
    model_args: ModelArguments, data_args: DataArguments, training_args: DferTrainingArguments
) -> dict:
    """Train, evaluate on the test split and write the output folder; return the metrics record (the
    `metrics.json` object)."""
    check_run_settings(model_args, data_args, training_args)
    training_args.remove_unused_columns = False  # the decoding transform needs the `path` column
    selection_split = configure_model_selection(data_args, training_args)
    run_args = run_arguments(model_args, data_args, training_args)
    with claimed_output_folder(training_args, run_args) as resume:
        set_seed(training_args.seed)
        processor = build_processor(model_args, data_args)
        splits = with_decoding(load_splits(data_args, processor), processor)
        label_names = list(EMOTION_LABELS)
        model = build_model(model_args, label_names)
        if training_args.objective == "ce" and getattr(model, "auxiliary_classifiers", None):
            # Plain CE leaves GCA-ResNet's auxiliary heads without gradient, which DDP must be told about.
            training_args.ddp_find_unused_parameters = True
            run_args = run_arguments(model_args, data_args, training_args)

        trainer = DferTrainer(
            model=model,
            args=training_args,
            train_dataset=splits["train"],
            eval_dataset=splits[selection_split] if selection_split else None,
            compute_metrics=make_compute_metrics(label_names),
            # Each checkpoint carries the run's arguments: a later resume checks that it is the same run.
            extra_files={RUN_ARGS_NAME: _run_args_text(run_args)},
        )
        train_result = trainer.train(resume_from_checkpoint=resume)

        record = replace(
            evaluation_record(trainer, splits["test"], label_names, data_args, training_args.objective),
            model_selection=data_args.model_selection,
            train_runtime_s=round(train_result.metrics.get("train_runtime", float("nan")), 1),
            train_samples_per_second=train_result.metrics.get("train_samples_per_second"),
        )
        if trainer.is_world_process_zero():
            write_outputs(trainer, processor, record, run_args, training_args)
        # No process leaves while rank 0 still writes, and none holds the DDP model when it does (see
        # distributed.py).
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
    """Evaluate a saved checkpoint (model + processor) on a split, with its own preprocessing. The record names
    the checkpoint as given; `published_evaluation_record` makes it the record `dfer evaluate` writes.
    `ValueError` (before any data is read) for a checkpoint that is not a loadable model folder."""
    check_model_folder(checkpoint, "--checkpoint", need_processor=True)
    check_data_folders(data_args)
    try:
        model = AutoModelForVideoClassification.from_pretrained(checkpoint)
        processor = DferVideoProcessor.from_pretrained(checkpoint)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"--checkpoint {checkpoint} could not be loaded: {detail}") from error
    # Inference only: `Trainer.predict` calls `eval()`, which keeps the fusion (only `train()` undoes it).
    dfer.modeling.fuse_batch_norm(model)
    splits = with_decoding(load_splits(data_args, processor), processor)
    if split not in splits:
        raise ValueError(f"No split {split!r}; available: {', '.join(splits)}.")
    training_args.remove_unused_columns = False
    trainer = DferTrainer(model=model, args=training_args)
    label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
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


def run_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: DferTrainingArguments) -> dict:
    """Every argument of the run, as `run_args.json` holds it (published with the model): folder names rather
    than this machine's paths, and no token."""
    run_args = {**asdict(model_args), **asdict(data_args), **_training_args_dict(training_args)}
    for key in ("data_dir", "annotations", "model_name_or_path", "resume_from_checkpoint"):
        if run_args.get(key) and Path(run_args[key]).is_absolute():
            run_args[key] = Path(run_args[key]).name
    return run_args


def _run_args_text(run_args: dict) -> str:
    return json.dumps(run_args, indent=2, default=str) + "\n"


def _weight_files(output_dir: Path) -> list[str]:
    if (output_dir / WEIGHTS_NAME).is_file():
        return [WEIGHTS_NAME]
    index = output_dir / WEIGHTS_INDEX_NAME
    shards = set(json.loads(index.read_text()).get("weight_map", {}).values()) if index.is_file() else set()
    return [WEIGHTS_INDEX_NAME, *sorted(shards)] if index.is_file() else []


def write_outputs(trainer, processor, record: EvaluationRecord, run_args: dict, training_args) -> None:
    """The final files of a run, then `run_complete.json` listing them (written last: the run is finished)."""
    output_dir = Path(training_args.output_dir)
    trainer.save_model(str(output_dir))
    processor.save_pretrained(str(output_dir))
    write_metrics(output_dir, record)
    write_text_atomically(output_dir / RUN_ARGS_NAME, _run_args_text(run_args))
    processor_name = next(name for name in PROCESSOR_CONFIG_NAMES if (output_dir / name).is_file())
    files = [CONFIG_NAME, *_weight_files(output_dir), processor_name, METRICS_NAME, CONFUSION_MATRIX_NAME, RUN_ARGS_NAME]
    mark_complete(output_dir, files)


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
    "ModelArguments",
    "build_config",
    "build_model",
    "build_processor",
    "check_run_settings",
    "checkpoint_reference",
    "claimed_output_folder",
    "evaluate_checkpoint",
    "evaluation_record",
    "load_splits",
    "parse_overrides",
    "published_evaluation_record",
    "run_arguments",
    "train_and_evaluate",
]
