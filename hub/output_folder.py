"""Reading and checking a training output folder before it is published (its layout and the `metrics.json`
schema are defined in `dfer.training.output_folder`).

Everything is checked before any request is sent (files present, `auto_map` pointing at files that exist,
labels agreeing between config and metrics, metrics agreeing with their own confusion matrix), so a bad folder
fails with one message naming the file, and nothing is published.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dfer.training.output_folder import (
    CONFIG_NAME,
    CONFUSION_MATRIX_NAME,
    LOGS_DIRNAME,
    METRICS_NAME,
    PROCESSOR_CONFIG_NAMES,
    RUN_ARGS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    InvalidEvaluationRecord,
    check_evaluation_record,
)

from .card_files import MODEL_CARDS_DIR, known_model_types


class PublishError(Exception):
    """A training output folder cannot be published, or the Hub refused it; the message says what to do."""


@dataclass(frozen=True)
class TrainingOutput:
    """A checked training output folder: its parsed JSON files and the files a Hub repository receives."""

    folder: Path
    config: dict
    processor_config: dict
    metrics: dict  # the `metrics.json` object, checked against its schema
    run_args: dict
    checkpoint_files: tuple[str, ...]  # config, weights, processor config, remote code (folder-relative)
    confusion_matrix_image: str | None
    log_files: tuple[str, ...]

    @property
    def model_type(self) -> str:
        return self.metrics["model_type"]

    @property
    def labels(self) -> list[str]:
        return list(self.metrics["labels"])


def read_training_output(output_dir: str | os.PathLike) -> TrainingOutput:
    """Read and check a training output folder; raise `PublishError` naming the first problem found."""
    folder = Path(output_dir)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder: pass the training run's output directory.")
    config = _read_json(
        folder / CONFIG_NAME, "the checkpoint's configuration (save the model with `save_pretrained`)"
    )
    metrics = _read_json(folder / METRICS_NAME, "the evaluation metrics written at the end of training")
    run_args = _read_json(folder / RUN_ARGS_NAME, "the arguments of the training run")
    processor_name = next((name for name in PROCESSOR_CONFIG_NAMES if (folder / name).is_file()), None)
    if processor_name is None:
        raise PublishError(
            f"{folder} has no video processor ({' or '.join(PROCESSOR_CONFIG_NAMES)}): save the processor "
            "with `save_pretrained` next to the model so that `pipeline` can read videos."
        )
    processor_config = _read_json(folder / processor_name, "the video processor's configuration")
    for name, value in ((CONFIG_NAME, config), (processor_name, processor_config)):
        if not isinstance(value, dict):
            raise PublishError(
                f"{folder / name} must hold a JSON object; save it again with `save_pretrained`."
            )

    _check_metrics(metrics, folder / METRICS_NAME)
    if not isinstance(run_args, dict) or not run_args:
        raise PublishError(
            f"{folder / RUN_ARGS_NAME} must hold a non-empty JSON object of the run's arguments."
        )
    _check_config(config, metrics, folder)
    code_files = _check_remote_code(config, processor_config, processor_name, folder)
    weight_files = _weight_files(folder)

    image = CONFUSION_MATRIX_NAME if (folder / CONFUSION_MATRIX_NAME).is_file() else None
    logs = folder / LOGS_DIRNAME
    log_files = (
        tuple(sorted(path.relative_to(folder).as_posix() for path in logs.rglob("*") if path.is_file()))
        if logs.is_dir()
        else ()
    )
    checkpoint_files = (CONFIG_NAME, *weight_files, processor_name, *code_files)
    return TrainingOutput(
        folder, config, processor_config, metrics, run_args, checkpoint_files, image, log_files
    )


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise PublishError(f"{path} is missing: it should hold {what}.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PublishError(
            f"{path} is not valid JSON ({error}); write it again from the training run."
        ) from error


def _check_metrics(metrics: dict, path: Path) -> None:
    try:
        check_evaluation_record(metrics)
    except InvalidEvaluationRecord as error:
        raise PublishError(f"{path}: {error}") from error


def _check_config(config: dict, metrics: dict, folder: Path) -> None:
    path = folder / CONFIG_NAME
    if config.get("model_type") != metrics["model_type"]:
        raise PublishError(
            f"{path} is a {config.get('model_type')!r} model but {folder / METRICS_NAME} reports "
            f"{metrics['model_type']!r}: the metrics belong to another run."
        )
    known = known_model_types()
    if metrics["model_type"] not in known:
        raise PublishError(
            f"No model card facts for model_type {metrics['model_type']!r} in {MODEL_CARDS_DIR} "
            f"(known: {', '.join(known)})."
        )
    id2label = config.get("id2label") or {}
    config_labels = [id2label.get(str(i)) for i in range(len(id2label))]
    if config_labels != metrics["labels"]:
        raise PublishError(
            f"{path} has labels {config_labels} but {folder / METRICS_NAME} has {metrics['labels']}: "
            "they must be the same classes in the same order."
        )
    if "num_frames" not in config:
        raise PublishError(f"{path} has no `num_frames`; the video-classification pipeline needs it.")


def _check_remote_code(
    config: dict, processor_config: dict, processor_name: str, folder: Path
) -> tuple[str, ...]:
    """The `auto_map` entries that remote loading needs, and the `.py` files (those and their siblings)."""
    needs = [
        (CONFIG_NAME, config, ("AutoConfig", "AutoModelForVideoClassification")),
        (processor_name, processor_config, ("AutoVideoProcessor",)),
    ]
    for filename, values, classes in needs:
        auto_map = values.get("auto_map") or {}
        for auto_class in classes:
            reference = auto_map.get(auto_class)
            if isinstance(reference, list):  # processors may map to (slow, fast) pairs
                reference = next((item for item in reference if item), None)
            if not reference:
                raise PublishError(
                    f"{folder / filename} has no auto_map entry for {auto_class}, so the checkpoint would not load "
                    "with trust_remote_code=True: save it after `import dfer.modeling` (which registers the classes)."
                )
            module = reference.split("--")[-1].rsplit(".", 1)[0]
            if not (folder / f"{module}.py").is_file():
                raise PublishError(
                    f"{folder / filename} maps {auto_class} to {reference}, but {folder / (module + '.py')} is missing."
                )
    return tuple(sorted(path.name for path in folder.glob("*.py")))


def _weight_files(folder: Path) -> tuple[str, ...]:
    if (folder / WEIGHTS_NAME).is_file():
        return (WEIGHTS_NAME,)
    index = folder / WEIGHTS_INDEX_NAME
    if index.is_file():
        shards = sorted(set(_read_json(index, "the safetensors shard index").get("weight_map", {}).values()))
        missing = [shard for shard in shards if not (folder / shard).is_file()]
        if not shards or missing:
            raise PublishError(
                f"{index} lists shards that are missing: {', '.join(missing) or 'none listed'}."
            )
        return (WEIGHTS_INDEX_NAME, *shards)
    raise PublishError(
        f"{folder} has no {WEIGHTS_NAME}: save the final model with `save_pretrained` (pickle weights such as "
        "pytorch_model.bin are never published)."
    )


__all__ = ["PublishError", "TrainingOutput", "read_training_output"]
