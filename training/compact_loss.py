"""The compact loss of LOGO-Former (Ma, Sun, Li, ICASSP 2023): a regulariser on the clip features that asks for
minimum intra-class and maximum inter-class distance.

What is published and what is reconstructed. The paper's abstract only names the goal. The form used here is the
reconstruction recorded in the package spec (`logo_former.md`): the contrastive-center loss (Qi & Su, 2017), whose
single term pulls a feature toward its class centre and pushes it away from the other centres. With learnable
class centres c_k and clip features f_i (batch of B):

    L_C = (1/B) * sum_i  0.5 * ||f_i - c_{y_i}||^2 / (sum_{j != y_i} ||f_i - c_j||^2 + delta)
    L   = CE(z, y) + lambda_ * L_C

delta = 1 follows the contrastive-center loss; lambda_ is not published (default 0.01, configurable). Centres start
from a standard normal, as in the contrastive-center loss code.

Training-state rules:
- The centres are an `nn.Parameter` of this module, not of the model: they are part of the training state
  (optimizer + checkpoint, for resuming) and never of the published inference model.
- Put them in the optimizer with their own learning rate through [`CompactLoss.param_groups`] (no weight decay by
  default: decay would drag every centre to the origin).
- Save/restore them with [`CompactLoss.save`] / [`CompactLoss.load`] (a `state_dict` in `compact_loss.safetensors`
  next to the Trainer's `optimizer.pt`), or with `state_dict()` / `load_state_dict()` directly.

Keeping the centres identical across data-parallel processes (torchrun / accelerate, any backend). The module is
not wrapped in DDP (the Trainer wraps only the model), so it does what DDP would do, itself:
1. On its first forward inside an initialised process group of more than one process, it broadcasts the centres
   from rank 0, so that every process starts from the same centres whatever its random seed.
2. A gradient hook on the centres all-reduces their gradient and divides it by the world size during `backward()`
   (the same averaging DDP applies to the model), so every process applies the same update.
With identical starting values, gradients and optimizer hyper-parameters the centres stay identical. Every process
must therefore run `backward()` through this loss on every step (as DDP requires for the model). Under gradient
accumulation the hook communicates on every micro-batch (DDP's `no_sync` does not reach it); the result is still
the average. `synchronize=False` turns both steps off (single process, or a caller that syncs itself).
"""

import os

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn

COMPACT_LOSS_FILENAME = "compact_loss.safetensors"


def _distributed_world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


# The released weights (LOGO-Former has no official code): delta follows the contrastive-center loss; lambda and
# the centres' learning rate are not published and are the reconstruction's defaults. Defined here once; the
# objectives, training arguments, recipes and model cards read them.
COMPACT_LAMBDA = 0.01
COMPACT_DELTA = 1.0
COMPACT_CENTERS_LEARNING_RATE = 0.5


