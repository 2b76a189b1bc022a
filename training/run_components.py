"""What one run is built from: the checked dataset splits with their lazy decoding, the model configuration and
model, the video processor, and where the model-selection rule points the Trainer."""

from accelerate import PartialState
from datasets import DatasetDict
from transformers import AutoConfig, AutoModelForVideoClassification, PreTrainedConfig, PreTrainedModel

import dfer.modeling  # noqa: F401  (registers the models with the Auto classes)
from dfer.data import ClipTransform, generate_sample_dataset, load_dfew, load_ferv39k
from dfer.processing import DferVideoProcessor

from .arguments import (
    DATASETS,
    FOLDED_DATASETS,
    MODEL_SELECTIONS,
    DataArguments,
    ModelArguments,
    parse_overrides,
)
from .trainer import DferTrainingArguments


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


__all__ = ["load_splits", "with_decoding", "build_config", "build_model", "build_processor", "configure_model_selection"]
