"""Training clips/s of both models on a GPU at their recipes' batch sizes (GCA-ResNet + IAL: 40, LOGO-Former +
compact loss: 32): float32, bfloat16 autocast + channels-last, and the same under `torch.compile`; for
GCA-ResNet also the official network's float32 figure (`official_execution` of `benchmark_gca_resnet.py`).
Target: >= 3x the official float32 training throughput. Prepared for a GPU machine; one run takes a few minutes:

    pip install -e . && PYTHONUNBUFFERED=1 python scripts/benchmark_gpu_training.py --json $OUT/gpu_training.json

What `dfer train` flags give each variant: float32 is the default; `--bf16` is bfloat16 autocast (accelerate's
bf16 mixed precision), GCA-ResNet's spatial encoder runs channels-last in every variant, LOGO-Former's stem is
made channels-last here (its 4-D weights); `--torch_compile` is `torch.compile`. Data loading must keep up: divide the clips/s printed here by the loader's clips/s per core
(`scripts/benchmark_data_loading.py`) for the DataLoader workers a GPU needs.

`--device cpu --batch_sizes 2 2 --steps 1 --no-compile` runs the same code on a CPU in a minute (a smoke test).
"""

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_training_step import Setup, setups  # noqa: E402

MODELS = ("GCA-ResNet", "LOGO-Former")
RECIPE_BATCH_SIZES = (40, 32)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--batch_sizes", type=int, nargs=2, default=list(RECIPE_BATCH_SIZES), metavar=("GCA", "LOGO")
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-compile", dest="compile", action="store_false", help="skip the torch.compile variant"
    )
    parser.add_argument("--json", help="also write the figures here")
    return parser.parse_args()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def channels_last(model):
    """Every 4-D weight (the 2-D convolutions) channels-last; `Module.to(memory_format=...)` refuses models that
    also hold 5-D tensors."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 4:
                parameter.data = parameter.data.contiguous(memory_format=torch.channels_last)
    return model


def gpu_variants(name: str, device: torch.device, compile_model: bool) -> dict[str, Setup]:
    found = setups(name, device)
    fast = found["bfloat16 autocast"]
    channels_last(fast.model)
    found["bfloat16 autocast + channels-last"] = found.pop("bfloat16 autocast")
    if compile_model:  # a copy of the fast variant (model and optimiser together) before any step, then compiled
        compiled = copy.deepcopy(fast)
        compiled.model = torch.compile(compiled.model)
        found["bfloat16 autocast + channels-last + compile"] = compiled
    return found


def main():
    args = parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = (
            False  # float32 means float32 here: the official code's setting
        )
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}")
    figures = {}
    for name, batch_size in zip(MODELS, args.batch_sizes):
        found = gpu_variants(name, device, args.compile)
        config = next(iter(found.values())).model.config
        generator = torch.Generator().manual_seed(0)
        shape = (batch_size, config.num_frames, 3, config.image_size, config.image_size)
        pixel_values = torch.rand(shape, generator=generator).to(device)
        labels = torch.randint(config.num_labels, (batch_size,), generator=generator).to(device)
        for variant, setup in found.items():  # warm-up: cuDNN autotuning, compilation
            start = time.perf_counter()
            for _ in range(3):
                setup.step(pixel_values, labels)
            synchronize(device)
            print(f"{name} {variant}: warm-up {time.perf_counter() - start:.1f} s", flush=True)
        speeds = {variant: [] for variant in found}
        for _ in range(args.rounds):
            for variant, setup in found.items():
                synchronize(device)
                start = time.perf_counter()
                for _ in range(args.steps):
                    setup.step(pixel_values, labels)
                synchronize(device)
                speeds[variant].append(args.steps * batch_size / (time.perf_counter() - start))
        reference = "official float32" if "official float32" in speeds else "float32"
        print(
            f"\n{name}, batch {batch_size}: training clips/s (best round), speed-up (median per-round ratio)"
        )
        figures[name] = {"batch_size": batch_size}
        for variant, measured in speeds.items():
            ratio = statistics.median(a / b for a, b in zip(measured, speeds[reference]))
            figures[name][variant] = {"clips_per_second": max(measured), f"speedup_vs_{reference}": ratio}
            print(f"  {variant:<44} {max(measured):8.1f} clips/s  {ratio:5.2f}x vs {reference}")
        if device.type == "cuda":
            print(f"  peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
