"""Training objectives, the Trainer subclass that applies them, and evaluation metrics."""

from .compact_loss import COMPACT_LOSS_FILENAME, CompactLoss
from .hub import PublishError, TrainingOutput, build_model_card, push_training_output, read_training_output
from .intensity_aware_loss import intensity_aware_loss, strongest_rival
from .metrics import (
    classification_metrics,
    confusion_matrix,
    make_compute_metrics,
    save_confusion_matrix_figure,
)
from .objectives import (
    OBJECTIVES,
    CompactObjective,
    CrossEntropyObjective,
    IntensityAwareObjective,
    ObjectiveOutput,
    build_objective,
)

__all__ = [
    "COMPACT_LOSS_FILENAME",
    "OBJECTIVES",
    "PublishError",
    "TrainingOutput",
    "build_model_card",
    "push_training_output",
    "read_training_output",
    "CompactLoss",
    "CompactObjective",
    "CrossEntropyObjective",
    "IntensityAwareObjective",
    "ObjectiveOutput",
    "build_objective",
    "classification_metrics",
    "confusion_matrix",
    "intensity_aware_loss",
    "make_compute_metrics",
    "save_confusion_matrix_figure",
    "strongest_rival",
]
