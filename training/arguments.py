"""The command-line arguments of training, evaluation and the fold protocol, as `HfArgumentParser` dataclasses,
and the parser that fills their defaults from a recipe.

`dfer train`, `dfer evaluate` and `dfer folds` parse (ModelArguments | EvaluationArguments, DataArguments,
[FoldArguments,] DferTrainingArguments): every `TrainingArguments` flag works, the chosen recipe
(`--recipe`, default: the model's paper recipe) supplies the defaults, and any flag overrides them.
"""

import argparse
import json
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser

from dfer.data import DFEW_FOLDS, FRAME_CHECKS
from dfer.processing import AUGMENTATION_PRESETS, SAMPLERS

from .objectives import OBJECTIVES
from .recipes import (
    FINETUNE_RECIPE,
    PAPER_RECIPE_OF_MODEL,
    checkpoint_settings,
    default_recipe,
    recipe_defaults,
)
from .trainer import DferTrainingArguments

DATASETS = ("dfew", "ferv39k", "mafw", "sample", "videofolder", "manifest")
# Datasets that come in folds (the sample copies DFEW's layout, folds included).
FOLDED_DATASETS = ("dfew", "mafw", "sample")
# A user's own clips: a video folder or a manifest, with the label set their class names give.
OWN_DATASETS = ("videofolder", "manifest")
MODEL_SELECTIONS = ("last_epoch", "validation", "best_test_epoch")

def has_accelerator() -> bool:
    """Whether torch sees any accelerator (CUDA, MPS, XPU, ...), not only CUDA."""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None and hasattr(accelerator, "current_accelerator"):
        return accelerator.current_accelerator() is not None
    return torch.cuda.is_available() or torch.backends.mps.is_available()


# Defaults of the commands that differ from TrainingArguments': keep every epoch's work, log to TensorBoard.
COMMAND_DEFAULTS = {
    "save_strategy": "epoch",
    "save_total_limit": 2,
    "logging_steps": 10,
    "report_to": ["tensorboard"],
    "dataloader_num_workers": 0,
    "ddp_find_unused_parameters": False,
    "dataloader_pin_memory": torch.cuda.is_available(),
    # Without any accelerator the CPU is the device anyway; saying so lets `--bf16` / `--bf16_full_eval` run there
    # (TrainingArguments refuses bf16 without a GPU unless `use_cpu` is set). With one (CUDA, MPS, ...) it is used.
    "use_cpu": not has_accelerator(),
}


@dataclass
class ModelArguments:
    model: str = field(default="gca_resnet", metadata={"help": "gca_resnet or logo_former"})
    recipe: str | None = field(
        default=None,
        metadata={
            "help": "named preset: ial, logo_former, sample, finetune (default: the model's paper recipe; finetune "
            "with --model_name_or_path)"
        },
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "start from this checkpoint instead of a fresh initialisation (default recipe: finetune)"},
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={
            "help": "with --model_name_or_path trained on other labels: start new classification heads (main and "
            "auxiliary) for the dataset's labels; the rest of the model loads"
        },
    )
    num_frames: int = field(default=16, metadata={"help": "frames per clip"})
    image_size: int = field(default=112, metadata={"help": "frame height and width"})
    config_overrides: str | None = field(
        default=None, metadata={"help": "model config values, e.g. 'hidden_dropout_prob=0.1,depths=[1,1,1]' (JSON values)"}
    )


@dataclass
class DataArguments:
    dataset: str = field(
        default="dfew",
        metadata={"help": "dfew, ferv39k, mafw, sample, videofolder (root/<label>/<clip>) or manifest (CSV / JSONL)"},
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "dataset root, required (sample: where it is generated; manifest: the manifest file, or the "
            "folder holding manifest.csv)"
        },
    )
    fold: int = field(default=1, metadata={"help": "DFEW / MAFW fold 1..5 (and the sample's)"})
    class_names: list[str] | None = field(
        default=None,
        metadata={"help": "videofolder / manifest: the class names in the model's output order (default: sorted)"},
    )
    annotations: str | None = field(
        default=None, metadata={"help": "folder of list files (path num_frames label) instead of the authors' CSVs"}
    )
    clip_folder: str = field(default="clip_224x224", metadata={"help": "DFEW: clip_224x224 or clip_224x224_16f"})
    sampler: str = field(default="segment", metadata={"help": "segment, segment_pairs or uniform"})
    augmentation: str = field(default="ial", metadata={"help": "augmentation preset: ial, logo_former, none"})
    on_problems: str = field(default="raise", metadata={"help": "bad clips: raise (report and stop) or skip"})
    check_frames: str = field(default="header", metadata={"help": "frame check before training: header, decode, none"})
    model_selection: str = field(
        default="last_epoch",
        metadata={"help": "last_epoch, validation (held out from train) or best_test_epoch (reference-code style)"},
    )
    validation_fraction: float = field(
        default=0.1, metadata={"help": "share of train held out for validation (when the data has no validation split)"}
    )
    test_fraction: float = field(
        default=0.2, metadata={"help": "videofolder / manifest without a test split: share of the clips held out to test"}
    )
    sample_clips_per_class: int = field(default=100, metadata={"help": "size of the generated sample dataset"})


