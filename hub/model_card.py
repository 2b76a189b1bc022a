"""Rendering the model card of a training output folder, from data only.

The card is rendered with huggingface_hub's `ModelCard.from_template` from `model_cards/model_card.md`, the
per-model facts in `model_cards/<model_type>.yaml`, the shared prose of `model_cards/card_text.yaml` and the
run's own files (metrics, arguments, configuration, saved video processor); the loss weights it names come from
`dfer.training.objectives`. Its `model-index` reports WAR as `accuracy` and UAR as macro `recall`.
"""

import json
import math
import os
import re
from pathlib import Path

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import is_jinja_available
from transformers import AutoModelForVideoClassification
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

import dfer.modeling  # noqa: F401  (registers every model with the Auto classes, for `checkpoint_facts`)
from dfer.training.compact_loss import COMPACT_DELTA, COMPACT_LAMBDA
from dfer.training.objectives import IAL_AUXILIARY_WEIGHTS, IAL_WEIGHT
from dfer.training.output_folder import LOCAL_START_KEY, UNKNOWN_MODEL_SELECTION
from dfer.utils import write_text_atomically

from .card_files import (
    MODEL_CARD_TEMPLATE,
    card_text,
    known_model_types,
    model_facts_path,
    read_yaml,
)
from .output_folder import PublishError, TrainingOutput, read_training_output

TASK_TYPE = "video-classification"
CARD_NAME = "README.md"
# The repository named in the snippets of a card written before the repository is known.
PLACEHOLDER_NAMESPACE = "your-namespace"
# What `dfer evaluate` records as the objective of a checkpoint it evaluated (it trained nothing).
EVALUATED_OBJECTIVE = "none"
# A split whose largest class has at most this many times the clips of its smallest is called balanced.
BALANCED_RATIO = 1.5
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# Run arguments worth a line in the card's short recipe table, in this order (all of them are in the full table).
KEY_RUN_ARGS = (
    "model",
    "recipe",
    "model_name_or_path",
    "dataset",
    "fold",
    "clip_folder",
    "sampler",
    "num_frames",
    "image_size",
    "augmentation",
    "objective",
    "ial_weight",
    "auxiliary_weights",
    "compact_lambda",
    "compact_delta",
    "centers_learning_rate",
    "optim",
    "learning_rate",
    "weight_decay",
    "weight_decay_all_parameters",
    "lr_scheduler_type",
    "lr_step_epochs",
    "lr_step_gamma",
    "warmup_steps",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "model_selection",
    "validation_fraction",
    "seed",
)
# Run arguments that only apply to one objective.
_OBJECTIVE_OF_RUN_ARG = {
    "ial_weight": "ial",
    "auxiliary_weights": "ial",
    "compact_lambda": "compact",
    "compact_delta": "compact",
    "centers_learning_rate": "compact",
}
# Classes recognised in fewer than this share (%) of their clips are named in the card's results.
WEAK_CLASS_THRESHOLD = 20.0
# Config entries that are bookkeeping, not architecture.
_NON_ARCHITECTURE_KEYS = {
    "architectures",
    "auto_map",
    "id2label",
    "label2id",
    "model_type",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "output_hidden_states",
    "output_attentions",
    "return_dict",
}


def released_weights() -> dict:
    """The released loss weights, as the `{...}` fields of the card's data files name them."""
    weights = dict(
        ial_weight=IAL_WEIGHT,
        auxiliary_weights=IAL_AUXILIARY_WEIGHTS,
        compact_lambda=COMPACT_LAMBDA,
        compact_delta=COMPACT_DELTA,
    )
    return weights | {"ial_objective": card_text()["objectives"]["ial"]["formula"].format(**weights)}


def model_card_facts(model_type: str) -> dict:
    """The per-model facts (paper, description, reconstruction notes, published numbers, BibTeX), with the
    released loss weights filled into their prose."""
    path = model_facts_path(model_type)
    if model_type not in known_model_types():
        raise PublishError(f"No model card facts for model_type {model_type!r}: {path} is missing.")
    facts = read_yaml(path)
    for name in ("description", "reconstruction"):
        if facts.get(name):
            facts[name] = facts[name].format(**released_weights())
    return facts


