"""What one run is built from: the checked dataset splits with their lazy decoding, the model configuration and
model, the video processor, and where the model-selection rule points the Trainer."""

import logging
from contextlib import contextmanager

import numpy as np
from accelerate import PartialState
from datasets import DatasetDict
from transformers import AutoConfig, AutoModelForVideoClassification, PreTrainedConfig, PreTrainedModel
from transformers.utils import logging as transformers_logging

import dfer.modeling  # noqa: F401  (registers the models with the Auto classes)
from dfer.data import (
    ClipTransform,
    generate_sample_dataset,
    load_dfew,
    load_ferv39k,
    load_mafw,
    load_manifest,
    load_video_folder,
)
from dfer.modeling import label_names as label_names_of
from dfer.processing import DferVideoProcessor

from .arguments import (
    DATASETS,
    MODEL_SELECTIONS,
    DataArguments,
    ModelArguments,
    parse_overrides,
)
from .trainer import DferTrainingArguments

logger = logging.getLogger(__name__)


def _load_source(data_args: DataArguments, processor: DferVideoProcessor) -> DatasetDict:
    """The dataset's own splits, checked, undecoded."""
    common = dict(on_problems=data_args.on_problems, check_frames=data_args.check_frames, decode=False)
    if data_args.dataset == "sample":
        # One process writes the files; the others wait for it (data-parallel runs start together).
        with PartialState().main_process_first():
            generate_sample_dataset(data_args.data_dir, clips_per_class=data_args.sample_clips_per_class)
    if data_args.dataset in ("dfew", "sample"):
        return load_dfew(
            data_args.data_dir,
            fold=data_args.fold,
            annotations=data_args.annotations,
            clip_folder=data_args.clip_folder,
            video_processor=processor,
            **common,
        )
    if data_args.dataset == "mafw":
        return load_mafw(
            data_args.data_dir, fold=data_args.fold, annotations=data_args.annotations, video_processor=processor, **common
        )
    if data_args.dataset == "ferv39k":
        return load_ferv39k(data_args.data_dir, annotations=data_args.annotations, video_processor=processor, **common)
    if data_args.dataset == "videofolder":
        return load_video_folder(data_args.data_dir, class_names=data_args.class_names, video_processor=processor, **common)
    if data_args.dataset == "manifest":
        return load_manifest(data_args.data_dir, class_names=data_args.class_names, video_processor=processor, **common)
    raise ValueError(f"Unknown dataset {data_args.dataset!r}; choose one of {', '.join(DATASETS)}.")


def _held_out(dataset, fraction: float, what: str, flag: str, data_args: DataArguments) -> DatasetDict:
    """`dataset` split in two, stratified: `train`, and `test` holding `fraction` of each class's clips (at least
    one). Which clips are held out depends only on the class names and paths (each class's paths sorted, shuffled
    with seed 0), not on the label order, so evaluating later with another --class_names order finds the same test
    clips. `ValueError` with the fix when a class cannot be in both parts."""
    names = dataset.features["label"].names
    rows = dataset.with_format(None)
    by_class: dict[str, list[tuple[str, int]]] = {}
    for index, (path, label) in enumerate(zip(rows["path"], rows["label"])):
        by_class.setdefault(names[label], []).append((path, index))
    held, rare = [], []
    for name in sorted(by_class):
        members = sorted(by_class[name])
        count = max(1, round(fraction * len(members)))
        if count >= len(members):
            rare.append(f"{name} ({len(members)} clip{'s' if len(members) > 1 else ''})")
            continue
        order = np.random.default_rng(0).permutation(len(members))
        held += [members[position][1] for position in order[:count]]
    if rare:
        raise ValueError(
            f"--dataset {data_args.dataset} --data_dir {data_args.data_dir}: the {what} split held out of train is "
            f"too small for its classes: {', '.join(rare[:3])} cannot be in both parts at {flag} {fraction}. Add "
            f"clips, change {flag}, or give the data its own {what} split (a {what}/ folder, or a split column)."
        )
    held_set = set(held)
    kept = [index for index in range(len(dataset)) if index not in held_set]
    return DatasetDict(train=dataset.select(kept), test=dataset.select(sorted(held)))


def load_splits(data_args: DataArguments, processor: DferVideoProcessor) -> DatasetDict:
    """Checked, undecoded rows of `train` and `test` (plus `validation` when model selection needs it, or when
    the data has its own). A user's data without a test split has one held out (`--test_fraction`)."""
    splits = _load_source(data_args, processor)
    if "test" not in splits and "train" in splits:
        carved = _held_out(splits["train"], data_args.test_fraction, "test", "--test_fraction", data_args)
        logger.info(
            "%s has no test split: held out %d of its %d clips to test (--test_fraction %s, stratified, seed 0).",
            data_args.data_dir, len(carved["test"]), len(splits["train"]), data_args.test_fraction,
        )
        splits = DatasetDict({**splits, "train": carved["train"], "test": carved["test"]})
    if data_args.model_selection == "validation" and "validation" not in splits and "train" in splits:
        carved = _held_out(splits["train"], data_args.validation_fraction, "validation", "--validation_fraction", data_args)
        splits = DatasetDict({**splits, "train": carved["train"], "validation": carved["test"]})
    return DatasetDict({name: splits[name] for name in ("train", "validation", "test") if name in splits})


