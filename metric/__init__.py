"""dfer's evaluation scores as a Hugging Face `evaluate` module: `load_metric()` gives the UAR/WAR metric
(`metric/uar_war/`, loadable offline from the installed package), `recall_metrics` the same numbers as a plain
numpy function.

This package imports nothing else of dfer (the metric script is copied out of it by `evaluate.load`), so every
layer above may build on it; training computes its scores through it.
"""

from pathlib import Path

import evaluate

from .uar_war.uar_war import confusion_counts, recall_metrics

# The folder `evaluate.load` takes: it finds the script as `<folder>/<folder name>.py`.
METRIC_PATH = Path(__file__).resolve().parent / "uar_war"


def load_metric(**kwargs) -> evaluate.EvaluationModule:
    """The UAR/WAR metric, loaded from this package's folder (a local path: `evaluate` never asks the Hub).

    `keep_in_memory=True` keeps the predictions of each evaluation in an in-memory Arrow buffer: without it
    every `compute` writes an Arrow cache file and its lock under the metrics cache, and data-parallel
    processes evaluating at once all reach for the same default file name, each waiting on the others' lock
    before falling back to a fresh name. Loading itself copies the script into evaluate's modules cache, once
    per load and under evaluate's own file lock. `kwargs` go to `evaluate.load` (e.g. `config_name`).
    """
    return evaluate.load(str(METRIC_PATH), keep_in_memory=True, **kwargs)


__all__ = ["METRIC_PATH", "confusion_counts", "load_metric", "recall_metrics"]
