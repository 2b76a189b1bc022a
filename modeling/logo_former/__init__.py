"""LOGO-Former (Ma, Sun, Li, ICASSP 2023): local-global spatio-temporal transformer for DFER. No official code is
public; this folder is the package's reconstruction (see the module docstrings for what is published and what is
reconstructed)."""

from .configuration_logo_former import LOGO_FORMER_LABELS, LogoFormerConfig
from .modeling_logo_former import (
    LogoFormerForVideoClassification,
    LogoFormerModel,
    LogoFormerModelOutput,
    LogoFormerPreTrainedModel,
    LogoFormerVideoClassifierOutput,
    convert_resnet18_state_dict,
)

__all__ = [
    "LOGO_FORMER_LABELS",
    "LogoFormerConfig",
    "LogoFormerForVideoClassification",
    "LogoFormerModel",
    "LogoFormerModelOutput",
    "LogoFormerPreTrainedModel",
    "LogoFormerVideoClassifierOutput",
    "convert_resnet18_state_dict",
]
