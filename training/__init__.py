"""Training objectives, the Trainer subclass that applies them, and evaluation metrics."""

from .intensity_aware_loss import IntensityAwareObjective, intensity_aware_loss, strongest_rival

__all__ = ["IntensityAwareObjective", "intensity_aware_loss", "strongest_rival"]
