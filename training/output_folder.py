"""The training output folder: the names of its files and the schema of its `metrics.json`, defined once for
every module that writes one (a training run, `dfer evaluate`) or reads one (the fold protocol, the publisher).

A training run's output folder holds:
    config.json, model.safetensors (or shards + index)   the checkpoint (`save_pretrained`), with its remote code
    video_preprocessor_config.json                      the video processor (`save_pretrained`)
    metrics.json                                        an `EvaluationRecord` (below)
    confusion_matrix.png                                the record's confusion matrix as a figure
    run_args.json                                       every argument of the run, a flat JSON object
    run_complete.json                                   written last: the run finished (and which files it wrote)
    runs/                                               TensorBoard logs (where the Trainer's callback writes them)
    checkpoint-*/                                       Trainer checkpoints, for resuming (never published)
    .dfer-run.lock                                      held (flock) by the run writing the folder; empty otherwise

A folder is a finished run only when `run_complete.json` is there (`is_complete_output`): a run removes it before
it writes anything and writes it after every other file, so a run killed while writing its final files never
looks finished, and checkpoints and logs stay where the Trainer put them.

`metrics.json` holds rates as fractions in [0, 1] and the confusion matrix with the true classes as rows and the
predictions as columns.
"""

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from transformers.utils import (
    CONFIG_NAME,
    IMAGE_PROCESSOR_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    VIDEO_PROCESSOR_NAME,
)

from dfer.utils import write_text_atomically

from .arguments import DATASETS, MODEL_SELECTIONS

METRICS_NAME = "metrics.json"
RUN_ARGS_NAME = "run_args.json"
CONFUSION_MATRIX_NAME = "confusion_matrix.png"
COMPLETION_NAME = "run_complete.json"
LOCK_NAME = ".dfer-run.lock"
# `model_selection` of a checkpoint evaluated by `dfer evaluate` whose own record does not say how it was chosen.
UNKNOWN_MODEL_SELECTION = "unknown"
# The TensorBoard callback's default `logging_dir` is `<output_dir>/runs/<date>_<host>`.
LOGS_DIRNAME = "runs"
# What `save_pretrained` writes, as transformers names it.
WEIGHTS_NAME = SAFE_WEIGHTS_NAME
WEIGHTS_INDEX_NAME = SAFE_WEIGHTS_INDEX_NAME
# The video processor's file, then the older name a processor may have been saved under.
PROCESSOR_CONFIG_NAMES = (VIDEO_PROCESSOR_NAME, IMAGE_PROCESSOR_NAME)
# The `run_args.json` key saying that `model_name_or_path` was a local folder (so not a Hub repository to link).
LOCAL_START_KEY = "model_name_or_path_is_local"

# Differences larger than this between a summary number and the confusion matrix are not rounding.
_TOLERANCE = 1e-4


class InvalidEvaluationRecord(ValueError):
    """An evaluation record (`metrics.json`) that does not follow the schema; the message says what is wrong."""


@dataclass
class EvaluationMetrics:
    """WAR, UAR, per-class accuracy and the confusion matrix of one evaluation (`metrics.json`'s "metrics")."""

    war: float
    uar: float
    per_class_accuracy: dict[str, float | None]  # None for a class without clips (left out of UAR)
    confusion_matrix: list[list[int]]  # rows: true classes, columns: predictions
    num_clips: int


