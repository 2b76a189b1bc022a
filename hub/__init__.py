"""Publishing a training output folder to the Hugging Face Hub with a model card rendered from its data:
`output_folder` reads and checks the folder (and defines what may leave it), `model_card` renders its card
(`write_model_card` writes it into the folder), `tensorboard_logs` rewrites the logs for publishing, `push`
uploads it all as one commit."""

from .model_card import build_model_card, check_license, write_model_card
from .output_folder import PublishError, TrainingOutput, read_training_output
from .push import check_repo_id, push_training_output, upload_operations

__all__ = [
    "check_repo_id",
    "PublishError",
    "TrainingOutput",
    "build_model_card",
    "check_license",
    "push_training_output",
    "read_training_output",
    "upload_operations",
    "write_model_card",
]