def eval_results(output: TrainingOutput) -> list[EvalResult]:
    """The `model-index` entries: WAR as `accuracy`, UAR as macro `recall`, on the run's dataset, fold and split."""
    metrics = output.metrics
    dataset = card_text()["datasets"][metrics["dataset"]]
    fold = metrics.get("fold")
    common = dict(
        task_type=TASK_TYPE,
        task_name=card_text()["task_name"],
        dataset_type=metrics["dataset"],
        dataset_name=dataset["name"] + (f" (fold {fold})" if fold else ""),
        dataset_config=f"fold_{fold}" if fold else None,
        dataset_split=metrics["eval_split"],
    )
    return [
        EvalResult(
            **common,
            metric_type="accuracy",
            metric_name="WAR (weighted average recall)",
            metric_value=float(metrics["metrics"]["war"]),
        ),
        EvalResult(
            **common,
            metric_type="recall",
            metric_name="UAR (unweighted average recall)",
            metric_value=float(metrics["metrics"]["uar"]),
            metric_args={"average": "macro"},
        ),
    ]


def check_license(output: TrainingOutput, license: str | None) -> None:
    """Raise `PublishError` unless the weights can be published with `license`: weights trained on a research-only
    dataset inherit its terms (no `license`, or `other`); any other data need one chosen by the publisher."""
    dataset = card_text()["datasets"][output.metrics["dataset"]]
    texts = card_text()["license"]
    if dataset["license"] is not None:
        if license not in (None, dataset["license"]["license"]):
            raise PublishError(
                _one_paragraph(texts["fixed"]).format(
                    dataset=dataset["name"], link=dataset["license_link"], license=license
                )
            )
    elif not license:
        raise PublishError(_one_paragraph(texts["required"]).format(dataset=dataset["name"]))


def card_license(output: TrainingOutput, license: str | None) -> tuple[dict, str]:
    """The license metadata of the card and its license section (code: MIT; weights: their data's terms, or the
    publisher's choice)."""
    dataset = card_text()["datasets"][output.metrics["dataset"]]
    texts = card_text()["license"]
    code = _one_paragraph(texts["code"])
    if dataset["license"] is not None:
        metadata = dict(dataset["license"], license_link=dataset["license_link"])
        weights = texts["research_only"].format(dataset=dataset["name"], terms=_one_paragraph(dataset["terms"]))
    elif license:
        metadata = {"license": license}
        weights = texts["chosen"].format(license=license, terms=_one_paragraph(dataset["terms"]))
    else:
        metadata = {}
        weights = texts["none"]
    return metadata, f"{code} {_one_paragraph(weights)}"


def checkpoint_facts(output: TrainingOutput) -> dict:
    """What the card states about this checkpoint from its own files: the parameter count of its configuration
    (counted on the model built from `config.json`, without loading weights), its input, and the settings in
    which its configuration differs from the model's default one."""
    config_class = CONFIG_MAPPING[output.model_type]
    config = config_class.from_dict(output.config)
    with torch.device("meta"):
        model = AutoModelForVideoClassification.from_config(config)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    defaults = config_class().to_dict()
    differences = [
        (name, _format_value(value), _format_value(defaults[name]))
        for name, value in output.config.items()
        if name not in _NON_ARCHITECTURE_KEYS
        and name in defaults
        and defaults[name] is not None
        and value is not None
        and value != defaults[name]
    ]
    size = output.processor_config.get("size") or {}
    height = size.get("height") or size.get("shortest_edge") or output.config.get("image_size")
    width = size.get("width") or size.get("shortest_edge") or output.config.get("image_size")
    frames = output.config["num_frames"]
    return {
        "parameters": f"{parameters:,}",
        "parameter_count": parameters,
        "num_frames": frames,
        "height": height,
        "width": width,
        "input": (
            f"{frames} RGB frames of {height}x{width} pixels per clip (`pixel_values` of shape "
            f"(batch, {frames}, 3, {height}, {width}))"
        ),
        "num_labels": len(output.labels),
        "differences": differences,
    }


