"""Which saved folders can be trusted: complete Trainer checkpoints (for resuming), loadable model folders (for
`dfer evaluate` and `--model_name_or_path`), and whether a checkpoint belongs to the run that resumes it.

A Trainer checkpoint (`checkpoint-<step>/`, `Trainer._save_checkpoint`) is written file by file: the model
(`config.json`, `model.safetensors`, `training_args.bin`, and the run's `run_args.json`), then `optimizer.pt`,
`scheduler.pt` (and the objective's `objective.safetensors`), the RNG state, and `trainer_state.json` last. A run
killed while saving (or a disk that filled up) leaves a folder without some of them, or with one cut short.
A checkpoint is *complete* when `trainer_state.json` is a JSON object with `global_step`, the model loads
(`config.json` is JSON, the weights' safetensors headers cover their files), and, unless the run saves only the
model, `optimizer.pt` and `scheduler.pt` are whole (`torch.save` archives end with their directory) — what
`Trainer._load_from_checkpoint` and `_load_optimizer_and_scheduler` read.
"""

import json
import logging
import os
import re
import zipfile
from pathlib import Path

from safetensors import SafetensorError, safe_open
from transformers.trainer import OPTIMIZER_NAME, OPTIMIZER_NAME_BIN, SCHEDULER_NAME, TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import WEIGHTS_NAME as PICKLE_WEIGHTS_NAME

from .arguments import FOLDED_DATASETS
from .output_folder import (
    CONFIG_NAME,
    PROCESSOR_CONFIG_NAMES,
    RUN_ARGS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
)
from .trainer import OBJECTIVE_STATE_NAME

logger = logging.getLogger(__name__)

_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
# A checkpoint found incomplete is renamed to this prefix + its name, out of the Trainer's `checkpoint-*` glob (so
# it is neither resumed from nor counted when the Trainer rotates checkpoints).
INCOMPLETE_PREFIX = "incomplete-"

# The run arguments (as `run_args.json` holds them) that make a checkpoint part of one run: the model, the data
# (dataset, folder, fold, split files, frame sampling), the objective and its weights, and the seeds. Resuming a
# checkpoint whose values differ would train one run's model under another's settings and record the new ones.
RESUME_ARGUMENTS = (
    "model",
    "model_name_or_path",
    "config_overrides",
    "num_frames",
    "image_size",
    "dataset",
    "data_dir",
    "fold",
    "annotations",
    "clip_folder",
    "sampler",
    "augmentation",
    "sample_clips_per_class",
    "model_selection",
    "validation_fraction",
    "class_names",  # the order of the model's outputs
    "test_fraction",  # which clips a user's data without a test split holds out
    "ignore_mismatched_sizes",
    "recipe",  # e.g. finetune's AdamW state cannot resume a paper recipe's SGD
    "objective",
    "ial_weight",
    "auxiliary_weights",
    "compact_lambda",
    "compact_delta",
    "label_smoothing_factor",
    "seed",
    "data_seed",
)
# Paths are compared by their last part: `run_args.json` keeps folder names, not this machine's paths.
_PATH_ARGUMENTS = ("data_dir", "annotations", "model_name_or_path")


class ResumeMismatch(ValueError):
    """The checkpoint to resume was written by a run with other settings; the message lists them."""


# -- model folders ----------------------------------------------------------------------------------------------


