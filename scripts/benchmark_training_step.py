"""CPU training step (forward + backward + optimiser step) of the full-size models at batch 8, in alternating
rounds of the same run:

- GCA-ResNet + IAL, SGD (momentum 0.9, weight decay 0.1: the IAL recipe): the official network's way of computing
  it (float32, every transformer sub-layer evaluated twice, NCHW maps: `official_execution` of
  `benchmark_gca_resnet.py`), dfer in float32, and dfer under bfloat16 autocast (what `dfer train --bf16
  --use_cpu` runs: accelerate's bf16 mixed precision; weights and optimiser stay float32); with `--official_repo`
  also the official code's own network (`official_ial_code.py`). Target: >= 1.5x the official step.
- LOGO-Former + compact loss, SGD (the LOGO-Former recipe): float32 and bfloat16 autocast.

    python scripts/benchmark_training_step.py [--rounds 5] [--batch_size 8] [--threads N]

Speed-ups are medians over rounds of the per-round ratio (each round times every variant back to back).
"""

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_gca_resnet import official_execution  # noqa: E402
from official_ial_code import OfficialNetwork  # noqa: E402

from dfer.modeling import (  # noqa: E402
    GcaResNetConfig,
    GcaResNetForVideoClassification,
    LogoFormerConfig,
    LogoFormerForVideoClassification,
)
from dfer.training.objectives import build_objective  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant per round")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--official_repo", help="a clone of the official IAL code: also time the official network's own step"
    )
    return parser.parse_args()


class Setup:
    """One model + objective + SGD optimiser, and how its step is run."""

    def __init__(self, model, objective, learning_rate, weight_decay, context):
        self.model = model.train()
        self.objective = objective
        parameters = list(model.parameters()) + list(objective.parameters())
        self.optimizer = torch.optim.SGD(
            parameters, lr=learning_rate, momentum=0.9, weight_decay=weight_decay
        )
        self.context = context

    def step(self, pixel_values, labels) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self.context():
            loss = self.objective(self.model(pixel_values), labels).loss
        loss.backward()
        self.optimizer.step()


def bfloat16_autocast(device_type: str = "cpu"):
    return lambda: torch.autocast(device_type, dtype=torch.bfloat16)


class OfficialOutputs(torch.nn.Module):
    """The official network's outputs as the IAL objective reads them: final logits, then the layer2 and layer3
    auxiliary logits (what the official main.py feeds its CE + IAL + auxiliary loss)."""

    def __init__(self, repo):
        super().__init__()
        self.network = OfficialNetwork(repo)

    def forward(self, pixel_values):
        logits, _, _, auxiliary_layer2, auxiliary_layer3 = self.network(pixel_values)
        return SimpleNamespace(logits=logits, auxiliary_logits=(auxiliary_layer2, auxiliary_layer3))


def setups(
    name: str, device: torch.device | None = None, official_repo: str | None = None
) -> dict[str, Setup]:
    """variant -> Setup of model `name` on `device` (default CPU), all variants from the same initial weights."""
    device = device or torch.device("cpu")
    torch.manual_seed(0)
    if name == "GCA-ResNet":
        config = GcaResNetConfig()
        build = lambda: GcaResNetForVideoClassification(config)  # noqa: E731
        objective = lambda: build_objective("ial", config.num_labels)  # noqa: E731
        optimiser = {"learning_rate": 1e-3, "weight_decay": 0.1}
        variants = {
            "official float32": official_execution,
            "float32": contextlib.nullcontext,
            "bfloat16 autocast": bfloat16_autocast(device.type),
        }
    else:
        config = LogoFormerConfig()
        build = lambda: LogoFormerForVideoClassification(config)  # noqa: E731
        objective = lambda: build_objective("compact", config.num_labels, feature_dim=config.hidden_size)  # noqa: E731
        optimiser = {"learning_rate": 1e-2, "weight_decay": 1e-4}
        variants = {"float32": contextlib.nullcontext, "bfloat16 autocast": bfloat16_autocast(device.type)}
    state = build().state_dict()
    found = {}
    for variant, context in variants.items():
        model = build()
        model.load_state_dict(state)  # the same weights for every variant
        found[variant] = Setup(model.to(device), objective().to(device), context=context, **optimiser)
    if official_repo and name == "GCA-ResNet":
        official = OfficialOutputs(official_repo).to(device)
        found = {
            "official code float32": Setup(
                official, objective().to(device), context=contextlib.nullcontext, **optimiser
            ),
            **found,
        }
    return found


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    for name in ("GCA-ResNet", "LOGO-Former"):
        found = setups(name, official_repo=args.official_repo)
        config = found["float32"].model.config
        generator = torch.Generator().manual_seed(0)
        shape = (args.batch_size, config.num_frames, 3, config.image_size, config.image_size)
        pixel_values = torch.rand(shape, generator=generator)
        labels = torch.randint(config.num_labels, (args.batch_size,), generator=generator)
        for setup in found.values():  # warm-up: oneDNN primitives, optimiser state
            setup.step(pixel_values, labels)
        speeds = {variant: [] for variant in found}
        for _ in range(args.rounds):
            for variant, setup in found.items():
                start = time.perf_counter()
                for _ in range(args.steps):
                    setup.step(pixel_values, labels)
                speeds[variant].append(args.steps * args.batch_size / (time.perf_counter() - start))
        references = [v for v in ("official code float32", "official float32", "float32") if v in found]
        print(f"\n{name} training step: clips/s (best round), speed-up = median of per-round ratios")
        for variant, measured in speeds.items():
            ratios = "  ".join(
                f"{statistics.median(a / b for a, b in zip(measured, speeds[r])):.2f}x vs {r}"
                for r in references
            )
            print(f"  {variant:<22} {max(measured):6.2f} clips/s  {ratios}")


if __name__ == "__main__":
    main()
