"""Training objectives: what the Trainer minimises, computed from a model's outputs and the labels.

Every objective is an `nn.Module` with `forward(outputs, labels) -> ObjectiveOutput`. Objectives with state of
their own (the compact loss's class centres) expose it as parameters, so the Trainer can optimise it with its own
learning rate and checkpoint it for resuming; it never becomes part of the published model.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .compact_loss import COMPACT_CENTERS_LEARNING_RATE, COMPACT_DELTA, COMPACT_LAMBDA, CompactLoss
from .intensity_aware_loss import intensity_aware_loss

OBJECTIVES = ("ce", "ial", "compact")

# The loss weights of the released recipes, defined here once: the objectives' defaults, the training arguments'
# defaults, the recipes and the model cards all read them.
# IAL, as the official code of Li et al. trains (a code comment there says 0.5 for IAL; this is the value used).
IAL_WEIGHT = 0.1
IAL_AUXILIARY_WEIGHTS = (0.05, 0.0)  # the layer2 and layer3 GCA heads
# The compact loss's weights (COMPACT_LAMBDA, COMPACT_DELTA, COMPACT_CENTERS_LEARNING_RATE) are defined with the
# loss, in compact_loss.py, which this module imports.


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor
    # Unweighted terms, for logging.
    components: dict[str, torch.Tensor] = field(default_factory=dict)


class CrossEntropyObjective(nn.Module):
    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, outputs, labels: torch.Tensor) -> ObjectiveOutput:
        loss = F.cross_entropy(outputs.logits, labels.view(-1), label_smoothing=self.label_smoothing)
        return ObjectiveOutput(loss, {"cross_entropy": loss})


class IntensityAwareObjective(nn.Module):
    """
    The released training objective of GCA-ResNet:

        L = ce_weight * CE(z, y) + ial_weight * IAL(z, y) + sum_k auxiliary_weights[k] * CE(aux_k, y)

    Defaults are what the official code trains with: 1, `IAL_WEIGHT` and `IAL_AUXILIARY_WEIGHTS` (for the layer2
    and layer3 GCA heads). A zero CE or IAL weight skips that term; auxiliary heads are always evaluated.
    `outputs` needs `logits` and, for non-zero auxiliary weights, `auxiliary_logits`.
    """

    def __init__(
        self,
        ce_weight: float = 1.0,
        ial_weight: float = IAL_WEIGHT,
        auxiliary_weights: Sequence[float] = IAL_AUXILIARY_WEIGHTS,
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        self.ce_weight = ce_weight
        self.ial_weight = ial_weight
        self.auxiliary_weights = tuple(auxiliary_weights)
        self.label_smoothing = label_smoothing

    def forward(self, outputs, labels: torch.Tensor) -> ObjectiveOutput:
        logits = outputs.logits
        auxiliary_logits = tuple(getattr(outputs, "auxiliary_logits", None) or ())
        if any(w != 0 for w in self.auxiliary_weights[len(auxiliary_logits) :]):
            raise ValueError(
                f"{len(self.auxiliary_weights)} auxiliary weights {self.auxiliary_weights} but the model returned "
                f"{len(auxiliary_logits)} auxiliary logits; set a weight per GCA head of the model."
            )
        labels = labels.view(-1).to(logits.device)
        components = {}
        total = logits.new_zeros(())
        if self.ce_weight != 0:
            components["cross_entropy"] = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
            total = total + self.ce_weight * components["cross_entropy"]
        if self.ial_weight != 0:
            components["intensity_aware"] = intensity_aware_loss(logits, labels)
            total = total + self.ial_weight * components["intensity_aware"]
        for index, (weight, aux) in enumerate(zip(self.auxiliary_weights, auxiliary_logits)):
            # A zero-weight head still enters the sum (as the released "0 * aux3" does): its gradient is zero,
            # and data-parallel training sees every parameter used.
            components[f"auxiliary_{index}"] = F.cross_entropy(aux, labels)
            total = total + weight * components[f"auxiliary_{index}"]
        return ObjectiveOutput(total, components)


class CompactObjective(nn.Module):
    """LOGO-Former's objective: CE(z, y) + lambda * L_C(clip feature, y), with learnable class centres (see
    `compact_loss.py`). `outputs` needs `logits` and `pooler_output` (the clip feature)."""

    def __init__(
        self,
        num_labels: int,
        feature_dim: int,
        lambda_: float = COMPACT_LAMBDA,
        delta: float = COMPACT_DELTA,
        centers_learning_rate: float = COMPACT_CENTERS_LEARNING_RATE,
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        self.compact_loss = CompactLoss(num_labels, feature_dim, lambda_=lambda_, delta=delta)
        self.centers_learning_rate = centers_learning_rate
        self.label_smoothing = label_smoothing

    def forward(self, outputs, labels: torch.Tensor) -> ObjectiveOutput:
        labels = labels.view(-1).to(outputs.logits.device)
        cross_entropy = F.cross_entropy(outputs.logits, labels, label_smoothing=self.label_smoothing)
        compact = self.compact_loss.compact_term(outputs.pooler_output, labels)
        loss = cross_entropy + self.compact_loss.lambda_ * compact
        return ObjectiveOutput(loss, {"cross_entropy": cross_entropy, "compact": compact})

    def param_groups(self) -> list[dict]:
        return self.compact_loss.param_groups(lr=self.centers_learning_rate)


def build_objective(
    name: str,
    num_labels: int,
    feature_dim: int | None = None,
    ial_weight: float = IAL_WEIGHT,
    auxiliary_weights: Sequence[float] = IAL_AUXILIARY_WEIGHTS,
    compact_lambda: float = COMPACT_LAMBDA,
    compact_delta: float = COMPACT_DELTA,
    centers_learning_rate: float = COMPACT_CENTERS_LEARNING_RATE,
    label_smoothing: float = 0.0,
) -> nn.Module:
    """The objective called `name` ("ce", "ial" or "compact")."""
    if name == "ce":
        return CrossEntropyObjective(label_smoothing)
    if name == "ial":
        return IntensityAwareObjective(1.0, ial_weight, auxiliary_weights, label_smoothing)
    if name == "compact":
        if feature_dim is None:
            raise ValueError("The compact objective needs `feature_dim`, the size of the model's clip feature.")
        return CompactObjective(
            num_labels, feature_dim, compact_lambda, compact_delta, centers_learning_rate, label_smoothing
        )
    raise ValueError(f"Unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}.")
