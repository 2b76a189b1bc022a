"""The DFEW 5-fold protocol: train and test each fold, then report every fold and the mean +- std over folds.

Metrics are computed per fold and then averaged (the folds' predictions are never pooled into one confusion
matrix). A fold whose output folder holds a finished run (`run_complete.json`, written after every other file) is
not trained again; any other fold is trained, resuming its newest complete checkpoint if it has one, so an
interrupted protocol resumes where it stopped. The protocol holds the lock of its root folder while it runs, and
each fold's run the lock of its fold folder.
"""

import copy
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from dfer.data import DFEW_FOLDS
from dfer.utils import write_text_atomically

from .arguments import DataArguments, ModelArguments
from .checkpoints import check_resume_arguments
from .distributed import broadcast_from_main
from .output_folder import (
    EvaluationRecord,
    InvalidEvaluationRecord,
    is_complete_output,
)
from .run import run_arguments, train_and_evaluate
from .run_checks import check_run_settings
from .run_lock import OutputFolderLock
from .trainer import DferTrainingArguments

logger = logging.getLogger(__name__)

RESULTS_JSON = "results.json"
RESULTS_MARKDOWN = "results.md"


def summarize_folds(records: list[dict]) -> dict:
    """Per-fold UAR/WAR/per-class accuracy and their mean and sample standard deviation (ddof=1) over folds."""
    if not records:
        raise ValueError("No fold results to summarise.")
    labels = records[0]["labels"]
    rows = []
    for record in sorted(records, key=lambda r: r["fold"]):
        metrics = record["metrics"]
        rows.append(
            {
                "fold": record["fold"],
                "uar": metrics["uar"],
                "war": metrics["war"],
                "per_class_accuracy": metrics["per_class_accuracy"],
                "num_clips": metrics["num_clips"],
            }
        )

    def mean_std(values: list[float | None]) -> dict:
        present = np.array([v for v in values if v is not None], dtype=float)
        if present.size == 0:
            return {"mean": None, "std": None}
        std = float(present.std(ddof=1)) if present.size > 1 else 0.0
        return {"mean": float(present.mean()), "std": std}

    return {
        "model_type": records[0]["model_type"],
        "dataset": records[0]["dataset"],
        "model_selection": records[0].get("model_selection"),
        "labels": labels,
        "folds": rows,
        "uar": mean_std([row["uar"] for row in rows]),
        "war": mean_std([row["war"] for row in rows]),
        "per_class_accuracy": {
            name: mean_std([row["per_class_accuracy"][name] for row in rows]) for name in labels
        },
    }


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def results_markdown(summary: dict) -> str:
    labels = summary["labels"]
    header = ["fold", "UAR", "WAR", *labels]
    lines = [
        f"# {summary['model_type']} on {summary['dataset']} ({len(summary['folds'])} folds, "
        f"model selection: {str(summary['model_selection']).replace('_', ' ')})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in summary["folds"]:
        cells = [str(row["fold"]), _percent(row["uar"]), _percent(row["war"])]
        cells += [_percent(row["per_class_accuracy"][name]) for name in labels]
        lines.append("| " + " | ".join(cells) + " |")

    def with_std(stat: dict) -> str:
        return "–" if stat["mean"] is None else f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"

    mean_cells = ["mean ± std", with_std(summary["uar"]), with_std(summary["war"])]
    mean_cells += [with_std(summary["per_class_accuracy"][name]) for name in labels]
    lines.append("| " + " | ".join(mean_cells) + " |")
    lines += ["", "Percentages; std is the sample standard deviation over folds (metrics computed per fold)."]
    return "\n".join(lines) + "\n"


def run_folds(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: DferTrainingArguments,
    folds: list[int] = (1, 2, 3, 4, 5),
) -> dict:
    """Train + test every fold under `output_dir/fold_<k>`, then write `results.json` and `results.md`."""
    root = Path(training_args.output_dir)
    folds = list(folds)
    unknown = [fold for fold in folds if fold not in DFEW_FOLDS]
    if unknown or not folds or len(set(folds)) != len(folds):
        raise ValueError(
            f"--folds {' '.join(map(str, folds))}: give distinct folds among {' '.join(map(str, DFEW_FOLDS))}."
        )
    for fold in folds:  # every fold's settings are checked before the first one trains
        check_run_settings(model_args, dataclasses.replace(data_args, fold=fold), training_args)
    training_args.device  # noqa: B018  (sets up the process group under torchrun / accelerate)
    lock, error = None, None
    if training_args.process_index == 0:
        try:
            lock = OutputFolderLock(root).acquire()
        except ValueError as refused:
            error = str(refused)
    error = broadcast_from_main(error)
    if error:
        raise ValueError(error)
    try:
        records = [_fold_record(model_args, data_args, training_args, root, fold) for fold in folds]
        summary = summarize_folds(records)
        if training_args.should_save:
            write_text_atomically(root / RESULTS_JSON, json.dumps(summary, indent=2) + "\n")
            write_text_atomically(root / RESULTS_MARKDOWN, results_markdown(summary))
    finally:
        if lock is not None:
            lock.release()
    return summary


def fold_output_dir(root: str | Path, fold: int) -> Path:
    """Where the fold protocol under `root` writes fold `fold`'s output folder."""
    return Path(root) / f"fold_{fold}"


def _fold_record(model_args, data_args, training_args, root: Path, fold: int) -> dict:
    """The record of one fold: read back when its folder holds a finished run, else trained (resumed from the
    fold's newest complete checkpoint when it has one)."""
    fold_dir = fold_output_dir(root, fold)
    fold_data = dataclasses.replace(data_args, fold=fold)
    fold_training = copy.deepcopy(training_args)
    fold_training.output_dir = str(fold_dir)
    if is_complete_output(fold_dir):
        # A finished fold counts only if it was trained with this protocol's settings: the table must not mix runs.
        current = run_arguments(model_args, fold_data, fold_training)
        check_resume_arguments(fold_dir, current, fold_training.ignore_resume_mismatch)
        try:
            record = EvaluationRecord.read(fold_dir).to_dict()
        except InvalidEvaluationRecord as error:
            raise ValueError(f"fold {fold} is marked finished but its record is unreadable: {error}") from error
        logger.warning("Fold %d already finished (%s); not training it again.", fold, fold_dir)
        return record
    if fold_training.resume_from_checkpoint is None:
        # An interrupted fold goes on from its newest complete checkpoint (a fold never started begins afresh).
        fold_training.resume_from_checkpoint = "last"
    return train_and_evaluate(copy.deepcopy(model_args), fold_data, fold_training)

