"""The official IAL network itself (Li et al., AAAI 2023; github.com/muse1998/IAL-for-Facial-Expression-Recognition,
MIT licence) for same-run timing comparisons, imported from a local clone the user passes (`--official_repo`); its
code is not part of dfer. Needs `einops` (`pip install einops`), which the official code imports.

    git clone https://github.com/muse1998/IAL-for-Facial-Expression-Recognition official_ial
    python scripts/benchmark_inference_dtypes.py --official_repo official_ial
"""

import contextlib
import importlib
import sys
from pathlib import Path

import torch
from torch import nn


@contextlib.contextmanager
def tensors_stay_on_the_cpu():
    """The official Transformer moves a mask to the GPU with `.cuda()`; on a CPU machine that call keeps it."""
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


class OfficialNetwork(nn.Module):
    """`GenerateModel()` of the official code; `forward(pixel_values)` -> its (logits, feature, aux1, aux2, aux3)."""

    def __init__(self, repo: str | Path):
        super().__init__()
        repo = Path(repo).resolve()
        if not (repo / "final_model.py").is_file() or not (repo / "modules.py").is_file():
            raise SystemExit(
                f"{repo} is not a clone of the official IAL code (no final_model.py / modules.py)."
            )
        sys.path.insert(0, str(repo))
        try:
            final_model = importlib.import_module("final_model")
        except ImportError as error:
            raise SystemExit(f"the official code needs {error.name}: pip install {error.name}") from error
        finally:
            sys.path.remove(str(repo))
        self.network = final_model.GenerateModel()

    def forward(self, pixel_values):
        with tensors_stay_on_the_cpu():
            return self.network(pixel_values)


__all__ = ["OfficialNetwork", "tensors_stay_on_the_cpu"]
