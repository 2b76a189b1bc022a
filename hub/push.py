"""Publishing a trained fold to the Hugging Face Hub: read and check a training output folder, render its model
card from data, and upload it as one commit.

The training output folder (written by the training script) holds:
- the final checkpoint: `config.json` (with `auto_map`), `model.safetensors` (or shards + index), the model's
  remote-code `.py` files, and the saved video processor (`video_preprocessor_config.json` + its `.py` files);
- `metrics.json`: {"model_type", "objective", "dataset", "fold", "eval_split", "model_selection", "labels",
  "metrics": {"war", "uar", "per_class_accuracy", "confusion_matrix", "num_clips"}}, rates as fractions in
  [0, 1], the confusion matrix with true classes as rows and predictions as columns;
- `confusion_matrix.png` (optional), `run_args.json` (every argument of the run, a flat dict), `runs/`
  (TensorBoard logs, optional upload).

Everything is checked before any request is sent (files present, `auto_map` pointing at files that exist,
labels agreeing between config and metrics, metrics agreeing with their own confusion matrix), so a bad folder
fails with one message naming the file, and nothing is published. The card is rendered with huggingface_hub's
`ModelCard.from_template` from `model_cards/model_card.md` and the per-model facts in
`model_cards/<model_type>.yaml`; its `model-index` reports WAR as `accuracy` and UAR as macro `recall`.
"""

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from huggingface_hub import CommitInfo, CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import get_token, is_jinja_available

MODEL_CARDS_DIR = Path(__file__).resolve().parents[1] / "model_cards"
MODEL_CARD_TEMPLATE = MODEL_CARDS_DIR / "model_card.md"

METRICS_FILENAME = "metrics.json"
RUN_ARGS_FILENAME = "run_args.json"
CONFUSION_MATRIX_FILENAME = "confusion_matrix.png"
LOGS_DIRNAME = "runs"
CONFIG_FILENAME = "config.json"
# What `save_pretrained` of a video processor writes (transformers' VIDEO_PROCESSOR_NAME), then older names.
PROCESSOR_CONFIG_FILENAMES = ("video_preprocessor_config.json", "preprocessor_config.json")