@dataclass
class FoldArguments:
    folds: list[int] = field(
        default_factory=lambda: list(DFEW_FOLDS), metadata={"help": "folds to run (default: 1 2 3 4 5)"}
    )


EVALUATION_SPLITS = ("test", "train", "validation")


@dataclass
class EvaluationArguments:
    checkpoint: str = field(metadata={"help": "checkpoint folder (or Hub repo id) with model and processor"})
    split: str = field(
        default="test", metadata={"help": "split to evaluate: test, train (or validation, with --model_selection validation)"}
    )


def _probe(argv: list[str]) -> argparse.Namespace:
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--recipe")
    probe.add_argument("--model", default="gca_resnet")
    probe.add_argument("--dataset", default="dfew")
    probe.add_argument("--model_name_or_path")
    known, _ = probe.parse_known_args(argv)
    return known


def choose_recipe(argv: list[str]) -> str:
    """The recipe named by `--recipe`; `finetune` when starting from `--model_name_or_path`; else the default one
    of `--model` on `--dataset`."""
    known = _probe(argv)
    if known.recipe:
        return known.recipe
    if known.model_name_or_path:
        return "finetune"
    return default_recipe(known.model, known.dataset)


def training_argument_parser(argv: list[str], *extra_dataclasses, **parser_options) -> HfArgumentParser:
    """The parser of (ModelArguments, DataArguments, *extra_dataclasses, DferTrainingArguments), with the chosen
    recipe's values as defaults. A fine-tuning run's model, frame count and frame size default to the
    checkpoint's (`--model_name_or_path`), so that the recipe fits the model it starts from."""
    recipe = choose_recipe(argv)
    parser = HfArgumentParser(
        (ModelArguments, DataArguments, *extra_dataclasses, DferTrainingArguments), **parser_options
    )
    start = _probe(argv).model_name_or_path
    base = checkpoint_settings(start) if start else {}
    model = base.get("model") or _probe(argv).model
    # What the checkpoint fixes wins over the recipe (a paper recipe names its own frames, size and sampler).
    parser.set_defaults(**{**COMMAND_DEFAULTS, **recipe_defaults(recipe, model, base), **base, "recipe": recipe})
    return parser


def check_data_arguments(data_args: "DataArguments") -> None:
    """Raise `ValueError` for a data setting that cannot work, before any data is read."""

    def choose(name: str, value, allowed) -> None:
        if value not in allowed:
            raise ValueError(f"--{name} {value!r} is not one of: {', '.join(map(str, allowed))}.")

    choose("dataset", data_args.dataset, DATASETS)
    if data_args.class_names is not None and data_args.dataset not in OWN_DATASETS:
        raise ValueError(
            f"--class_names applies to videofolder and manifest data; {data_args.dataset} has its own label set."
        )
    if not 0 < data_args.test_fraction < 1:
        raise ValueError(f"--test_fraction must lie between 0 and 1, got {data_args.test_fraction}.")
    if not data_args.data_dir:
        raise ValueError("--data_dir is required: the dataset's root folder (for sample: where to generate it).")
    if data_args.dataset in FOLDED_DATASETS:
        choose("fold", data_args.fold, DFEW_FOLDS)
    choose("sampler", data_args.sampler, SAMPLERS)
    choose("augmentation", data_args.augmentation, (*AUGMENTATION_PRESETS, "none"))
    choose("on_problems", data_args.on_problems, ("raise", "skip"))
    choose("check_frames", data_args.check_frames, FRAME_CHECKS)
    choose("model_selection", data_args.model_selection, MODEL_SELECTIONS)
    if not 0 < data_args.validation_fraction < 1:
        raise ValueError(f"--validation_fraction must lie between 0 and 1, got {data_args.validation_fraction}.")


def parse_overrides(text: str | None) -> dict:
    """`--config_overrides` as a dict: 'a=1,b=[1,2],c=gelu' -> {'a': 1, 'b': [1, 2], 'c': 'gelu'} (JSON values,
    else strings); `ValueError` for an item that is not `name=value`."""
    if not text:
        return {}
    overrides = {}
    for item in _split_top_level(text):
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or not key.isidentifier():
            raise ValueError(
                f"--config_overrides: {item.strip()!r} is not name=value (e.g. 'hidden_dropout_prob=0.1,depths=[1,1,1]')."
            )
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
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