def split_balance(output: TrainingOutput) -> dict:
    """How balanced the evaluated split is, from the clips per class of its confusion matrix."""
    matrix = output.metrics["metrics"]["confusion_matrix"]
    support = {label: sum(matrix[i]) for i, label in enumerate(output.labels)}
    largest = max(support, key=support.get)
    smallest = min(support, key=support.get)
    balanced = support[smallest] > 0 and support[largest] <= BALANCED_RATIO * support[smallest]
    split = output.metrics["eval_split"]
    if balanced:
        text = (
            f"The `{split}` split is balanced: every class has {support[smallest]}"
            + (f" to {support[largest]}" if support[largest] != support[smallest] else "")
            + (" clip." if support[largest] == 1 else " clips.")
        )
    else:
        text = (
            f"The `{split}` split is imbalanced: from {support[largest]} clips ({largest}) down to "
            f"{support[smallest]} ({smallest}), so WAR follows the frequent classes and UAR, the mean per-class "
            "recall, is the fairer summary."
        )
    return {"balanced": balanced, "text": text}


def base_model(run_args: dict) -> str | None:
    """The Hub repository a fine-tuned run started from (`model_name_or_path` when it is a Hub repo id)."""
    start = run_args.get("model_name_or_path")
    if run_args.get(LOCAL_START_KEY):
        return None  # a local folder, named by its last part in run_args.json
    if isinstance(start, str) and _REPO_ID.fullmatch(start) and not start.startswith((".", "-")):
        return start
    return None


def build_model_card(
    output: TrainingOutput | str | os.PathLike,
    repo_id: str,
    revision: str | None = None,
    license: str | None = None,
    template_path: str | os.PathLike | None = None,
    include_logs: bool = False,
) -> ModelCard:
    """Render the model card of a training output folder for `repo_id` (and `revision`, used in the snippets).

    `license` is the weights' license when the training data leave it open (see `check_license`); the card
    mentions the TensorBoard logs only when they are published with it (`include_logs`)."""
    if not isinstance(output, TrainingOutput):
        output = read_training_output(output)
    if not is_jinja_available():
        raise PublishError("Rendering model cards needs Jinja2: `pip install jinja2`.")
    text = card_text()
    facts = model_card_facts(output.model_type)
    metrics = output.metrics
    values = metrics["metrics"]
    dataset_key = metrics["dataset"]
    dataset = text["datasets"][dataset_key]
    fold = metrics.get("fold")
    labels = output.labels
    license_metadata, license_text = card_license(output, license)
    started_from = base_model(output.run_args)

    card_data = ModelCardData(
        model_name=repo_id.split("/")[-1],
        library_name="transformers",
        pipeline_tag=TASK_TYPE,
        **license_metadata,
        base_model=started_from,
        datasets=list(dataset["hub_ids"]) or None,
        metrics=["accuracy", "recall"],
        tags=[
            "dfer",
            "facial-expression-recognition",
            "video-classification",
            output.model_type,
            dataset_key,
        ],
        eval_results=eval_results(output),
    )
    matrix = values["confusion_matrix"]
    published_per_class = (facts.get("published_per_class") or {}).get(dataset_key) or {}
    per_class = []
    for i, label in enumerate(labels):
        support = sum(matrix[i])
        published = published_per_class.get(label)
        per_class.append(
            {
                "label": label,
                "support": support,
                "accuracy": percent(values["per_class_accuracy"][label]) if support else "– (no clips)",
                "accuracy_value": 100 * values["per_class_accuracy"][label] if support else None,
                "published": f"{published:.2f}" if published is not None else "–",
            }
        )
    if metrics["model_selection"] == UNKNOWN_MODEL_SELECTION:
        unknown = text["unknown_model_selection"]
        selection = {"text": _one_paragraph(unknown["text"]), "warning": False, "caution": _one_paragraph(unknown["caution"])}
    else:
        known = text["model_selections"][metrics["model_selection"]]
        selection = {"text": known["text"], "warning": known["optimistic"], "caution": None}
    balance = split_balance(output)
    template_kwargs = dict(
        title=_title(facts, dataset_key, fold),
        model=facts,
        model_type=output.model_type,
        checkpoint=checkpoint_facts(output),
        dataset={"key": dataset_key, **dataset, "labels": _one_paragraph(dataset["labels"])},
        license_text=license_text,
        base_model=started_from,
        started_from=output.run_args.get("model_name_or_path"),
        evaluated_checkpoint=metrics.get("checkpoint"),
        fold=fold,
        eval_split=metrics["eval_split"],
        labels=labels,
        num_clips=values["num_clips"],
        num_frames=output.config["num_frames"],
        repo_id=repo_id,
        revision_kwarg=f", revision={json.dumps(revision)}" if revision not in (None, "main") else "",
        results={"war": percent(values["war"]), "uar": percent(values["uar"])},
        published=(facts.get("published") or {}).get(dataset_key),
        selection=selection,
        balance=balance,
        per_class=per_class,
        per_class_published=bool(published_per_class),
        weak_threshold=f"{WEAK_CLASS_THRESHOLD:g}",
        weak_classes=[
            row["label"]
            for row in per_class
            if row["accuracy_value"] is not None and row["accuracy_value"] < WEAK_CLASS_THRESHOLD
        ],
        confusion=[{"label": label, "counts": matrix[i]} for i, label in enumerate(labels)],
        confusion_image=output.confusion_matrix_image,
        includes_logs=bool(include_logs and output.log_files),
        has_run_args=bool(output.run_args),
        objective=describe_objective(metrics["objective"], output.run_args),
        preprocessing=_preprocessing_lines(output.processor_config, output.config["num_frames"]),
        key_recipe=key_run_args(output.run_args, metrics["objective"]),
        recipe=[(name, _format_value(value)) for name, value in output.run_args.items()],
        architecture=[
            (name, _format_value(value))
            for name, value in output.config.items()
            if name not in _NON_ARCHITECTURE_KEYS
        ],
    )
    return ModelCard.from_template(
        card_data, template_path=str(template_path or MODEL_CARD_TEMPLATE), **template_kwargs
    )


