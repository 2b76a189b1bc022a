"""What the demo's streaming page costs, and how soon it shows something, on a long video.

    python scripts/benchmark_demo.py [--seconds 60] [--rounds 2] [--video PATH]

On the 720p 30 fps video of a real face of `scripts/benchmark_predict.py` (generated once under
outputs/benchmark/) and the full-size GCA-ResNet (randomly initialised: speed only), alternating rounds of
  - the pass alone: `predict_timeline`, what `dfer predict` runs (8 windows per model call);
  - the demo: `analyse_video` (the pass in a worker thread, `--batch-size` windows per model call) +
    `page_updates` (the plot, table, strip and summary drawn as the page would show them, about every second),
and prints, per round, the wall time of each, the demo's time to its first page with a window, the number of
page updates and the longest wait between two, and the median ratio demo / pass over the rounds.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_predict import benchmark_video  # noqa: E402  (the same cached video)

from dfer.demo import DemoOptions, analyse_video, page_updates  # noqa: E402
from dfer.demo.analysis import DEMO_BATCH_SIZE  # noqa: E402
from dfer.inference import predict_timeline  # noqa: E402
from dfer.modeling import GcaResNetConfig, GcaResNetForVideoClassification, fuse_batch_norm  # noqa: E402
from dfer.processing import DferVideoProcessor  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated video")
    parser.add_argument("--video", type=Path, help="use this video instead of the generated one")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--stride", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=DEMO_BATCH_SIZE, help="the demo's windows per model call")
    return parser.parse_args()


def time_pass(video, model, processor, options: DemoOptions) -> float:
    started = time.perf_counter()
    predict_timeline(
        video, model, processor, window_seconds=options.window_seconds, stride_seconds=options.stride_seconds
    )
    return time.perf_counter() - started


def time_demo(video, model, processor, options: DemoOptions, batch_size: int) -> dict:
    started = time.perf_counter()
    shown, first_window = [], None
    with tempfile.TemporaryDirectory() as folder:
        snapshots = analyse_video(
            video, model, processor, model_name="gca_resnet", options=options, batch_size=batch_size
        )
        for _, page in page_updates(snapshots, Path(folder)):
            now = time.perf_counter() - started
            shown.append(now)
            if first_window is None and page.table:
                first_window = now
    gaps = [later - earlier for earlier, later in zip(shown, shown[1:])]
    return {"wall": shown[-1], "first": first_window, "updates": len(shown), "longest_gap": max(gaps, default=0.0)}


def main():
    args = parse_args()
    video = args.video or benchmark_video(args.seconds)
    torch.manual_seed(0)
    model = fuse_batch_norm(GcaResNetForVideoClassification(GcaResNetConfig()).eval())
    processor = DferVideoProcessor(num_frames=model.config.num_frames, size=model.config.image_size)
    options = DemoOptions(args.window, args.stride)
    print(f"video {video}, windows of {args.window:g} s every {args.stride:g} s; torch threads "
          f"{torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    time_pass(video, model, processor, options)  # warm-up: detector and model loaded, first calls made
    ratios = []
    for round_number in range(1, args.rounds + 1):
        # Alternating order, so that a change in the machine's load does not favour one side.
        if round_number % 2:
            alone = time_pass(video, model, processor, options)
            demo = time_demo(video, model, processor, options, args.batch_size)
        else:
            demo = time_demo(video, model, processor, options, args.batch_size)
            alone = time_pass(video, model, processor, options)
        ratios.append(demo["wall"] / alone)
        print(
            f"round {round_number}: pass alone {alone:.1f} s; demo {demo['wall']:.1f} s "
            f"({ratios[-1]:.3f}x), first window shown after {demo['first']:.1f} s, {demo['updates']} page updates, "
            f"longest wait between two {demo['longest_gap']:.1f} s; load average {os.getloadavg()[0]:.1f}"
        )
    print(f"median demo / pass: {statistics.median(ratios):.3f}x over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
