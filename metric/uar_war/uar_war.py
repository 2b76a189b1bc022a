"""UAR, WAR, per-class recall and the confusion matrix as a Hugging Face `evaluate` metric.

`evaluate.load` copies this file alone into its module cache and imports it from there, so it imports only
evaluate, datasets and numpy, never `dfer`. dfer itself imports the same file as `dfer.metric.uar_war.uar_war`
and calls `recall_metrics`, so the package's scores and the metric's are one definition.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """\
The scores that dynamic facial expression recognition reports on DFEW, FERV39k and similar benchmarks,
whose classes are strongly imbalanced:
- WAR (weighted average recall) is plain accuracy, the fraction of clips classified correctly; frequent
  classes dominate it.
- UAR (unweighted average recall) is the mean over classes of each class's recall, so every class counts
  the same however rare it is. A class with no clip in the references has no recall: it is reported as None
  and left out of the mean.
The per-class recalls and the confusion matrix (rows = true class, columns = predicted class) come with them.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class indices.
    references (`list` of `int`): true class indices.
    num_labels (`int`, optional): the number of classes; every index must lie in [0, num_labels).
        Defaults to 1 + the largest index seen in predictions and references.
    label_names (`list` of `str`, optional): the class names in index order. When given, num_labels is
        len(label_names) and per_class_recall is keyed by name.
Returns:
    war (`float`): accuracy over all clips, in [0, 1].
    uar (`float`): mean recall over the classes present in the references, in [0, 1].
    per_class_recall (`list` of `float` or None, or `dict` of `str` to `float` or None with label_names):
        each class's recall, None for a class absent from the references.
    confusion_matrix (`list` of `list` of `int`): clip counts, rows = true class, columns = predicted class.
    With no clips at all, war and uar are 0.0 (a logged score stays a number).
Examples:
    >>> metric = evaluate.load("metric/uar_war")
    >>> results = metric.compute(predictions=[0, 1, 1, 0], references=[0, 1, 1, 1], num_labels=3)
    >>> results["war"], results["uar"], results["per_class_recall"]
    (0.75, 0.8333333333333333, [1.0, 0.6666666666666666, None])
"""

# No bibtex: WAR and UAR are standard recall averages, not introduced by one paper.
_CITATION = ""


def class_indices(values, name: str) -> np.ndarray:
    """`values` as a 1-D int64 array. A 2-D input (logits passed instead of their argmax) or a fractional
    value is refused here: cast to int, either would count the wrong classes without a word."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one class index per clip (1-D), got shape {array.shape}.")
    if array.dtype.kind not in "iu" and array.size and not np.all(np.mod(array, 1) == 0):
        raise ValueError(f"{name} must be integer class indices, got {array.dtype} values.")
    return array.astype(np.int64)


def confusion_counts(predictions, references, num_labels: int) -> np.ndarray:
    """Clip counts with rows = true class, columns = predicted class.

    An index outside [0, num_labels) is an error rather than dropped: it means the labels and the model's
    classes disagree, and every score computed anyway would be wrong.
    """
    if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
        raise ValueError(f"num_labels must be a positive int, got {num_labels!r}.")
    predictions = class_indices(predictions, "predictions")
    references = class_indices(references, "references")
    if predictions.shape != references.shape:
        raise ValueError(f"{predictions.size} predictions for {references.size} references.")
    for name, values in (("references", references), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_labels):
            raise ValueError(
                f"{name} must lie in [0, {num_labels}) for num_labels={num_labels}, "
                f"found {values.min()}..{values.max()}."
            )
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (references, predictions), 1)
    return matrix


def recall_metrics(predictions, references, num_labels: int) -> dict:
    """WAR, UAR, per-class recall (a list by class index, None where a class has no reference clip) and the
    confusion matrix as nested lists (JSON-ready), from class indices."""
    matrix = confusion_counts(predictions, references, num_labels)
    support = matrix.sum(axis=1)
    correct = np.diag(matrix)
    recalls = [
        float(correct[index] / support[index]) if support[index] else None for index in range(num_labels)
    ]
    present = [recall for recall in recalls if recall is not None]
    total = int(support.sum())
    return {
        "war": float(correct.sum() / total) if total else 0.0,
        "uar": float(np.mean(present)) if present else 0.0,
        "per_class_recall": recalls,
        "confusion_matrix": matrix.tolist(),
    }


def resolve_num_labels(predictions, references, num_labels, label_names) -> int:
    """The class count `_compute` works with: len(label_names) when names are given (a different num_labels
    beside them is a contradiction), else num_labels, else 1 + the largest index seen."""
    if label_names is not None:
        if len(set(label_names)) != len(label_names):
            raise ValueError(
                f"label_names must be distinct (they key per_class_recall), got {list(label_names)}."
            )
        if num_labels is not None and num_labels != len(label_names):
            raise ValueError(f"num_labels={num_labels} but {len(label_names)} label_names were given.")
        return len(label_names)
    if num_labels is not None:
        return num_labels
    seen = [*predictions, *references]
    if not seen:
        raise ValueError("num_labels cannot be inferred from no predictions; pass num_labels or label_names.")
    # At least 1, so that all-negative indices reach the range check and its message rather than a
    # complaint about num_labels the caller never passed.
    return max(1 + int(max(seen)), 1)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UarWar(evaluate.Metric):
    """The `evaluate` module; `evaluate.load` picks it as this file's only `EvaluationModule` subclass (so the
    file refers to `evaluate.Metric` through the module, never imports the name `Metric` into its namespace,
    which the loader would pick first)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, num_labels=None, label_names=None) -> dict:
        num_labels = resolve_num_labels(predictions, references, num_labels, label_names)
        results = recall_metrics(predictions, references, num_labels)
        if label_names is not None:
            results["per_class_recall"] = dict(zip(label_names, results["per_class_recall"]))
        return results