def align_labels(splits: DatasetDict, label_names: list[str], where: str) -> DatasetDict:
    """`splits` relabelled into the class order `label_names` (a checkpoint's), matched by name ignoring case (as
    `datasets`' `align_labels_with_mapping` does: a DFEW checkpoint's "Happy" is a folder's "happy"); `ValueError`
    naming the classes `label_names` lacks."""
    names = next(iter(splits.values())).features["label"].names
    if names == list(label_names):
        return splits
    known = {name.lower() for name in label_names}
    unknown = [name for name in names if name.lower() not in known]
    if unknown:
        raise ValueError(
            f"{where} was trained for the labels {', '.join(label_names)}; the dataset also has "
            f"{', '.join(unknown)}."
        )
    mapping = {name: index for index, name in enumerate(label_names)}
    return DatasetDict({split: dataset.align_labels_with_mapping(mapping, "label") for split, dataset in splits.items()})


def with_decoding(splits: DatasetDict, processor: DferVideoProcessor) -> DatasetDict:
    """Lazy decoding: random sampling + augmentation for `train`, deterministic for the others."""
    return DatasetDict(
        {name: split.with_transform(ClipTransform(processor, training=name == "train")) for name, split in splits.items()}
    )


def _label_maps(label_names: list[str]) -> dict:
    return dict(id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)})


def build_config(model_args: ModelArguments, label_names: list[str] | None) -> PreTrainedConfig:
    """The configuration of the model a run trains (a fresh one, or the one of --model_name_or_path), with the
    overrides applied and, when given, the labels; `ValueError` for an override the configuration does not have or
    refuses."""
    overrides = parse_overrides(model_args.config_overrides)
    labels = _label_maps(label_names) if label_names else {}
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
            return AutoConfig.from_pretrained(model_args.model_name_or_path, **labels, **overrides)
        return AutoConfig.for_model(
            model_args.model,
            num_frames=model_args.num_frames,
            image_size=model_args.image_size,
            **labels,
            **overrides,
        )
    except (TypeError, ValueError, OSError) as error:
        if str(error).startswith("--config_overrides"):
            raise
        source = model_args.model_name_or_path or model_args.model
        given = " and --config_overrides" if model_args.config_overrides else ""
        raise ValueError(f"the {source} configuration refuses these settings (--num_frames, --image_size{given}): {error}") from error


def starting_label_names(model_args: ModelArguments) -> list[str] | None:
    """The labels of the checkpoint a run starts from, in its output order (None for a fresh model)."""
    if not model_args.model_name_or_path:
        return None
    return label_names_of(AutoConfig.from_pretrained(model_args.model_name_or_path))


def same_labels(first, second) -> bool:
    """Whether two label lists name the same classes in the same order, ignoring case (class names are matched
    that way; a user's data cannot hold two names that differ only by case)."""
    return [name.lower() for name in first] == [name.lower() for name in second]


def check_labels_fit_checkpoint(
    model_args: ModelArguments, label_names: list[str], start: list[str] | None
) -> None:
    """`ValueError` with the fix when the dataset's labels are not the starting checkpoint's and
    --ignore_mismatched_sizes was not given (new heads are then started for the dataset's labels). `start`: the
    checkpoint's labels (`starting_label_names`), None for a fresh model."""
    if start is None or same_labels(start, label_names) or model_args.ignore_mismatched_sizes:
        return
    raise ValueError(
        f"--model_name_or_path {model_args.model_name_or_path} was trained for {len(start)} labels "
        f"({', '.join(start)}), but the dataset has {len(label_names)} ({', '.join(label_names)}). Pass "
        "--ignore_mismatched_sizes to start new classification heads for the dataset's labels (the rest of the model "
        "loads), or train on data with the checkpoint's labels."
    )


@contextmanager
def transformers_logging_at(level: int):
    """transformers' log level set to `level` inside the block."""
    before = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity(level)
    try:
        yield
    finally:
        transformers_logging.set_verbosity(before)


def classification_heads(model: PreTrainedModel) -> list:
    """The modules that map clip features to labels: the main classifier and GCA-ResNet's auxiliary ones."""
    return [model.classifier, *getattr(model, "auxiliary_classifiers", [])]


def reset_classification_heads(model: PreTrainedModel) -> None:
    """Initialise every head afresh, as a new model's are: their weights meant the checkpoint's labels."""
    for head in classification_heads(model):
        for tensor in (*head.parameters(), *head.buffers()):
            # transformers' init functions leave alone the tensors a checkpoint filled; these are to be replaced.
            tensor._is_hf_initialized = False
        for module in head.modules():
            model._init_weights(module)


def build_model(model_args: ModelArguments, label_names: list[str]) -> PreTrainedModel:
    """A fresh model for `label_names`, or the checkpoint of --model_name_or_path; when the checkpoint's labels
    differ (allowed by --ignore_mismatched_sizes, see `check_labels_fit_checkpoint`), with new heads."""
    if not model_args.model_name_or_path:
        return AutoModelForVideoClassification.from_config(build_config(model_args, label_names))
    overrides = parse_overrides(model_args.config_overrides)
    start = starting_label_names(model_args)
    if same_labels(start, label_names):
        return AutoModelForVideoClassification.from_pretrained(model_args.model_name_or_path, **overrides)
    with transformers_logging_at(logging.ERROR):  # its per-tensor report of the heads: dfer says it in one line
        model = AutoModelForVideoClassification.from_pretrained(
            model_args.model_name_or_path, **_label_maps(label_names), ignore_mismatched_sizes=True, **overrides
        )
    reset_classification_heads(model)
    logger.info(
        "Started new classification heads for the labels %s (%s had %s); the rest of the model is the checkpoint's.",
        ", ".join(label_names),
        model_args.model_name_or_path,
        ", ".join(start),
    )
    return model


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


__all__ = [
    "align_labels",
    "build_config",
    "build_model",
    "build_processor",
    "check_labels_fit_checkpoint",
    "configure_model_selection",
    "load_splits",
    "reset_classification_heads",
    "starting_label_names",
    "with_decoding",
]
