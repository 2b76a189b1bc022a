"""Publishing a training output folder to the Hugging Face Hub with a model card rendered from its data."""

from .push import (
    PublishError,
    TrainingOutput,
    build_model_card,
    push_training_output,
    read_training_output,
    upload_operations,
)

__all__ = [
    "PublishError",
    "TrainingOutput",
    "build_model_card",
    "push_training_output",
    "read_training_output",
    "upload_operations",
]