def check_training_arguments(training_args: "DferTrainingArguments") -> None:
    """Raise `ValueError` for an objective or schedule setting that cannot work."""
    if training_args.objective not in OBJECTIVES:
        raise ValueError(f"--objective {training_args.objective!r} is not one of: {', '.join(OBJECTIVES)}.")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        if getattr(training_args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, got {getattr(training_args, name)}.")
    if training_args.max_steps <= 0 and not training_args.num_train_epochs > 0:
        raise ValueError(
            f"--num_train_epochs {training_args.num_train_epochs} trains nothing: give a positive --num_train_epochs "
            "(or --max_steps)."
        )
    if training_args.lr_step_epochs is not None and not training_args.lr_step_epochs > 0:
        raise ValueError(f"--lr_step_epochs must be positive, got {training_args.lr_step_epochs}.")
    if any(weight < 0 for weight in training_args.auxiliary_weights):
        raise ValueError(f"--auxiliary_weights must not be negative, got {training_args.auxiliary_weights}.")
    if training_args.objective == "compact" and not training_args.compact_delta > 0:
        raise ValueError(f"--compact_delta must be positive, got {training_args.compact_delta}.")
    resume = training_args.resume_from_checkpoint
    if resume is not None and not str(resume).strip():
        raise ValueError("--resume_from_checkpoint takes a checkpoint folder or 'last'.")


def check_run_arguments(
    model_args: "ModelArguments", data_args: "DataArguments", training_args: "DferTrainingArguments | None" = None
) -> None:
    """Raise `ValueError` for a model, data or objective setting that cannot work, before any data is read or
    model built (these checks read nothing from disk; `run.check_run_settings` adds those that do)."""
    if model_args.recipe == FINETUNE_RECIPE and not model_args.model_name_or_path:
        raise ValueError("--recipe finetune adapts a trained model: give it with --model_name_or_path.")
    if model_args.model not in PAPER_RECIPE_OF_MODEL and not model_args.model_name_or_path:
        raise ValueError(f"--model {model_args.model!r} is not one of: {', '.join(PAPER_RECIPE_OF_MODEL)}.")
    if model_args.num_frames < 2 or model_args.image_size < 8:
        raise ValueError("--num_frames must be at least 2 and --image_size at least 8.")
    if data_args.sampler == "segment_pairs" and model_args.num_frames % 2:
        raise ValueError(f"--sampler segment_pairs takes pairs of frames: --num_frames must be even, got {model_args.num_frames}.")
    parse_overrides(model_args.config_overrides)
    check_data_arguments(data_args)
    if data_args.sample_clips_per_class < 1:
        raise ValueError(f"--sample_clips_per_class must be at least 1, got {data_args.sample_clips_per_class}.")
    if training_args is not None:
        check_training_arguments(training_args)
        eval_strategy = getattr(training_args.eval_strategy, "value", training_args.eval_strategy)
        if data_args.model_selection == "last_epoch" and eval_strategy != "no":
            raise ValueError(
                f"--eval_strategy {eval_strategy} needs a split to evaluate during training: pass "
                "--model_selection validation (or best_test_epoch), which evaluates every epoch."
            )


def check_evaluation_arguments(evaluation_args: "EvaluationArguments", data_args: "DataArguments") -> None:
    """Raise `ValueError` for an evaluation setting that cannot work, before the checkpoint or any data is read."""
    check_data_arguments(data_args)
    if evaluation_args.split not in EVALUATION_SPLITS:
        raise ValueError(f"--split {evaluation_args.split!r} is not one of: {', '.join(EVALUATION_SPLITS)}.")
    if (
        evaluation_args.split == "validation"
        and data_args.model_selection != "validation"
        and data_args.dataset not in OWN_DATASETS  # a user's data may bring its own validation split
    ):
        raise ValueError(
            "--split validation is the part of train held out by --model_selection validation: pass both "
            "(with the run's --validation_fraction)."
        )
    if not evaluation_args.checkpoint.strip():
        raise ValueError("--checkpoint takes a checkpoint folder or a Hub repo id.")


def evaluation_argument_parser(**parser_options) -> HfArgumentParser:
    """The parser of (EvaluationArguments, DataArguments, DferTrainingArguments) for evaluating a checkpoint."""
    parser = HfArgumentParser((EvaluationArguments, DataArguments, DferTrainingArguments), **parser_options)
    parser.set_defaults(
        report_to=[],
        output_dir="evaluation",
        dataloader_pin_memory=COMMAND_DEFAULTS["dataloader_pin_memory"],
        use_cpu=COMMAND_DEFAULTS["use_cpu"],
    )
    return parser


__all__ = [
    "COMMAND_DEFAULTS",
    "DATASETS",
    "EVALUATION_SPLITS",
    "FOLDED_DATASETS",
    "MODEL_SELECTIONS",
    "OWN_DATASETS",
    "DataArguments",
    "EvaluationArguments",
    "FoldArguments",
    "ModelArguments",
    "check_data_arguments",
    "check_evaluation_arguments",
    "check_run_arguments",
    "check_training_arguments",
    "choose_recipe",
    "evaluation_argument_parser",
    "parse_overrides",
    "training_argument_parser",
]
