"""Model code of `dfer`. Importing this package registers every model, and the video processor, with the
transformers Auto classes, so that `AutoConfig`, `AutoModel`, `AutoModelForVideoClassification`,
`AutoVideoProcessor` and `pipeline("video-classification")` find them by `model_type`."""

from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from dfer.processing.video_processing_dfer import register_video_processor

from .gca_resnet import GcaResNetConfig, GcaResNetForVideoClassification, GcaResNetModel
from .logo_former import LogoFormerConfig, LogoFormerForVideoClassification, LogoFormerModel


def _register(config_class, model_class, classification_class) -> None:
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    AutoModelForVideoClassification.register(config_class, classification_class, exist_ok=True)
    # Saved checkpoints then carry `auto_map` + the model files, and load with trust_remote_code=True.
    config_class.register_for_auto_class()
    model_class.register_for_auto_class("AutoModel")
    classification_class.register_for_auto_class("AutoModelForVideoClassification")


_register(GcaResNetConfig, GcaResNetModel, GcaResNetForVideoClassification)
_register(LogoFormerConfig, LogoFormerModel, LogoFormerForVideoClassification)
register_video_processor(GcaResNetConfig, LogoFormerConfig)

__all__ = [
    "GcaResNetConfig",
    "GcaResNetForVideoClassification",
    "GcaResNetModel",
    "LogoFormerConfig",
    "LogoFormerForVideoClassification",
    "LogoFormerModel",
]
