"""The one place where `dfer` registers its classes with the transformers Auto classes.

In-process, `AutoConfig`, `AutoModel`, `AutoModelForVideoClassification` and `AutoVideoProcessor` (and so
`pipeline("video-classification")`) find every model and the video processor by `model_type`. For checkpoints,
`register_for_auto_class` makes `save_pretrained` write the code files and `auto_map`, so a checkpoint loads
with `trust_remote_code=True` where `dfer` is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

# The top-level `transformers.AutoVideoProcessor` is a placeholder without torchvision; this one works.
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

from dfer.processing.video_processing_dfer import DferVideoProcessor

from .gca_resnet import GcaResNetConfig, GcaResNetForVideoClassification, GcaResNetModel
from .logo_former import LogoFormerConfig, LogoFormerForVideoClassification, LogoFormerModel

MODELS = (
    (GcaResNetConfig, GcaResNetModel, GcaResNetForVideoClassification),
    (LogoFormerConfig, LogoFormerModel, LogoFormerForVideoClassification),
)


def register_auto_classes() -> None:
    """Register every model and the video processor; safe to call more than once."""
    for config_class, model_class, classification_class in MODELS:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
        AutoModelForVideoClassification.register(config_class, classification_class, exist_ok=True)
        AutoVideoProcessor.register(config_class, DferVideoProcessor, exist_ok=True)
        config_class.register_for_auto_class()
        model_class.register_for_auto_class("AutoModel")
        classification_class.register_for_auto_class("AutoModelForVideoClassification")
    DferVideoProcessor.register_for_auto_class("AutoVideoProcessor")


__all__ = ["MODELS", "register_auto_classes"]
