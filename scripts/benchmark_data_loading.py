"""Benchmark: loading + preprocessing 16-frame clips, and peak memory while classifying a long video.

1. Throughput (clips/s) of `DferVideoProcessor` on JPEG frame folders and on mp4 files, next to the naive
   baseline measured in the same run: PIL open + convert + resize of each sampled frame, stacked (what the
   reference code does), and for mp4 decoding every frame before picking the sampled ones.
2. Peak resident memory above the model's own footprint while `pipeline("video-classification")` classifies a
   generated long video (default 10 minutes of 1920x1080 at 25 fps), in a fresh process.

    python scripts/benchmark_data_loading.py                      # full run
    python scripts/benchmark_data_loading.py --minutes 1 --clips 20  # quicker
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from dfer.processing import DferVideoProcessor, list_frame_files, sample_frame_indices


def make_frame_folders(root: Path, clips: int, frames: int, side: int) -> list[Path]:
    """Face-crop-like frames: smooth shapes plus mild sensor noise (pure noise would be an unrealistically costly
    JPEG for both loaders)."""
    rng = np.random.default_rng(0)
    coarse = Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).resize(
        (side, side), Image.BICUBIC
    )
    base = np.clip(np.asarray(coarse, np.int16) + rng.integers(-6, 7, (side, side, 3)), 0, 255).astype(
        np.uint8
    )
    folders = []
    for clip in range(clips):
        folder = root / f"{clip:05d}"
        folder.mkdir(parents=True)
        for index in range(frames):
            frame = np.roll(base, shift=(clip + index) % side, axis=1)
            Image.fromarray(frame).save(folder / f"{index + 1}.jpg", quality=90)
        folders.append(folder)
    return folders


def make_video(
    path: Path, frames: int, height: int, width: int, rate: int = 25, preset: str = "medium"
) -> Path:
    """H.264 video; a few distinct yuv420p frames are cycled so generation costs little beyond encoding."""
    rng = np.random.default_rng(1)
    luma = rng.integers(16, 235, (height, width), dtype=np.uint8)
    chroma = np.full((height // 2, width), 128, np.uint8)
    patterns = [np.concatenate([np.roll(luma, 8 * k, axis=1), chroma]) for k in range(8)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"preset": preset})
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(patterns[index % len(patterns)], format="yuv420p")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def naive_folder_clip(folder: Path, num_frames: int) -> torch.Tensor:
    files = list_frame_files(folder)
    indices = sample_frame_indices(len(files), num_frames, "segment")
    frames = [
        np.asarray(Image.open(files[i]).convert("RGB").resize((112, 112), Image.BILINEAR)) for i in indices
    ]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255


def naive_video_clip(path: Path, num_frames: int) -> torch.Tensor:
    with av.open(str(path)) as container:
        images = [
            frame.to_image() for frame in container.decode(video=0)
        ]  # every frame, as the reference does
    indices = sample_frame_indices(len(images), num_frames, "segment")
    frames = [np.asarray(images[i].convert("RGB").resize((112, 112), Image.BILINEAR)) for i in indices]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255


def clips_per_second(function, inputs, repeats: int) -> float:
    function(inputs[0])  # warm-up (imports, file cache)
    start = time.perf_counter()
    for _ in range(repeats):
        for item in inputs:
            function(item)
    return repeats * len(inputs) / (time.perf_counter() - start)


def benchmark_throughput(workdir: Path, clips: int, repeats: int) -> dict:
    folders = make_frame_folders(workdir / "frames", clips, frames=48, side=224)
    videos = [make_video(workdir / f"clip{i}.mp4", 48, 224, 224) for i in range(clips)]
    processor = DferVideoProcessor()
    ours = lambda item: processor.process_video(item)  # noqa: E731
    results = {}
    for name, inputs, naive in (
        ("jpeg_folders", folders, naive_folder_clip),
        ("mp4_files", videos, naive_video_clip),
    ):
        baseline = clips_per_second(lambda item, naive=naive: naive(item, 16), inputs, repeats)
        fast = clips_per_second(ours, inputs, repeats)
        results[name] = {
            "baseline_clips_per_s": baseline,
            "processor_clips_per_s": fast,
            "speedup": fast / baseline,
        }
    return results


_MEMORY_CHILD = """
import json, sys, torch
from transformers import pipeline
import dfer.modeling  # registers the models
from dfer.modeling import GcaResNetConfig, GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor, register_video_processor

def status_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024

register_video_processor(GcaResNetConfig)
torch.manual_seed(0)
model = GcaResNetForVideoClassification(GcaResNetConfig()).eval()
classifier = pipeline("video-classification", model=model, video_processor=DferVideoProcessor())
classifier(sys.argv[2])  # warm-up on a short clip: the model's own footprint includes its activations
footprint = status_mb("VmRSS")
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # resets the peak (VmHWM) to the current RSS, so the peak below is the long video's
result = classifier(sys.argv[1], top_k=1)
print(json.dumps({"footprint_mb": footprint, "peak_mb": status_mb("VmHWM"), "top": result}))
"""


def benchmark_long_video(workdir: Path, minutes: float, height: int, width: int) -> dict:
    frames = int(minutes * 60 * 25)
    start = time.perf_counter()
    long_video = make_video(workdir / "long.mp4", frames, height, width, preset="ultrafast")
    generated = time.perf_counter() - start
    short_video = make_video(workdir / "short.mp4", 32, height, width)
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(long_video), str(short_video)],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    report = json.loads(child.stdout.strip().splitlines()[-1])
    report.update(
        frames=frames,
        size=f"{width}x{height}",
        file_mb=long_video.stat().st_size / 2**20,
        generation_s=generated,
        classification_s=time.perf_counter() - start,
        above_footprint_mb=report["peak_mb"] - report["footprint_mb"],
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=40, help="clips per input kind for the throughput test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="length of the generated long video (0 skips)"
    )
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 = one core, like one DataLoader worker)"
    )
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    with tempfile.TemporaryDirectory(prefix="dfer_benchmark_") as directory:
        workdir = Path(directory)
        throughput = benchmark_throughput(workdir, arguments.clips, arguments.repeats)
        for name, numbers in throughput.items():
            print(
                f"{name:13s} baseline {numbers['baseline_clips_per_s']:7.1f} clips/s | DferVideoProcessor "
                f"{numbers['processor_clips_per_s']:7.1f} clips/s | {numbers['speedup']:.2f}x (target >= 2x)"
            )
        if arguments.minutes > 0:
            memory = benchmark_long_video(workdir, arguments.minutes, arguments.height, arguments.width)
            print(
                f"long video   {memory['frames']} frames {memory['size']} ({memory['file_mb']:.0f} MB, generated in "
                f"{memory['generation_s']:.0f} s): model footprint {memory['footprint_mb']:.0f} MB RSS, peak "
                f"{memory['peak_mb']:.0f} MB -> {memory['above_footprint_mb']:.0f} MB above (target < 500 MB); "
                f"classified in {memory['classification_s']:.0f} s -> {memory['top'][0]['label']}"
            )


if __name__ == "__main__":
    main()
