"""Checks of a run's settings that need the file system or the model configuration (folders, the checkpoint to
start from, the objective against the model), made before any data is read or model built. Value checks that
need neither live with the arguments (arguments.py)."""

import os
from pathlib import Path

from transformers import PreTrainedConfig

from .arguments import DataArguments, ModelArguments, check_run_arguments
from .checkpoints import check_model_folder, checkpoint_problem
from .run_components import build_config
from .trainer import DferTrainingArguments


def checkpoint_requirements(training_args: DferTrainingArguments) -> dict:
    return dict(
        needs_optimizer_state=not training_args.save_only_model,
        needs_objective_state=training_args.objective == "compact",
    )



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
    elif data_args.dataset == "manifest":
        if not root.exists():
            raise ValueError(
                f"--data_dir {root}: no such file (the manifest: a .csv with path,label[,split] or a .jsonl file, or "
                "the folder holding manifest.csv)."
            )
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
    config = build_config(model_args, None)  # the labels are the data's, known once it is read
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
        problem = checkpoint_problem(resume, **checkpoint_requirements(training_args))
        if problem:
            raise ValueError(f"--resume_from_checkpoint {resume} is not a complete checkpoint: {problem}.")


# -- the output folder ------------------------------------------------------------------------------------------


__all__ = ["checkpoint_requirements", "check_output_folder", "check_data_folders", "check_objective_fits_model", "check_run_settings"]
