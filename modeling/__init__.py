"""Model code of `dfer`. Importing this package registers every model, and the video processor, with the
transformers Auto classes (`auto_registration.py`), so that `AutoConfig`, `AutoModel`,
`AutoModelForVideoClassification`, `AutoVideoProcessor` and `pipeline("video-classification")` find them by
`model_type`."""

from .auto_registration import register_auto_classes
from .batch_norm_fusion import fuse_batch_norm
from .gca_resnet import GcaResNetConfig, GcaResNetForVideoClassification, GcaResNetModel
from .inference_precision import INFERENCE_DTYPES, prepare_for_inference, resolve_inference_dtype
from .label_names import label_names
from .logo_former import LogoFormerConfig, LogoFormerForVideoClassification, LogoFormerModel

register_auto_classes()

__all__ = [
    "INFERENCE_DTYPES",
    "GcaResNetConfig",
    "GcaResNetForVideoClassification",
    "GcaResNetModel",
    "LogoFormerConfig",
    "LogoFormerForVideoClassification",
    "LogoFormerModel",
    "fuse_batch_norm",
    "label_names",
    "prepare_for_inference",
    "register_auto_classes",
    "resolve_inference_dtype",
]
