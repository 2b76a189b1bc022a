"""DFER evaluation metrics: WAR (plain accuracy), UAR (mean per-class recall), per-class accuracy and the
confusion matrix, computed per evaluation split (never pooled across folds)."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from transformers import EvalPrediction


def confusion_matrix(predictions: Sequence[int], labels: Sequence[int], num_labels: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    predictions, labels = np.asarray(predictions, dtype=int), np.asarray(labels, dtype=int)
    if predictions.shape != labels.shape:
        raise ValueError(f"{predictions.shape[0]} predictions for {labels.shape[0]} labels.")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_labels):
            raise ValueError(f"{name} must lie in [0, {num_labels - 1}], found {values.min()}..{values.max()}.")
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_metrics(
    predictions: Sequence[int], labels: Sequence[int], label_names: Sequence[str]
) -> dict:
    """WAR, UAR, per-class accuracy (recall) and the confusion matrix.

    A class absent from `labels` has no recall; it is reported as None and left out of UAR (the mean is over
    the classes present), which is what a reader of a per-class table expects.
    """
    matrix = confusion_matrix(predictions, labels, len(label_names))
    support = matrix.sum(axis=1)
    correct = np.diag(matrix)
    recalls = {
        name: (float(correct[i] / support[i]) if support[i] else None) for i, name in enumerate(label_names)
    }
    present = [value for value in recalls.values() if value is not None]
    total = int(support.sum())
    return {
        "war": float(correct.sum() / total) if total else 0.0,
        "uar": float(np.mean(present)) if present else 0.0,
        "per_class_accuracy": recalls,
        "confusion_matrix": matrix.tolist(),
        "num_clips": total,
    }


def logits_from_predictions(predictions) -> np.ndarray:
    """The main logits out of `EvalPrediction.predictions`, which is a tuple when the model returns extras."""
    while isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    return np.asarray(predictions)


def make_compute_metrics(label_names: Sequence[str]) -> Callable[[EvalPrediction], dict[str, float]]:
    """A `Trainer` `compute_metrics` that logs WAR, UAR and one accuracy per class (as flat scalars)."""

    def compute_metrics(evaluation: EvalPrediction) -> dict[str, float]:
        predictions = logits_from_predictions(evaluation.predictions).argmax(axis=-1)
        metrics = classification_metrics(predictions, evaluation.label_ids, label_names)
        flat = {"war": metrics["war"], "uar": metrics["uar"]}
        for name, value in metrics["per_class_accuracy"].items():
            if value is not None:
                flat[f"accuracy_{name.lower()}"] = value
        return flat

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
