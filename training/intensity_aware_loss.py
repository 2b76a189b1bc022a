"""The Intensity-Aware Loss (Li et al., AAAI 2023) and the total objective released with it.

IAL is a two-way softmax between the target logit and its strongest rival:

    L_IAL = -log(e^{z_y} / (e^{z_y} + e^{z_m})) = softplus(z_m - z_y),   m = argmax_{j != y} z_j

Clips whose target barely beats the rival (low expression intensity) get the largest gradient. The rival is
picked with a hard argmax, so no gradient flows through the choice; it reaches z_y and z_m only.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F


def strongest_rival(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Index of the highest non-target logit of each row."""
    masked = logits.detach().scatter(1, labels[:, None], float("-inf"))
    return masked.argmax(dim=1)


def intensity_aware_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """softplus(z_rival - z_target) per clip; `reduction` is "mean", "sum" or "none"."""
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"IAL needs logits of shape (batch_size, num_labels >= 2), got {tuple(logits.shape)}.")
    labels = labels.view(-1).to(logits.device)
    rivals = strongest_rival(logits, labels)
    target_logits = logits.gather(1, labels[:, None]).squeeze(1)
    rival_logits = logits.gather(1, rivals[:, None]).squeeze(1)
    losses = F.softplus(rival_logits - target_logits)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"`reduction` must be 'mean', 'sum' or 'none', got {reduction!r}.")


@dataclass
class IntensityAwareObjectiveOutput:
    loss: torch.Tensor
    components: dict[str, torch.Tensor] = field(default_factory=dict)


class IntensityAwareObjective(nn.Module):
    """
    The released training objective of GCA-ResNet:

        L = ce_weight * CE(z, y) + ial_weight * IAL(z, y) + sum_k auxiliary_weights[k] * CE(aux_k, y)

    Defaults are what the official code trains with: 1, 0.1 and (0.05, 0) for the layer2 and layer3 GCA heads
    (a code comment there says 0.5 for IAL; 0.1 is the value actually used). A zero-weight term is skipped.
    """

    def __init__(
        self,
        ce_weight: float = 1.0,
        ial_weight: float = 0.1,
        auxiliary_weights: Sequence[float] = (0.05, 0.0),
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        self.ce_weight = ce_weight
        self.ial_weight = ial_weight
        self.auxiliary_weights = tuple(auxiliary_weights)
        self.label_smoothing = label_smoothing

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        auxiliary_logits: Sequence[torch.Tensor] = (),
    ) -> IntensityAwareObjectiveOutput:
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
            if weight == 0:
                continue
            components[f"auxiliary_{index}"] = F.cross_entropy(aux, labels)
            total = total + weight * components[f"auxiliary_{index}"]
        return IntensityAwareObjectiveOutput(loss=total, components=components)