@dataclass
class EvaluationRecord:
    """What `metrics.json` holds: which model was evaluated how, on what, and its metrics.

    The optional fields are written only when set: a training run sets `model_selection` and its runtimes,
    `dfer evaluate` sets `checkpoint` (a folder name or Hub repo id, never a machine path) and `model_selection`
    (the evaluated checkpoint's own, or UNKNOWN_MODEL_SELECTION).
    """

    model_type: str
    objective: str  # "none" when a saved checkpoint is evaluated
    dataset: str
    fold: int | None
    eval_split: str
    labels: list[str]
    metrics: EvaluationMetrics
    model_selection: str | None = None  # one of MODEL_SELECTIONS (or UNKNOWN_MODEL_SELECTION for an evaluation)
    test_runtime_s: float | None = None
    train_runtime_s: float | None = None
    train_samples_per_second: float | None = None
    checkpoint: str | None = None

    _WRITTEN_WHEN_SET = (
        "model_selection",
        "test_runtime_s",
        "train_runtime_s",
        "train_samples_per_second",
        "checkpoint",
    )

    def to_dict(self) -> dict:
        """The JSON object of `metrics.json`."""
        record = asdict(self)
        return {
            name: value
            for name, value in record.items()
            if not (name in self._WRITTEN_WHEN_SET and value is None)
        }

    @classmethod
    def from_dict(cls, data: dict) -> "EvaluationRecord":
        """The record of a `metrics.json` object; `InvalidEvaluationRecord` if a field is missing (see
        `validate` for the full check). Keys the schema does not know are ignored."""
        if not isinstance(data, dict):
            raise InvalidEvaluationRecord("must hold a JSON object.")
        required = [f.name for f in fields(cls) if f.name not in cls._WRITTEN_WHEN_SET and f.name != "fold"]
        _require(data, required, "missing")
        values = data["metrics"]
        if not isinstance(values, dict):
            raise InvalidEvaluationRecord("metrics must be a JSON object.")
        metric_names = [f.name for f in fields(EvaluationMetrics)]
        _require(values, metric_names, "metrics is missing")
        known = {f.name for f in fields(cls)}
        record = {name: value for name, value in data.items() if name in known}
        record["fold"] = data.get("fold")
        record["metrics"] = EvaluationMetrics(**{name: values[name] for name in metric_names})
        return cls(**record)

    def validate(self) -> None:
        """Raise `InvalidEvaluationRecord` unless this is a complete, self-consistent record of a training run."""
        check_evaluation_record(self.to_dict())

    def write(self, folder: str | os.PathLike) -> Path:
        """Write `metrics.json` into `folder` (created if needed); return its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / METRICS_NAME
        write_text_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, folder: str | os.PathLike) -> "EvaluationRecord":
        """The record in `folder`'s `metrics.json`; `InvalidEvaluationRecord` naming the file if it is not one."""
        path = Path(folder) / METRICS_NAME
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidEvaluationRecord(f"{path} is not valid JSON ({error}).") from error
        except InvalidEvaluationRecord as error:
            raise InvalidEvaluationRecord(f"{path}: {error}") from error


def mark_complete(folder: str | os.PathLike, files: list[str]) -> Path:
    """Write `run_complete.json` (the folder-relative `files` the run wrote) after every other file of the run."""
    path = Path(folder) / COMPLETION_NAME
    write_text_atomically(path, json.dumps({"files": sorted(files)}, indent=2) + "\n")
    return path


def mark_incomplete(folder: str | os.PathLike) -> None:
    """Remove `run_complete.json`: from now on the folder is being written."""
    (Path(folder) / COMPLETION_NAME).unlink(missing_ok=True)


