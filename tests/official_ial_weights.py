"""Rebuilds the weights of the official IAL network from the key list and recipe in the reference fixture."""

import json
import math
from pathlib import Path

import torch

FIXTURE = Path(__file__).parent / "fixtures" / "ial_official_reference.json"


def load_reference() -> dict:
    return json.loads(FIXTURE.read_text())


def build_official_state_dict(reference: dict) -> dict[str, torch.Tensor]:
    """The fixture's deterministic recipe: the i-th key's tensor is drawn from a generator seeded with i."""
    state_dict = {}
    for index, (name, shape, _dtype) in enumerate(reference["official_state_dict"]):
        generator = torch.Generator().manual_seed(index)
        if name.endswith("num_batches_tracked"):
            tensor = torch.zeros(shape, dtype=torch.int64)
        elif name.endswith("running_mean"):
            tensor = 0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
        elif name.endswith("running_var"):
            tensor = 1 + 0.1 * torch.rand(shape, generator=generator, dtype=torch.float64)
        elif len(shape) == 1 and name.endswith("weight"):
            tensor = 1 + 0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
        elif len(shape) == 1 and name.endswith("bias"):
            tensor = 0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
        else:
            fan_in = math.prod(shape[1:])
            tensor = torch.randn(shape, generator=generator, dtype=torch.float64) / math.sqrt(fan_in)
        state_dict[name] = tensor
    return state_dict


def reference_input(reference: dict) -> torch.Tensor:
    spec = reference["input"]
    generator = torch.Generator().manual_seed(spec["seed"])
    return torch.rand(spec["shape"], generator=generator, dtype=torch.float64)
