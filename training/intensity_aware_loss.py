"""The Intensity-Aware Loss (Li et al., AAAI 2023) (the objective that uses it is in `objectives.py`).

IAL is a two-way softmax between the target logit and its strongest rival:

    L_IAL = -log(e^{z_y} / (e^{z_y} + e^{z_m})) = softplus(z_m - z_y),   m = argmax_{j != y} z_j

Clips whose target barely beats the rival (low expression intensity) get the largest gradient. The rival is
picked with a hard argmax, so no gradient flows through the choice; it reaches z_y and z_m only.
"""

import torch
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