def is_complete_output(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a finished run: `run_complete.json` is there and every file it lists exists."""
    path = Path(folder) / COMPLETION_NAME
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(files, list) and all(isinstance(name, str) and (Path(folder) / name).is_file() for name in files)


def _require(data: dict, names: list[str], problem: str) -> None:
    missing = [name for name in names if name not in data]
    if missing:
        raise InvalidEvaluationRecord(f"{problem} {', '.join(missing)}.")


def check_evaluation_record(data: object) -> None:
    """Raise `InvalidEvaluationRecord` naming the first problem of a `metrics.json` object: fields missing or of
    the wrong kind, names outside the vocabulary, or summary numbers that disagree with the confusion matrix."""

    def fail(problem: str):
        raise InvalidEvaluationRecord(problem)

    if not isinstance(data, dict):
        fail("must hold a JSON object.")
    required = ("model_type", "objective", "dataset", "eval_split", "model_selection", "labels", "metrics")
    missing = [key for key in required if key not in data]
    if missing:
        fail(f"missing {', '.join(missing)}.")
    # A training run knows how its checkpoint was chosen; an evaluated checkpoint (`checkpoint` set) may not.
    selections = MODEL_SELECTIONS if data.get("checkpoint") is None else (*MODEL_SELECTIONS, UNKNOWN_MODEL_SELECTION)
    if data["model_selection"] not in selections:
        fail(f"model_selection {data['model_selection']!r} is not one of {', '.join(selections)}.")
    checkpoint = data.get("checkpoint")
    if checkpoint is not None and (not isinstance(checkpoint, str) or os.path.isabs(checkpoint) or not checkpoint):
        fail(f"checkpoint must be a folder name or Hub repo id, not a machine path: {checkpoint!r}.")
    if data["dataset"] not in DATASETS:
        fail(f"dataset {data['dataset']!r} is not one of {', '.join(DATASETS)}.")
    fold = data.get("fold")
    if data["dataset"] in ("dfew", "mafw") and fold not in (1, 2, 3, 4, 5):
        fail(f"a {data['dataset'].upper()} run must name its fold (1 to 5), got {fold!r}.")
    if fold is not None and (not isinstance(fold, int) or isinstance(fold, bool) or fold < 1):
        fail(f"fold must be a positive integer or null, got {fold!r}.")
    labels = data["labels"]
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
        fail("labels must be a list of at least two class names.")
    if len(set(labels)) != len(labels):
        fail("labels must be distinct.")

    values = data["metrics"]
    required = ("war", "uar", "per_class_accuracy", "confusion_matrix", "num_clips")
    missing = [key for key in required if not isinstance(values, dict) or key not in values]
    if missing:
        fail(f"metrics is missing {', '.join(missing)}.")
    matrix = values["confusion_matrix"]
    if not (
        isinstance(matrix, list)
        and len(matrix) == len(labels)
        and all(isinstance(row, list) and len(row) == len(labels) for row in matrix)
        and all(
            isinstance(count, int) and not isinstance(count, bool) and count >= 0
            for row in matrix
            for count in row
        )
    ):
        fail(
            f"confusion_matrix must be {len(labels)}x{len(labels)} non-negative clip counts (one row per label)."
        )
    total = sum(map(sum, matrix))
    if values["num_clips"] != total or total == 0:
        fail(f"num_clips is {values['num_clips']} but the confusion matrix counts {total} clips.")
    for name in ("war", "uar"):
        value = values[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            fail(f"{name} must be a fraction in [0, 1], got {value!r} (percentages are not accepted).")
    per_class = values["per_class_accuracy"]
    if not isinstance(per_class, dict) or set(per_class) != set(labels):
        fail("per_class_accuracy must give one value for each label, keyed by label name.")

    # The summary numbers must be the ones the confusion matrix gives (rows = true classes).
    war = sum(matrix[i][i] for i in range(len(labels))) / total
    if abs(values["war"] - war) > _TOLERANCE:
        fail(f"war is {values['war']} but the confusion matrix gives {war:.6f}.")
    supported = []
    for i, label in enumerate(labels):
        support = sum(matrix[i])
        value = per_class[label]
        if support == 0:
            continue
        recall = matrix[i][i] / support
        if not isinstance(value, (int, float)) or abs(value - recall) > _TOLERANCE:
            fail(
                f"per_class_accuracy[{label!r}] is {value} but its confusion-matrix row gives {recall:.6f} "
                "(rows must be the true classes)."
            )
        supported.append(recall)
    uar = sum(supported) / len(supported)
    if abs(values["uar"] - uar) > _TOLERANCE:
        fail(f"uar is {values['uar']} but the mean per-class accuracy is {uar:.6f}.")


__all__ = [
    "LOCAL_START_KEY",
    "COMPLETION_NAME",
    "CONFIG_NAME",
    "CONFUSION_MATRIX_NAME",
    "LOCK_NAME",
    "LOGS_DIRNAME",
    "METRICS_NAME",
    "PROCESSOR_CONFIG_NAMES",
    "RUN_ARGS_NAME",
    "UNKNOWN_MODEL_SELECTION",
    "WEIGHTS_INDEX_NAME",
    "WEIGHTS_NAME",
    "EvaluationMetrics",
    "EvaluationRecord",
    "InvalidEvaluationRecord",
    "check_evaluation_record",
    "is_complete_output",
    "mark_complete",
    "mark_incomplete",
]
