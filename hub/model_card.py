"""Rendering the model card of a training output folder, from data only.

The card is rendered with huggingface_hub's `ModelCard.from_template` from `model_cards/model_card.md`, the
per-model facts in `model_cards/<model_type>.yaml`, the shared prose of `model_cards/card_text.yaml` and the
run's own files (metrics, arguments, configuration, saved video processor); the loss weights it names come from
`dfer.training.objectives`. Its `model-index` reports WAR as `accuracy` and UAR as macro `recall`.
"""

import json
import math
import os

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import is_jinja_available

from dfer.training.compact_loss import COMPACT_DELTA, COMPACT_LAMBDA
from dfer.training.objectives import IAL_AUXILIARY_WEIGHTS, IAL_WEIGHT

from .card_files import (
    MODEL_CARD_TEMPLATE,
    card_text,
    known_model_types,
    model_facts_path,
    read_yaml,
)
from .output_folder import PublishError, TrainingOutput, read_training_output

TASK_TYPE = "video-classification"
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


def build_model_card(
    output: TrainingOutput | str | os.PathLike,
    repo_id: str,
    revision: str | None = None,
    license: str | None = None,
    template_path: str | os.PathLike | None = None,
) -> ModelCard:
    """Render the model card of a training output folder for `repo_id` (and `revision`, used in the snippets)."""
    if not isinstance(output, TrainingOutput):
        output = read_training_output(output)
    if not is_jinja_available():
        raise PublishError("Rendering model cards needs Jinja2: `pip install jinja2`.")
    text = card_text()
    facts = model_card_facts(output.model_type)
    metrics = output.metrics
    values = metrics["metrics"]
    dataset_key = metrics["dataset"]
    fold = metrics.get("fold")
    labels = output.labels

    card_data = ModelCardData(
        model_name=repo_id.split("/")[-1],
        library_name="transformers",
        pipeline_tag=TASK_TYPE,
        license=license,
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
    selection = text["model_selections"][metrics["model_selection"]]
    template_kwargs = dict(
        title=_title(facts, dataset_key, fold),
        model=facts,
        model_type=output.model_type,
        dataset={"key": dataset_key, **text["datasets"][dataset_key], "terms": text["dataset_terms"]},
        fold=fold,
        eval_split=metrics["eval_split"],
        labels=labels,
        num_clips=values["num_clips"],
        num_frames=output.config["num_frames"],
        repo_id=repo_id,
        revision_kwarg=f", revision={json.dumps(revision)}" if revision not in (None, "main") else "",
        results={"war": percent(values["war"]), "uar": percent(values["uar"])},
        published=(facts.get("published") or {}).get(dataset_key),
        selection={"text": selection["text"], "warning": selection["optimistic"]},
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
        includes_logs=bool(output.log_files),
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
    "build_model_card",
    "describe_objective",
    "eval_results",
    "key_run_args",
    "model_card_facts",
    "percent",
    "released_weights",
]
