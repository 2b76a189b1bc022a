"""DFER evaluation metrics: WAR (plain accuracy), UAR (mean per-class recall), per-class accuracy and the
confusion matrix, computed per evaluation split (never pooled across folds)."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from transformers import EvalPrediction

from dfer.metric import confusion_counts, load_metric, recall_metrics


def confusion_matrix(predictions: Sequence[int], labels: Sequence[int], num_labels: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class (`dfer.training` exports it; the counting is
    the metric script's)."""
    return confusion_counts(predictions, labels, num_labels)


def classification_metrics(
    predictions: Sequence[int], labels: Sequence[int], label_names: Sequence[str]
) -> dict:
    """WAR, UAR, per-class accuracy (recall) and the confusion matrix, in the `metrics.json` record's shape.

    The numbers are the UAR/WAR metric's (`dfer.metric`), so what a run records and what `evaluate` users
    compute cannot drift apart. A class absent from `labels` has no recall: it is reported as None and left
    out of UAR (the mean is over the classes present), which is what a reader of a per-class table expects.
    """
    metrics = recall_metrics(predictions, labels, len(label_names))
    return {
        "war": metrics["war"],
        "uar": metrics["uar"],
        "per_class_accuracy": dict(zip(label_names, metrics["per_class_recall"])),
        "confusion_matrix": metrics["confusion_matrix"],
        "num_clips": len(labels),
    }


def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """WAR, UAR and one `accuracy_<class>` per class with clips, as the flat scalars a Trainer logs (TensorBoard
    shows them under `eval/`, `test/`...), from a `classification_metrics` dict."""
    flat = {f"{prefix}war": metrics["war"], f"{prefix}uar": metrics["uar"]}
    for name, value in metrics["per_class_accuracy"].items():
        if value is not None:
            flat[f"{prefix}accuracy_{name.lower()}"] = value
    return flat


def logits_from_predictions(predictions) -> np.ndarray:
    """The main logits out of `EvalPrediction.predictions`, which is a tuple when the model returns extras."""
    while isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    return np.asarray(predictions)


def make_compute_metrics(label_names: Sequence[str]) -> Callable[[EvalPrediction], dict[str, float]]:
    """A `Trainer` `compute_metrics` that logs WAR, UAR and one accuracy per class (as flat scalars).

    It computes through the `evaluate` module, loaded once here rather than per evaluation (a load copies the
    script into evaluate's modules cache); the module keeps each evaluation in memory, so evaluating writes
    no file.
    """
    metric = load_metric()
    label_names = list(label_names)

    def compute_metrics(evaluation: EvalPrediction) -> dict[str, float]:
        predictions = logits_from_predictions(evaluation.predictions).argmax(axis=-1)
        metrics = metric.compute(predictions=predictions, references=evaluation.label_ids, label_names=label_names)
        # The metric says per_class_recall, as evaluate users expect; the record's name is per_class_accuracy.
        return flat_metrics({**metrics, "per_class_accuracy": metrics["per_class_recall"]})

    return compute_metrics


def save_confusion_matrix_figure(matrix, label_names: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix as a PNG, with the counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(6.4, 5.6))
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, label="recall (row-normalised)")
    ticks = range(len(label_names))
    axes.set_xticks(ticks, label_names, rotation=45, ha="right")
    axes.set_yticks(ticks, label_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for row in ticks:
        for column in ticks:
            color = "white" if rates[row, column] > 0.5 else "black"
            axes.text(column, row, f"{matrix[row, column]}", ha="center", va="center", color=color, fontsize=8)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
