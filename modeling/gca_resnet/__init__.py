"""GCA-ResNet (Li et al., AAAI 2023), the network trained with the Intensity-Aware Loss."""

from .configuration_gca_resnet import DFEW_LABELS, GcaResNetConfig
from .modeling_gca_resnet import (
    GcaResNetForVideoClassification,
    GcaResNetModel,
    GcaResNetModelOutput,
    GcaResNetPreTrainedModel,
    GcaResNetVideoClassifierOutput,
)

__all__ = [
    "DFEW_LABELS",
    "GcaResNetConfig",
    "GcaResNetForVideoClassification",
    "GcaResNetModel",
    "GcaResNetModelOutput",
    "GcaResNetPreTrainedModel",
    "GcaResNetVideoClassifierOutput",
]
