"""Cost of the LOGO-Former reconstruction on CPU: parameters, FLOPs per 16x112x112 clip, clips/s at batch 1 and 8,
and local + global attention against full spatio-temporal attention over all tokens at the same width and depth
(T = 16 and T = 32).

FLOPs come from `torch.utils.flop_counter.FlopCounterMode`, which counts a multiply-add as 2 FLOPs (GMACs =
GFLOPs / 2). They are counted with eager attention: on CPU the counter does not see the fused SDPA kernel, so an
SDPA count silently drops the attention matmuls. Timings: eval mode, no grad; the full model with its default (SDPA) attention, the attention comparison with both
SDPA and eager attention, the variants interleaved so that the load of a shared CPU hits them alike.

    .venv/bin/python scripts/benchmark_logo_former.py [--repeats 9] [--batch-repeats 3] [--threads N] [--json out.json]
"""

import argparse
import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from dfer.modeling.logo_former import LogoFormerConfig, LogoFormerForVideoClassification
from dfer.modeling.logo_former.modeling_logo_former import LogoFormerGlobalAttention, LogoFormerLocalAttention


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per attention measurement (median)"
    )
    parser.add_argument(
        "--batch-repeats", type=int, default=3, help="timed runs per full-model throughput figure"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return parser.parse_args()


def median_seconds(function, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_flops(function) -> FlopCounterMode:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        function()
    return counter


def model_figures(batch_repeats: int) -> dict:
    torch.manual_seed(0)
    config = LogoFormerConfig()
    model = LogoFormerForVideoClassification(config).eval()
    parameters = sum(p.numel() for p in model.parameters())
    stem_parameters = sum(p.numel() for p in model.logo_former.stem.parameters())
    clip = torch.rand(1, config.num_frames, 3, config.image_size, config.image_size)

    eager_config = LogoFormerConfig()
    eager_config._attn_implementation = "eager"
    eager_model = LogoFormerForVideoClassification(eager_config).eval()
    eager_model.load_state_dict(model.state_dict())
    counter = count_flops(lambda: eager_model(clip))
    by_module = counter.get_flop_counts()

    def module_flops(suffix: str, op: str | None = None) -> int:
        total = 0
        for name, ops in by_module.items():
            if name.endswith(suffix):
                total += sum(count for key, count in ops.items() if op is None or str(key) == op)
        return total

    layers = range(config.num_hidden_layers)
    attention_matmuls = sum(
        module_flops(f"layers.{i}.local_attention", "aten.bmm")
        + module_flops(f"layers.{i}.global_attention", "aten.bmm")
        for i in layers
    )
    flops = {
        "total": counter.get_total_flops(),
        "stem": module_flops("logo_former.stem"),
        "embeddings": module_flops("logo_former.embeddings"),
        "local_attention": sum(module_flops(f"layers.{i}.local_attention") for i in layers),
        "global_attention": sum(module_flops(f"layers.{i}.global_attention") for i in layers),
        "mlp": sum(module_flops(f"layers.{i}.mlp") for i in layers),
        "attention_matmuls": attention_matmuls,
    }
    flops["total_without_attention_matmuls"] = flops["total"] - attention_matmuls
    sdpa_counted = count_flops(lambda: model(clip)).get_total_flops()

    throughput = {}
    with torch.no_grad():
        for batch_size in (1, 8):
            batch = torch.rand(batch_size, config.num_frames, 3, config.image_size, config.image_size)
            seconds = median_seconds(lambda batch=batch: model(batch), batch_repeats)
            throughput[batch_size] = {"seconds_per_batch": seconds, "clips_per_second": batch_size / seconds}
    return {
        "parameters": parameters,
        "stem_parameters": stem_parameters,
        "flops": flops,
        "flops_counted_with_sdpa": sdpa_counted,
        "throughput": throughput,
    }


class LocalGlobalAttention(torch.nn.Module):
    """The attention part of L LOGO-Former blocks: x + Local(LN x), then x + Global(LN x)."""

    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        self.blocks = torch.nn.ModuleList(
            torch.nn.ModuleList(
                [
                    torch.nn.LayerNorm(config.hidden_size),
                    LogoFormerLocalAttention(config),
                    torch.nn.LayerNorm(config.hidden_size),
                    LogoFormerGlobalAttention(config),
                ]
            )
            for _ in range(config.num_hidden_layers)
        )

    def forward(self, hidden_states: torch.Tensor, grid_size) -> torch.Tensor:
        for local_norm, local_attention, global_norm, global_attention in self.blocks:
            hidden_states = hidden_states + local_attention(local_norm(hidden_states), grid_size)[0]
            hidden_states = hidden_states + global_attention(global_norm(hidden_states), grid_size)[0]
        return hidden_states


class FullAttention(torch.nn.Module):
    """L blocks of x + Attn(LN x) over all T*h*w tokens: local attention whose window is the whole grid (the test
    suite checks this equals full self-attention), so both sides share the same code and width."""

    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        self.blocks = torch.nn.ModuleList(
            torch.nn.ModuleList([torch.nn.LayerNorm(config.hidden_size), LogoFormerLocalAttention(config)])
            for _ in range(config.num_hidden_layers)
        )

    def forward(self, hidden_states: torch.Tensor, grid_size) -> torch.Tensor:
        for norm, attention in self.blocks:
            hidden_states = hidden_states + attention(norm(hidden_states), grid_size)[0]
        return hidden_states


def attention_figures(num_frames: int, repeats: int) -> dict:
    torch.manual_seed(0)
    base = LogoFormerConfig(num_frames=num_frames)
    grid_size = base.token_grid_size
    full_config = LogoFormerConfig(num_frames=num_frames, window_size=list(grid_size))
    tokens = torch.randn(1, grid_size[0] * grid_size[1] * grid_size[2], base.hidden_size)
    variants = {"local_global": (LocalGlobalAttention, base), "full": (FullAttention, full_config)}
    modules = {name: module_class(config).eval() for name, (module_class, config) in variants.items()}
    figures = {"num_tokens": tokens.shape[1]}

    # Standalone modules read the attention implementation from their config: eager for the FLOP count (the
    # counter sees the attention matmuls only then), SDPA (the model's default) for the timing.
    for name, (_, config) in variants.items():
        config._attn_implementation = "eager"
        counter = count_flops(lambda name=name: modules[name](tokens, grid_size))
        matmul_flops = sum(
            count for op, count in counter.get_flop_counts()["Global"].items() if str(op) == "aten.bmm"
        )
        figures[name] = {"flops": counter.get_total_flops(), "matmul_flops": matmul_flops}
        config._attn_implementation = "sdpa"

    # The CPU is shared: alternate the variants so that load changes hit all of them alike, and take medians.
    # Timed with SDPA (the model's default) and with eager attention (which materialises every attention matrix).
    times = {(name, implementation): [] for name in variants for implementation in ("sdpa", "eager")}
    with torch.no_grad():
        for _ in range(repeats + 1):  # the first round warms up
            for name, implementation in times:
                variants[name][1]._attn_implementation = implementation
                start = time.perf_counter()
                modules[name](tokens, grid_size)
                times[name, implementation].append(time.perf_counter() - start)
    for (name, implementation), seconds in times.items():
        figures[name][f"seconds_{implementation}"] = statistics.median(seconds[1:])
    for implementation in ("sdpa", "eager"):
        figures[f"time_ratio_full_over_local_global_{implementation}"] = (
            figures["full"][f"seconds_{implementation}"]
            / figures["local_global"][f"seconds_{implementation}"]
        )
    figures["flop_ratio_full_over_local_global"] = figures["full"]["flops"] / figures["local_global"]["flops"]
    figures["matmul_flop_ratio_full_over_local_global"] = (
        figures["full"]["matmul_flops"] / figures["local_global"]["matmul_flops"]
    )
    return figures


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    results = {"threads": torch.get_num_threads(), "model": model_figures(args.batch_repeats)}
    model = results["model"]
    flops = model["flops"]
    print(f"parameters: {model['parameters']:,} (stem conv1..layer3: {model['stem_parameters']:,})")
    print(
        f"FLOPs per 16x112x112 clip (eager, FlopCounterMode, 2 FLOPs per MAC): {flops['total'] / 1e9:.2f} GFLOPs "
        f"= {flops['total'] / 2e9:.2f} GMACs"
    )
    for part in ("stem", "embeddings", "local_attention", "global_attention", "mlp"):
        print(f"  {part:<18}{flops[part] / 1e9:8.3f} GFLOPs")
    print(
        f"  attention matmuls {flops['attention_matmuls'] / 1e9:8.3f} GFLOPs; without them "
        f"{flops['total_without_attention_matmuls'] / 1e9:.2f} GFLOPs; counted under SDPA "
        f"{model['flops_counted_with_sdpa'] / 1e9:.2f} GFLOPs"
    )
    for batch_size, figures in model["throughput"].items():
        print(
            f"CPU batch {batch_size}: {figures['clips_per_second']:.2f} clips/s ({figures['seconds_per_batch']:.2f} s/batch)"
        )

    results["attention"] = {}
    for num_frames in (16, 32):
        figures = attention_figures(num_frames, args.repeats)
        results["attention"][num_frames] = figures
        print(
            f"T={num_frames} ({figures['num_tokens']} tokens), {LogoFormerConfig().num_hidden_layers} blocks, C=512:"
        )
        for name, label in (("local_global", "local+global"), ("full", "full")):
            part = figures[name]
            print(
                f"  {label:<13}{part['flops'] / 1e9:6.2f} GFLOPs (attention matmuls {part['matmul_flops'] / 1e9:6.3f}), "
                f"SDPA {part['seconds_sdpa'] * 1e3:7.1f} ms, eager {part['seconds_eager'] * 1e3:7.1f} ms"
            )
        print(
            f"  full / local+global: FLOPs x{figures['flop_ratio_full_over_local_global']:.2f}, "
            f"attention-matmul FLOPs x{figures['matmul_flop_ratio_full_over_local_global']:.2f}, "
            f"time SDPA x{figures['time_ratio_full_over_local_global_sdpa']:.2f}, "
            f"time eager x{figures['time_ratio_full_over_local_global_eager']:.2f}"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