def write_model_card(
    output_dir: str | os.PathLike,
    repo_id: str | None = None,
    *,
    revision: str | None = None,
    license: str | None = None,
    include_logs: bool = False,
) -> Path:
    """Render the card of a training output folder and write it to `<output_dir>/README.md`; return its path.

    For a training run to leave a true card in its folder (so that `hf upload` of the folder publishes one too).
    `repo_id` names the repository in the card's snippets; without one, the run's `hub_model_id`, else
    `<your-namespace>/<folder name>`. The folder is checked as for publishing (`PublishError` on a problem); the
    license is not required here (the card then says that none is chosen), but one that the training data do not
    allow is refused. The file is written through a new file and a rename, never through a link."""
    output = read_training_output(output_dir)
    if license is not None:
        check_license(output, license)
    if repo_id is None:
        hub_model_id = output.run_args.get("hub_model_id")
        repo_id = hub_model_id if isinstance(hub_model_id, str) and _REPO_ID.fullmatch(hub_model_id) else None
        repo_id = repo_id or f"{PLACEHOLDER_NAMESPACE}/{output.folder.resolve().name}"
    card = build_model_card(output, repo_id=repo_id, revision=revision, license=license, include_logs=include_logs)
    path = output.folder / CARD_NAME
    write_text_atomically(path, str(card))
    return path


def key_run_args(run_args: dict, objective: str) -> list[tuple[str, str]]:
    """The run arguments of the short recipe table: `KEY_RUN_ARGS` that the run has and that apply to it."""
    rows = []
    for name in KEY_RUN_ARGS:
        if name not in run_args or _OBJECTIVE_OF_RUN_ARG.get(name, objective) != objective:
            continue
        if name == "lr_step_gamma" and run_args.get("lr_step_epochs") is None:
            continue  # no step schedule in this run
        if name == "validation_fraction" and run_args.get("model_selection") != "validation":
            continue  # nothing was held out
        rows.append((name, _format_value(run_args[name])))
    return rows