def _json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:
        raise ValueError(f"{path.name} is not valid JSON ({error})") from error
    if not isinstance(value, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return value


def _safetensors_problem(path: Path) -> str | None:
    try:
        with safe_open(str(path), framework="pt"):
            return None
    except (SafetensorError, OSError) as error:
        return f"{path.name} is damaged or cut short ({error})"


def _archive_problem(path: Path) -> str | None:
    """`torch.save` writes a zip archive whose directory comes last: a cut-short file has none."""
    if not path.is_file():
        return f"{path.name} is missing"
    if not zipfile.is_zipfile(path):
        return f"{path.name} is damaged or cut short"
    return None


def model_folder_problem(folder: str | os.PathLike, need_processor: bool = False) -> str | None:
    """Why `folder` is not a loadable model folder (`save_pretrained`), or None: `config.json` with a
    `model_type`, whole weights and, with `need_processor`, the video processor's configuration."""
    folder = Path(folder)
    try:
        config = _json_object(folder / CONFIG_NAME)
    except FileNotFoundError:
        return f"it has no {CONFIG_NAME}"
    except ValueError as error:
        return str(error)
    if "model_type" not in config:
        return f"{CONFIG_NAME} names no model_type"
    if (folder / WEIGHTS_NAME).is_file():
        problem = _safetensors_problem(folder / WEIGHTS_NAME)
        if problem:
            return problem
    elif (folder / WEIGHTS_INDEX_NAME).is_file():
        try:
            shards = sorted(set(_json_object(folder / WEIGHTS_INDEX_NAME).get("weight_map", {}).values()))
        except (ValueError, AttributeError) as error:
            return str(error)
        for shard in shards:
            shard_path = folder / shard
            if Path(shard).is_absolute() or ".." in Path(shard).parts or not shard_path.is_file():
                return f"{WEIGHTS_INDEX_NAME} lists {shard!r}, which is not a file of the folder"
            problem = _safetensors_problem(shard_path)
            if problem:
                return problem
        if not shards:
            return f"{WEIGHTS_INDEX_NAME} lists no shards"
    elif (folder / PICKLE_WEIGHTS_NAME).is_file():
        problem = _archive_problem(folder / PICKLE_WEIGHTS_NAME)
        if problem:
            return problem
    else:
        return f"it has no weights ({WEIGHTS_NAME})"
    if need_processor:
        name = next((name for name in PROCESSOR_CONFIG_NAMES if (folder / name).is_file()), None)
        if name is None:
            return f"it has no video processor ({' or '.join(PROCESSOR_CONFIG_NAMES)})"
        try:
            _json_object(folder / name)
        except ValueError as error:
            return str(error)
    return None


def check_model_folder(path: str, flag: str, need_processor: bool = False) -> None:
    """`ValueError` naming `flag` unless `path` is a loadable local model folder or may be a Hub repo id (which
    the loader then fetches). A path that can only be local (absolute, `./`, `../`, more than one `/`) must
    exist."""
    folder = Path(path)
    if folder.is_dir():
        problem = model_folder_problem(folder, need_processor)
        if problem is None:
            return
        hint = ""
        nested = sorted(p.name for p in folder.iterdir() if p.is_dir() and _CHECKPOINT_NAME.match(p.name))
        if (folder / TRAINER_STATE_NAME).is_file() and need_processor:
            hint = " (a Trainer checkpoint holds no processor: pass the run's output folder)"
        elif nested:
            hint = f" (it holds Trainer checkpoints such as {nested[-1]}: pass the run's output folder once it has finished)"
        raise ValueError(f"{flag} {path} is not a usable checkpoint folder: {problem}{hint}.")
    if folder.exists():
        raise ValueError(f"{flag} {path} is a file; pass a checkpoint folder (or a Hub repo id).")
    local_only = (
        folder.is_absolute() or path.startswith((".", "~")) or path.count("/") > 1 or (os.sep != "/" and os.sep in path)
    )
    if local_only:
        raise ValueError(f"{flag} {path}: no such folder.")


# -- Trainer checkpoints ---------------------------------------------------------------------------------------


def checkpoint_problem(
    folder: str | os.PathLike, needs_optimizer_state: bool = True, needs_objective_state: bool = False
) -> str | None:
    """Why `folder` is not a complete Trainer checkpoint to resume from, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return "it is not a folder"
    try:
        state = _json_object(folder / TRAINER_STATE_NAME)
    except FileNotFoundError:
        return f"it has no {TRAINER_STATE_NAME} (the Trainer writes it last)"
    except ValueError as error:
        return str(error)
    if not isinstance(state.get("global_step"), int):
        return f"{TRAINER_STATE_NAME} has no global_step"
    problem = model_folder_problem(folder)
    if problem:
        return problem
    if needs_optimizer_state:
        optimizer = folder / (OPTIMIZER_NAME if (folder / OPTIMIZER_NAME).is_file() else OPTIMIZER_NAME_BIN)
        problem = _archive_problem(optimizer) or _archive_problem(folder / SCHEDULER_NAME)
        if problem:
            return problem.replace(OPTIMIZER_NAME_BIN, OPTIMIZER_NAME)
    if needs_objective_state:
        if not (folder / OBJECTIVE_STATE_NAME).is_file():
            return f"it has no {OBJECTIVE_STATE_NAME} (the objective's state)"
        problem = _safetensors_problem(folder / OBJECTIVE_STATE_NAME)
        if problem:
            return problem
    return None


def checkpoint_step(folder: str | os.PathLike) -> int | None:
    match = _CHECKPOINT_NAME.match(Path(folder).name)
    return int(match.group(1)) if match else None


def newest_complete_checkpoint(output_dir: str | os.PathLike, **requirements) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the complete `checkpoint-*` of `output_dir` with the highest step, or None; every incomplete one with
    its problem). `requirements` are `checkpoint_problem`'s."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None, []
    found = sorted(
        (path for path in folder.iterdir() if path.is_dir() and checkpoint_step(path) is not None),
        key=checkpoint_step,
        reverse=True,
    )
    newest, incomplete = None, []
    for path in found:
        problem = checkpoint_problem(path, **requirements)
        if problem:
            incomplete.append((path, problem))
        elif newest is None:
            newest = path
    return newest, incomplete


def set_aside(checkpoint: Path) -> Path:
    """Rename an incomplete checkpoint out of the Trainer's way (`incomplete-checkpoint-<step>`); return the new
    path."""
    target = checkpoint.with_name(INCOMPLETE_PREFIX + checkpoint.name)
    number = 1
    while target.exists():
        number += 1
        target = checkpoint.with_name(f"{INCOMPLETE_PREFIX}{checkpoint.name}.{number}")
    checkpoint.rename(target)
    return target


# -- one run's checkpoints --------------------------------------------------------------------------------------


def _comparable(name: str, value):
    if name in _PATH_ARGUMENTS and isinstance(value, str) and value:
        return Path(value).name
    return value


def _relevant(name: str, arguments: dict) -> bool:
    if name == "fold":
        return arguments.get("dataset") in FOLDED_DATASETS
    if name == "validation_fraction":
        return arguments.get("model_selection") == "validation"
    return True


def run_argument_differences(saved: dict, current: dict) -> list[str]:
    """'name: saved -> current' for each argument of RESUME_ARGUMENTS that differs (names the saved record
    lacks are not compared)."""
    current = json.loads(json.dumps(current, default=str))  # the form `run_args.json` stores
    differences = []
    for name in RESUME_ARGUMENTS:
        if name not in saved or not _relevant(name, current):
            continue
        before, now = _comparable(name, saved[name]), _comparable(name, current.get(name))
        if before != now:
            differences.append(f"{name} {before!r} -> {now!r}")
    return differences


def check_resume_arguments(checkpoint: Path, current: dict, ignore_mismatch: bool = False) -> None:
    """`ResumeMismatch` if `checkpoint` was written by a run whose RESUME_ARGUMENTS differ from `current` (the
    resuming run's `run_args.json` object); with `ignore_mismatch`, a warning instead."""
    path = checkpoint / RUN_ARGS_NAME
    try:
        saved = _json_object(path)
    except (FileNotFoundError, ValueError) as error:
        logger.warning(
            "%s holds no readable %s (%s): cannot check that it belongs to this run's settings.",
            checkpoint, RUN_ARGS_NAME, error,
        )
        return
    differences = run_argument_differences(saved, current)
    if not differences:
        return
    listed = "; ".join(differences)
    if ignore_mismatch:
        logger.warning("Resuming %s although it was written with other settings (%s).", checkpoint, listed)
        return
    raise ResumeMismatch(
        f"{checkpoint} was written by a run with other settings ({listed}): resume with the same settings, choose "
        "another --output_dir for a new run, or pass --ignore_resume_mismatch to resume it anyway."
    )


__all__ = [
    "INCOMPLETE_PREFIX",
    "RESUME_ARGUMENTS",
    "ResumeMismatch",
    "check_model_folder",
    "check_resume_arguments",
    "checkpoint_problem",
    "checkpoint_step",
    "model_folder_problem",
    "newest_complete_checkpoint",
    "run_argument_differences",
    "set_aside",
]
