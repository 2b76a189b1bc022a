"""Model code of `dfer`. Importing this package registers every model with the transformers Auto classes, so
that `AutoConfig`, `AutoModel`, `AutoModelForVideoClassification` and `pipeline("video-classification")` find
them by `model_type`."""

from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from .gca_resnet import GcaResNetConfig, GcaResNetForVideoClassification, GcaResNetModel


def _register(config_class, model_class, classification_class) -> None:
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    AutoModelForVideoClassification.register(config_class, classification_class, exist_ok=True)
    # Saved checkpoints then carry `auto_map` + the model files, and load with trust_remote_code=True.
    config_class.register_for_auto_class()
    model_class.register_for_auto_class("AutoModel")
    classification_class.register_for_auto_class("AutoModelForVideoClassification")


_register(GcaResNetConfig, GcaResNetModel, GcaResNetForVideoClassification)

__all__ = ["GcaResNetConfig", "GcaResNetForVideoClassification", "GcaResNetModel"]
