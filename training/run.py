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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

from transformers import set_seed

from dfer.utils import write_text_atomically

from .arguments import DataArguments, ModelArguments
from .checkpoints import check_resume_arguments, checkpoint_step, newest_complete_checkpoint, set_aside
from .distributed import broadcast_from_main, wait_for_everyone
from .evaluation import evaluation_record, write_metrics
from .metrics import flat_metrics, make_compute_metrics
from .output_folder import (
    CONFIG_NAME,
    CONFUSION_MATRIX_NAME,
    LOCAL_START_KEY,
    METRICS_NAME,
    PROCESSOR_CONFIG_NAMES,
    RUN_ARGS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    EvaluationRecord,
    is_complete_output,
    mark_complete,
    mark_incomplete,
)
from .run_checks import check_run_settings, checkpoint_requirements
from .run_components import (
    align_labels,
    build_model,
    build_processor,
    check_labels_fit_checkpoint,
    configure_model_selection,
    load_splits,
    same_labels,
    starting_label_names,
    with_decoding,
)
from .run_lock import OutputFolderLock
from .trainer import DferTrainer, DferTrainingArguments

logger = logging.getLogger(__name__)


def _checkpoint_to_resume(training_args: DferTrainingArguments, run_args: dict) -> str | None:
    """The checkpoint this run resumes (None: a fresh start); run by the main process holding the lock."""
    output_dir = Path(training_args.output_dir)
    requirements = checkpoint_requirements(training_args)
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
            logger.warning("--resume_from_checkpoint last: no checkpoint in %s yet, starting afresh.", output_dir)
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
        splits, label_names = _labelled_splits(model_args, data_args, processor)
        splits = with_decoding(splits, processor)
        eval_split = selection_split
        if eval_split is None and "validation" in splits:
            # The data brings its own validation split: evaluate on it every epoch (TensorBoard shows WAR, UAR and
            # per-class accuracy) without letting it choose the model.
            training_args.eval_strategy, eval_split = "epoch", "validation"
        model = build_model(model_args, label_names)
        if training_args.objective == "ce" and getattr(model, "auxiliary_classifiers", None):
            # Plain CE leaves GCA-ResNet's auxiliary heads without gradient, which DDP must be told about.
            training_args.ddp_find_unused_parameters = True
        run_args = run_arguments(model_args, data_args, training_args)  # with what the data and model decided

        trainer = DferTrainer(
            model=model,
            args=training_args,
            train_dataset=splits["train"],
            eval_dataset=splits[eval_split] if eval_split else None,
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
        # The final test metrics, in every model-selection mode, beside the per-epoch ones in TensorBoard.
        trainer.log(flat_metrics(asdict(record.metrics), prefix="test_"))
        if trainer.is_world_process_zero():
            write_outputs(trainer, processor, record, run_args, training_args)
        # No process leaves while rank 0 still writes, and none holds the DDP model when it does (see
        # distributed.py).
        del trainer, model
        gc.collect()
        wait_for_everyone()
    return record.to_dict()


def _labelled_splits(model_args: ModelArguments, data_args: DataArguments, processor) -> tuple:
    """(checked splits, label names in the model's output order). Starting from a checkpoint whose labels are the
    dataset's in another order, the dataset takes the checkpoint's order; other labels need
    --ignore_mismatched_sizes (checked here, before any model is built)."""
    splits = load_splits(data_args, processor)
    if "train" not in splits:
        raise ValueError(
            f"--data_dir {data_args.data_dir} has no train split (only {', '.join(splits)}): give training clips a "
            "train/ folder or the split train, or leave the splits out to have a test split held out."
        )
    label_names = splits["train"].features["label"].names
    if len(label_names) < 2:
        raise ValueError(
            f"--data_dir {data_args.data_dir}: the training clips hold {len(label_names)} class "
            f"({', '.join(label_names)}); a classifier needs at least two."
        )
    start = starting_label_names(model_args)
    lowered = sorted(name.lower() for name in label_names)
    if start is not None and sorted(name.lower() for name in start) == lowered and not same_labels(start, label_names):
        splits = align_labels(splits, start, f"--model_name_or_path {model_args.model_name_or_path}")
        label_names = start
    check_labels_fit_checkpoint(model_args, label_names, start)
    return splits, list(label_names)


def run_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: DferTrainingArguments) -> dict:
    """Every argument of the run, as `run_args.json` holds it (published with the model): folder names rather
    than this machine's paths, and no token."""
    run_args = {**asdict(model_args), **asdict(data_args), **_training_args_dict(training_args)}
    start = model_args.model_name_or_path
    # A model card links the model a run started from only when it is a Hub repository, never a local folder
    # whose path happens to look like a repo id (`outputs/sample`).
    run_args[LOCAL_START_KEY] = bool(start) and Path(start).expanduser().is_dir()
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


def _training_args_dict(training_args: DferTrainingArguments) -> dict:
    values = training_args.to_dict()
    # Machine-specific or secret values do not belong in a published recipe.
    for key in ("hub_token", "output_dir", "push_to_hub_token", "logging_dir"):
        values.pop(key, None)
    return values


__all__ = ["claimed_output_folder", "train_and_evaluate", "run_arguments", "write_outputs"]