def describe_objective(objective: str, run_args: dict) -> str:
    """The training objective in words, with the weights the run used when its arguments record them."""
    objectives = card_text()["objectives"]
    if objective == EVALUATED_OBJECTIVE:
        return card_text()["unrecorded_objective"]
    if objective == "ial":
        text = objectives["ial"]
        weights = run_args.get("ial_weight")
        auxiliary = run_args.get("auxiliary_weights")
        released = released_weights()["ial_objective"]
        formula = text["formula_without_weights"]
        if isinstance(weights, (int, float)) and isinstance(auxiliary, list) and len(auxiliary) == 2:
            formula = text["formula"].format(ial_weight=weights, auxiliary_weights=auxiliary)
        origin = text["released"] if formula == released else text["not_released"].format(released=released)
        return text["text"].format(formula=formula, origin=origin)
    if objective == "compact":
        text = objectives["compact"]
        weight = run_args.get("compact_lambda")
        formula = (
            text["formula"].format(compact_lambda=weight)
            if isinstance(weight, (int, float))
            else text["formula_without_weights"]
        )
        return text["text"].format(formula=formula)
    if objective in objectives:
        return objectives[objective]["text"]
    return card_text()["unknown_objective"].format(objective=objective)


def percent(fraction: float) -> str:
    """A rate in [0, 1] as the card prints it: a percentage with two decimals."""
    return f"{100 * fraction:.2f}"


def _title(facts: dict, dataset_key: str, fold: int | None) -> str:
    where = card_text()["datasets"][dataset_key]["title_name"]
    return f"{facts['short_name']} on {where}" + (f", fold {fold}" if fold else "")


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())


def _format_value(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|").replace("`", "'")


def _rounded(value):
    """Floats to 4 significant digits (also inside lists), for prose; tables keep the exact values."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def _sampler_description(sampler: str, num_frames: int) -> str:
    text = card_text()
    template = text["samplers"].get(sampler, text["unknown_sampler"])
    return template.format(n=num_frames, half=num_frames // 2, sampler=sampler)


def _preprocessing_lines(processor: dict, num_frames: int) -> list[str]:
    sampler = processor.get("sampler", "segment")
    lines = [
        f"{num_frames} frames per clip, chosen by the "
        + _sampler_description(sampler, num_frames)
        + "; clips shorter than that spread their frames over all slots in order (no clip is dropped)."
    ]
    size = processor.get("size") or {}
    if processor.get("do_resize", True) and size:
        lines.append(
            f"each frame resized to {size.get('height')}x{size.get('width')} pixels (no crop at evaluation)."
        )
    if processor.get("do_rescale", True):
        factor = processor.get("rescale_factor", 1 / 255)
        lines.append(
            "pixels scaled to [0, 1]"
            + (" (divided by 255)." if math.isclose(factor, 1 / 255) else f" (multiplied by {factor:g}).")
        )
    if processor.get("do_normalize"):
        lines.append(
            f"normalised with mean {processor.get('image_mean')} and std {processor.get('image_std')}."
        )
    else:
        lines.append("no mean/std normalisation.")
    augmentation = processor.get("augmentation")
    if not processor.get("do_augment", True):
        lines.append("no training-time augmentation (`do_augment` is off).")
    elif augmentation:
        described = ", ".join(
            f"{name} {_format_value(_rounded(value))}" for name, value in augmentation.items()
        )
        lines.append(
            f"training-time augmentation stored with the processor (one draw per clip): {described}."
        )
    return lines


__all__ = [
    "KEY_RUN_ARGS",
    "TASK_TYPE",
    "base_model",
    "build_model_card",
    "card_license",
    "check_license",
    "checkpoint_facts",
    "describe_objective",
    "eval_results",
    "key_run_args",
    "model_card_facts",
    "percent",
    "released_weights",
    "split_balance",
    "write_model_card",
]