class CompactLoss(nn.Module):
    """
    Contrastive-center compact loss with learnable class centres (see the module docstring for the formula and
    the data-parallel behaviour).

    Args:
        num_classes (`int`): number of classes K (7 for DFEW / FERV39k).
        feature_dim (`int`): dimension C of the clip feature (`hidden_size`, 512 for the default LOGO-Former).
        lambda_ (`float`, defaults to 0.01): weight of the term; `forward` returns `lambda_ * L_C`.
        delta (`float`, defaults to 1.0): added to the denominator so that it never vanishes.
        synchronize (`bool`, defaults to `True`): keep the centres identical across data-parallel processes.

    Example (inside a Trainer subclass, `outputs` from `LogoFormerForVideoClassification`):

    ```python
    compact_loss = CompactLoss(num_classes=7, feature_dim=512, lambda_=0.01).to(device)
    optimizer = torch.optim.SGD(
        [{"params": model.parameters()}, *compact_loss.param_groups(lr=0.5)], lr=0.01, momentum=0.9
    )
    loss = outputs.loss + compact_loss(outputs.pooler_output, labels)
    ```
    """

    def __init__(
        self,
        num_classes: int,
        feature_dim: int,
        lambda_: float = COMPACT_LAMBDA,
        delta: float = COMPACT_DELTA,
        synchronize: bool = True,
    ):
        super().__init__()
        if num_classes < 2:
            raise ValueError(
                f"The compact loss needs at least 2 classes (it pushes away other centres), got {num_classes}."
            )
        if feature_dim < 1:
            raise ValueError(f"`feature_dim` must be positive, got {feature_dim}.")
        if delta <= 0:
            raise ValueError(f"`delta` must be positive (it keeps the denominator away from 0), got {delta}.")
        if lambda_ < 0:
            raise ValueError(f"`lambda_` must be non-negative, got {lambda_}.")
        self.num_classes = num_classes
        self.feature_dim = feature_dim
        self.lambda_ = float(lambda_)
        self.delta = float(delta)
        self.synchronize = synchronize
        self.centers = nn.Parameter(torch.randn(num_classes, feature_dim))
        self._centers_broadcast = False
        self.centers.register_hook(self._average_gradient_across_processes)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, feature_dim={self.feature_dim}, lambda_={self.lambda_}, "
            f"delta={self.delta}, synchronize={self.synchronize}"
        )

    # ------------------------------------------------------------------------------------------------------------
    # The loss
    # ------------------------------------------------------------------------------------------------------------

    def compact_term(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """L_C (unweighted) for features `(batch, feature_dim)` and labels `(batch,)`."""
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(
                f"`features` must have shape (batch_size, {self.feature_dim}), got {tuple(features.shape)}."
            )
        labels = labels.to(features.device).view(-1).long()
        if labels.shape[0] != features.shape[0]:
            raise ValueError(f"Got {features.shape[0]} features but {labels.shape[0]} labels.")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"Labels must lie in [0, {self.num_classes - 1}], got {labels.tolist()}.")
        self.maybe_broadcast_centers()
        # Squared distances are formed explicitly (not with cdist) so that gradients stay exact at zero distance.
        centers = self.centers.to(torch.float32)
        squared_distances = (features.to(torch.float32)[:, None, :] - centers[None, :, :]).pow(2).sum(dim=-1)
        own = squared_distances.gather(1, labels[:, None]).squeeze(1)
        others = squared_distances.sum(dim=1) - own
        return (0.5 * own / (others + self.delta)).mean()

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """`lambda_ * L_C`: the term added to the cross-entropy."""
        return self.lambda_ * self.compact_term(features, labels)

    # ------------------------------------------------------------------------------------------------------------
    # Optimizer and checkpoints
    # ------------------------------------------------------------------------------------------------------------

    def param_groups(self, lr: float, weight_decay: float = 0.0, **options) -> list[dict]:
        """Optimizer parameter group(s) for the centres with their own learning rate (and any other per-group
        option, e.g. `momentum`)."""
        return [{"params": [self.centers], "lr": lr, "weight_decay": weight_decay, **options}]

    def save(self, directory: str | os.PathLike) -> str:
        """Write `state_dict()` to `directory/compact_loss.safetensors` (call on the main process only)."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, COMPACT_LOSS_FILENAME)
        tensors = {name: tensor.detach().contiguous().cpu() for name, tensor in self.state_dict().items()}
        metadata = {
            "num_classes": str(self.num_classes),
            "feature_dim": str(self.feature_dim),
            "lambda_": repr(self.lambda_),
            "delta": repr(self.delta),
        }
        save_file(tensors, path, metadata=metadata)
        return path

    def load(self, directory: str | os.PathLike) -> None:
        """Restore the centres written by [`save`] from `directory` (a checkpoint folder)."""
        path = os.path.join(directory, COMPACT_LOSS_FILENAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No compact-loss state at {path}: resume from a checkpoint saved with the compact loss, or start "
                "the centres afresh."
            )
        state = load_file(path)
        if "centers" in state and tuple(state["centers"].shape) != tuple(self.centers.shape):
            raise ValueError(
                f"{path} holds centres of shape {tuple(state['centers'].shape)}, this loss expects "
                f"{tuple(self.centers.shape)} (num_classes, feature_dim)."
            )
        self.load_state_dict(state)

    # ------------------------------------------------------------------------------------------------------------
    # Data-parallel synchronisation
    # ------------------------------------------------------------------------------------------------------------

    def broadcast_centers(self, src: int = 0) -> None:
        """Copy rank `src`'s centres to every process (a no-op outside a multi-process group)."""
        if _distributed_world_size() > 1:
            with torch.no_grad():
                dist.broadcast(self.centers.data, src=src)
        self._centers_broadcast = True

    def maybe_broadcast_centers(self) -> None:
        if self.synchronize and not self._centers_broadcast and _distributed_world_size() > 1:
            self.broadcast_centers()

    def _average_gradient_across_processes(self, grad: torch.Tensor) -> torch.Tensor:
        world_size = _distributed_world_size()
        if not self.synchronize or world_size == 1:
            return grad
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad / world_size


__all__ = ["COMPACT_LOSS_FILENAME", "CompactLoss"]