TASK_TYPE = "video-classification"
TASK_NAME = "Dynamic facial expression recognition"
MODEL_SELECTIONS = {
    "last_epoch": (
        "the weights after the last training epoch; no epoch was selected with the evaluation data.",
        False,
    ),
    "validation": (
        "the epoch that scored best on a validation split held out from the training data; the test split "
        "played no part in training or selection.",
        False,
    ),
    "best_test_epoch": (
        "the epoch that scored best on the test split itself (as in the reference code).",
        True,
    ),
}
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
DATASETS = {
    "dfew": {
        "name": "DFEW",
        "description": (
            "DFEW: 16,372 clips from movies, of which the 11,697 single-labelled clips are split into 5 folds; "
            "every clip is in exactly one test fold and trains in the other four, with no validation split."
        ),
        "source": "movies (acted scenes)",
    },
    "ferv39k": {
        "name": "FERV39k",
        "description": (
            "FERV39k: 38,935 short clips from 22 scene types, split into 31,088 training and 7,847 test clips."
        ),
        "source": "video clips of 22 scene types",
    },
    "sample": {
        "name": "dfer synthetic sample",
        "description": (
            "The synthetic sample dataset that `dfer` generates (procedurally drawn faces whose expression "
            "unfolds over time), in DFEW's layout and folds, for the quick start and smoke tests."
        ),
        "source": "procedurally drawn synthetic faces",
    },
}
DATASET_TERMS = (
    "DFEW and FERV39k are granted by their authors on request under their own terms (a signed licence for DFEW); "
    "read those terms before using weights trained on them."
)
SAMPLER_DESCRIPTIONS = {
    "segment": (
        "segment sampler (IAL): the clip is cut into {n} equal segments and the centre frame of each is read "
        "(a random frame of each segment in training)"
    ),
    "segment_pairs": (
        "segment-pairs sampler (Former-DFER / LOGO-Former): the clip is cut into {half} equal segments and two "
        "consecutive frames are read from the centre of each (from a random start in training)"
    ),
    "uniform": "uniform sampler: {n} evenly spaced frames over the whole clip",
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


class PublishError(Exception):
    """A training output folder cannot be published, or the Hub refused it; the message says what to do."""


@dataclass(frozen=True)
class TrainingOutput:
    """A checked training output folder: its parsed JSON files and the files a Hub repository receives."""

    folder: Path
    config: dict
    processor_config: dict
    metrics: dict
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


# --- reading and checking the folder --------------------------------------------------------------------------
def read_training_output(output_dir: str | os.PathLike) -> TrainingOutput:
    """Read and check a training output folder; raise `PublishError` naming the first problem found."""
    folder = Path(output_dir)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder: pass the training run's output directory.")
    config = _read_json(
        folder / CONFIG_FILENAME, "the checkpoint's configuration (save the model with `save_pretrained`)"
    )
    metrics = _read_json(folder / METRICS_FILENAME, "the evaluation metrics written at the end of training")
    run_args = _read_json(folder / RUN_ARGS_FILENAME, "the arguments of the training run")
    processor_name = next((name for name in PROCESSOR_CONFIG_FILENAMES if (folder / name).is_file()), None)
    if processor_name is None:
        raise PublishError(
            f"{folder} has no video processor ({' or '.join(PROCESSOR_CONFIG_FILENAMES)}): save the processor "
            "with `save_pretrained` next to the model so that `pipeline` can read videos."
        )
    processor_config = _read_json(folder / processor_name, "the video processor's configuration")
    for name, value in ((CONFIG_FILENAME, config), (processor_name, processor_config)):
        if not isinstance(value, dict):
            raise PublishError(
                f"{folder / name} must hold a JSON object; save it again with `save_pretrained`."
            )

    _check_metrics(metrics, folder / METRICS_FILENAME)
    if not isinstance(run_args, dict) or not run_args:
        raise PublishError(
            f"{folder / RUN_ARGS_FILENAME} must hold a non-empty JSON object of the run's arguments."
        )
    _check_config(config, metrics, folder)
    code_files = _check_remote_code(config, processor_config, processor_name, folder)
    weight_files = _weight_files(folder)

    image = CONFUSION_MATRIX_FILENAME if (folder / CONFUSION_MATRIX_FILENAME).is_file() else None
    logs = folder / LOGS_DIRNAME
    log_files = (
        tuple(sorted(path.relative_to(folder).as_posix() for path in logs.rglob("*") if path.is_file()))
        if logs.is_dir()
        else ()
    )
    checkpoint_files = (CONFIG_FILENAME, *weight_files, processor_name, *code_files)
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
    def fail(problem: str):
        raise PublishError(f"{path}: {problem}")

    if not isinstance(metrics, dict):
        fail("must hold a JSON object.")
    required = ("model_type", "objective", "dataset", "eval_split", "model_selection", "labels", "metrics")
    missing = [key for key in required if key not in metrics]
    if missing:
        fail(f"missing {', '.join(missing)}.")
    if metrics["model_selection"] not in MODEL_SELECTIONS:
        fail(f"model_selection {metrics['model_selection']!r} is not one of {', '.join(MODEL_SELECTIONS)}.")
    if metrics["dataset"] not in DATASETS:
        fail(f"dataset {metrics['dataset']!r} is not one of {', '.join(DATASETS)}.")
    fold = metrics.get("fold")
    if metrics["dataset"] == "dfew" and fold not in (1, 2, 3, 4, 5):
        fail(f"a DFEW run must name its fold (1 to 5), got {fold!r}.")
    if fold is not None and (not isinstance(fold, int) or isinstance(fold, bool) or fold < 1):
        fail(f"fold must be a positive integer or null, got {fold!r}.")
    labels = metrics["labels"]
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
        fail("labels must be a list of at least two class names.")
    if len(set(labels)) != len(labels):
        fail("labels must be distinct.")

    values = metrics["metrics"]
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
    tolerance = 1e-4
    war = sum(matrix[i][i] for i in range(len(labels))) / total
    if abs(values["war"] - war) > tolerance:
        fail(f"war is {values['war']} but the confusion matrix gives {war:.6f}.")
    supported = []
    for i, label in enumerate(labels):
        support = sum(matrix[i])
        value = per_class[label]
        if support == 0:
            continue
        recall = matrix[i][i] / support
        if not isinstance(value, (int, float)) or abs(value - recall) > tolerance:
            fail(
                f"per_class_accuracy[{label!r}] is {value} but its confusion-matrix row gives {recall:.6f} "
                "(rows must be the true classes)."
            )
        supported.append(recall)
    uar = sum(supported) / len(supported)
    if abs(values["uar"] - uar) > tolerance:
        fail(f"uar is {values['uar']} but the mean per-class accuracy is {uar:.6f}.")


def _check_config(config: dict, metrics: dict, folder: Path) -> None:
    path = folder / CONFIG_FILENAME
    if config.get("model_type") != metrics["model_type"]:
        raise PublishError(
            f"{path} is a {config.get('model_type')!r} model but {folder / METRICS_FILENAME} reports "
            f"{metrics['model_type']!r}: the metrics belong to another run."
        )
    if not (MODEL_CARDS_DIR / f"{metrics['model_type']}.yaml").is_file():
        known = sorted(path.stem for path in MODEL_CARDS_DIR.glob("*.yaml"))
        raise PublishError(
            f"No model card facts for model_type {metrics['model_type']!r} in {MODEL_CARDS_DIR} "
            f"(known: {', '.join(known)})."
        )
    id2label = config.get("id2label") or {}
    config_labels = [id2label.get(str(i)) for i in range(len(id2label))]
    if config_labels != metrics["labels"]:
        raise PublishError(
            f"{path} has labels {config_labels} but {folder / METRICS_FILENAME} has {metrics['labels']}: "
            "they must be the same classes in the same order."
        )
    if "num_frames" not in config:
        raise PublishError(f"{path} has no `num_frames`; the video-classification pipeline needs it.")


def _check_remote_code(
    config: dict, processor_config: dict, processor_name: str, folder: Path
) -> tuple[str, ...]:
    """The `auto_map` entries that remote loading needs, and the `.py` files (those and their siblings)."""
    needs = [
        (CONFIG_FILENAME, config, ("AutoConfig", "AutoModelForVideoClassification")),
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
    if (folder / "model.safetensors").is_file():
        return ("model.safetensors",)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(_read_json(index, "the safetensors shard index").get("weight_map", {}).values()))
        missing = [shard for shard in shards if not (folder / shard).is_file()]
        if not shards or missing:
            raise PublishError(
                f"{index} lists shards that are missing: {', '.join(missing) or 'none listed'}."
            )
        return ("model.safetensors.index.json", *shards)
    raise PublishError(
        f"{folder} has no model.safetensors: save the final model with `save_pretrained` (pickle weights such as "
        "pytorch_model.bin are never published)."
    )


# --- the model card ---------------------------------------------------------------------------------------------
def model_card_facts(model_type: str) -> dict:
    """The per-model facts (paper, description, reconstruction notes, published numbers, BibTeX)."""
    path = MODEL_CARDS_DIR / f"{model_type}.yaml"
    if not path.is_file():
        raise PublishError(f"No model card facts for model_type {model_type!r}: {path} is missing.")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def eval_results(output: TrainingOutput) -> list[EvalResult]:
    """The `model-index` entries: WAR as `accuracy`, UAR as macro `recall`, on the run's dataset, fold and split."""
    metrics = output.metrics
    dataset = DATASETS[metrics["dataset"]]
    fold = metrics.get("fold")
    common = dict(
        task_type=TASK_TYPE,
        task_name=TASK_NAME,
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
                "accuracy": _percent(values["per_class_accuracy"][label]) if support else "– (no clips)",
                "accuracy_value": 100 * values["per_class_accuracy"][label] if support else None,
                "published": f"{published:.2f}" if published is not None else "–",
            }
        )
    selection_text, selection_warning = MODEL_SELECTIONS[metrics["model_selection"]]
    template_kwargs = dict(
        title=_title(facts, dataset_key, fold),
        model=facts,
        model_type=output.model_type,
        dataset={"key": dataset_key, **DATASETS[dataset_key], "terms": DATASET_TERMS},
        fold=fold,
        eval_split=metrics["eval_split"],
        labels=labels,
        num_clips=values["num_clips"],
        num_frames=output.config["num_frames"],
        repo_id=repo_id,
        revision_kwarg=f", revision={json.dumps(revision)}" if revision not in (None, "main") else "",
        results={"war": _percent(values["war"]), "uar": _percent(values["uar"])},
        published=(facts.get("published") or {}).get(dataset_key),
        selection={"text": selection_text, "warning": selection_warning},
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
    objective_of = {name: "ial" for name in ("ial_weight", "auxiliary_weights")}
    objective_of |= {name: "compact" for name in ("compact_lambda", "compact_delta", "centers_learning_rate")}
    rows = []
    for name in KEY_RUN_ARGS:
        if name not in run_args or objective_of.get(name, objective) != objective:
            continue
        if name == "lr_step_gamma" and run_args.get("lr_step_epochs") is None:
            continue  # no step schedule in this run
        if name == "validation_fraction" and run_args.get("model_selection") != "validation":
            continue  # nothing was held out
        rows.append((name, _format_value(run_args[name])))
    return rows


def describe_objective(objective: str, run_args: dict) -> str:
    """The training objective in words, with the weights the run used when its arguments record them."""
    if objective == "ial":
        weights = run_args.get("ial_weight")
        auxiliary = run_args.get("auxiliary_weights")
        released = "CE + 0.1 * IAL + 0.05 * CE(aux layer2) + 0 * CE(aux layer3)"
        formula = "CE + w_IAL * IAL + w_2 * CE(aux layer2) + w_3 * CE(aux layer3)"
        if isinstance(weights, (int, float)) and isinstance(auxiliary, list) and len(auxiliary) == 2:
            formula = f"CE + {weights:g} * IAL + {auxiliary[0]:g} * CE(aux layer2) + {auxiliary[1]:g} * CE(aux layer3)"
        origin = "the released objective" if formula == released else f"the released one is `{released}`"
        return (
            f"`{formula}`: cross-entropy, the Intensity-Aware Loss, and cross-entropy on the auxiliary classifiers "
            f"of the GCA blocks ({origin})."
        )
    if objective == "compact":
        weight = run_args.get("compact_lambda")
        formula = (
            f"CE + {weight:g} * L_compact" if isinstance(weight, (int, float)) else "CE + lambda * L_compact"
        )
        return (
            f"`{formula}`: cross-entropy plus the compact loss on the clip features, with learnable class centres "
            "that belong to training and are not part of this checkpoint."
        )
    if objective in ("ce", "cross_entropy"):
        return "plain cross-entropy."
    return f"`{objective}` (see the recipe below)."


def _title(facts: dict, dataset_key: str, fold: int | None) -> str:
    where = DATASETS[dataset_key]["name"] if dataset_key != "sample" else "the synthetic sample"
    return f"{facts['short_name']} on {where}" + (f", fold {fold}" if fold else "")


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


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


def _preprocessing_lines(processor: dict, num_frames: int) -> list[str]:
    sampler = processor.get("sampler", "segment")
    lines = [
        f"{num_frames} frames per clip, chosen by the "
        + SAMPLER_DESCRIPTIONS.get(sampler, f"`{sampler}` sampler").format(n=num_frames, half=num_frames // 2)
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


# --- pushing -----------------------------------------------------------------------------------------------------
def upload_operations(
    output: TrainingOutput, card: ModelCard, include_logs: bool = False
) -> list[CommitOperationAdd]:
    """The files of one commit: checkpoint, processor, remote code, card, metrics, run arguments, optional logs."""
    files = list(output.checkpoint_files) + [METRICS_FILENAME, RUN_ARGS_FILENAME]
    if output.confusion_matrix_image:
        files.append(output.confusion_matrix_image)
    if include_logs:
        if not output.log_files:
            raise PublishError(
                f"Logs were requested but {output.folder / LOGS_DIRNAME} holds no TensorBoard files."
            )
        files.extend(output.log_files)
    operations = [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode("utf-8"))]
    operations += [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(output.folder / name)) for name in files
    ]
    return operations


def default_commit_message(output: TrainingOutput) -> str:
    metrics = output.metrics
    facts = model_card_facts(output.model_type)
    fold = f" fold {metrics['fold']}" if metrics.get("fold") else ""
    return (
        f"Upload {facts['short_name']} trained on {DATASETS[metrics['dataset']]['name']}{fold} "
        f"(WAR {_percent(metrics['metrics']['war'])}, UAR {_percent(metrics['metrics']['uar'])})"
    )


def push_training_output(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    include_logs: bool = False,
    license: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> CommitInfo:
    """Publish a training output folder to `repo_id` as one commit (on branch `revision`, created if needed).

    The folder and card are checked before any request. The token comes from `token`, else the usual
    huggingface_hub sources (`HF_TOKEN`, the token saved by `hf auth login`). If the Hub refuses a step, a
    repository or branch created by this call is deleted again, and `PublishError` says what happened: the
    commit itself is atomic, so the repository never holds part of the upload.
    """
    output = read_training_output(output_dir)
    card = build_model_card(output, repo_id=repo_id, revision=revision, license=license)
    operations = upload_operations(output, card, include_logs=include_logs)
    message = commit_message or default_commit_message(output)

    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise PublishError(
            "HF_HUB_OFFLINE is set, so nothing can be pushed: unset it (or set it to 0) and retry."
        )
    token = token or get_token()
    if not token:
        raise PublishError(
            "No Hugging Face token found: run `hf auth login`, set the HF_TOKEN environment variable, or pass a "
            "token with write access. Nothing was published."
        )
    api = HfApi(endpoint=endpoint, token=token)
    branch = revision if revision not in (None, "main") else None
    created_repo = created_branch = False
    step = f"creating the repository {repo_id}"
    try:
        created_repo = _create_repo(api, repo_id, private)
        if branch is not None:
            step = f"creating the branch {branch!r} of {repo_id}"
            created_branch = _create_branch(api, repo_id, branch)
        step = f"committing {len(operations)} files to {repo_id}" + (f" ({branch})" if branch else "")
        return api.create_commit(
            repo_id, operations, commit_message=message, revision=branch, repo_type="model"
        )
    except (HfHubHTTPError, *_network_errors()) as error:
        undone = _undo(api, repo_id, branch, created_repo, created_branch)
        raise PublishError(f"The Hub refused {step}: {_describe(error)}. {undone}") from error
    except ValueError as error:  # huggingface_hub reports invalid card metadata this way
        undone = _undo(api, repo_id, branch, created_repo, created_branch)
        raise PublishError(f"Pushing to {repo_id} failed while {step}: {error} {undone}") from error


def _create_repo(api: HfApi, repo_id: str, private: bool | None) -> bool:
    """Create the repository; False when it already exists (the push then adds a commit to it)."""
    try:
        api.create_repo(repo_id, private=private, repo_type="model", exist_ok=False)
        return True
    except HfHubHTTPError as error:
        status = error.response.status_code
        if status == 409:
            return False
        if status == 403 and api.repo_exists(repo_id):  # may write to it without the right to create repos
            return False
        raise


def _create_branch(api: HfApi, repo_id: str, branch: str) -> bool:
    try:
        api.create_branch(repo_id, branch=branch, repo_type="model")
        return True
    except HfHubHTTPError as error:
        if error.response.status_code == 409:
            return False
        raise


def _undo(api: HfApi, repo_id: str, branch: str | None, created_repo: bool, created_branch: bool) -> str:
    """Remove what this push created; say what state the Hub is left in."""
    try:
        if created_repo:
            api.delete_repo(repo_id, repo_type="model")
            return f"The repository {repo_id} created by this push was deleted again; nothing was published."
        if created_branch:
            api.delete_branch(repo_id, branch=branch, repo_type="model")
            return f"The branch {branch!r} created by this push was deleted again; nothing was published."
    except (HfHubHTTPError, *_network_errors()) as error:
        created = f"repository {repo_id}" if created_repo else f"branch {branch!r} of {repo_id}"
        return f"Nothing was uploaded, but the empty {created} could not be removed ({_describe(error)}): delete it."
    return "Nothing was published."


def _describe(error: Exception) -> str:
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code
        detail = error.server_message or error.response.reason_phrase
        hint = ""
        if status == 401:
            hint = " (the token is invalid or expired: log in again with `hf auth login` or set HF_TOKEN)"
        elif status == 403:
            hint = " (check that the token has write access here)"
        return f"HTTP {status}: {detail}{hint}"
    return f"{type(error).__name__}: {error} (is the Hub reachable?)"


def _network_errors() -> tuple[type[Exception], ...]:
    """Connection-level errors of the HTTP client huggingface_hub uses."""
    errors: list[type[Exception]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        errors.append(module.HTTPError)
    return tuple(errors)


__all__ = [
    "MODEL_CARDS_DIR",
    "MODEL_CARD_TEMPLATE",
    "PublishError",
    "TrainingOutput",
    "build_model_card",
    "default_commit_message",
    "describe_objective",
    "eval_results",
    "key_run_args",
    "model_card_facts",
    "push_training_output",
    "read_training_output",
    "upload_operations",
]
