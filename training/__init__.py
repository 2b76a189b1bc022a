"""Training objectives, the Trainer subclass that applies them, evaluation metrics, and the runs built on them:
one training run (`train_and_evaluate`), checkpoint evaluation (`evaluate_checkpoint`) and the fold protocol
(`run_folds`), with their command-line arguments."""

from .arguments import (
    DataArguments,
    EvaluationArguments,
    FoldArguments,
    ModelArguments,
    evaluation_argument_parser,
    training_argument_parser,
)
from .compact_loss import COMPACT_LOSS_FILENAME, CompactLoss
from .distributed import end_distributed_run, leave_distributed_run
from .evaluation import evaluate_checkpoint
from .folds import run_folds
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
from .run import train_and_evaluate
from .trainer import DferTrainer, DferTrainingArguments

__all__ = [
    "DataArguments",
    "DferTrainer",
    "DferTrainingArguments",
    "EvaluationArguments",
    "FoldArguments",
    "ModelArguments",
    "end_distributed_run",
    "leave_distributed_run",
    "evaluate_checkpoint",
    "evaluation_argument_parser",
    "run_folds",
    "train_and_evaluate",
    "training_argument_parser",
    "COMPACT_LOSS_FILENAME",
    "OBJECTIVES",
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
