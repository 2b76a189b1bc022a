"""Speed of `dfer predict` on a 720p 30 fps talking-head video: face detection + cropping + GCA-ResNet.

    python scripts/benchmark_predict.py [--seconds 60] [--window 2] [--stride 1] [--threads N] [--end-to-end]

Generates (once, cached under outputs/benchmark/) an H.264 720p 30 fps video of a real face photograph (the
astronaut portrait of scikit-image, `tests/fixtures/faces/`) tilted by 20 degrees and swaying over a textured
background (`dfer.data.face_samples.write_photo_video`), then runs the same streaming pass as `dfer predict`
with the full-size GCA-ResNet (`GcaResNetConfig()` defaults: 16 frames at 112x112, randomly initialised: speed
only) and prints the real-time factor = video duration / processing time (above 1 = faster than real time),
the work done (frames decoded, face detections) and the load average, since the machine may be shared.

`--end-to-end` instead saves that model as a checkpoint and times the `dfer predict` command itself in a fresh
process: wall time including Python start-up, imports, model loading and writing the files.
"""

import argparse
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

from dfer.data.face_samples import write_photo_video
from dfer.inference import predict_timeline, resolve_device, summarize
from dfer.inference.timeline import StreamStats
from dfer.modeling import GcaResNetConfig, GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor
from dfer.processing.face_crop import FaceCropOptions


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated video")
    parser.add_argument("--video", type=Path, help="use this video instead of the generated one")
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--stride", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the pass; the best round is reported")
    parser.add_argument("--face-detector", default="auto", help="auto, yunet or haar")
    parser.add_argument(
        "--end-to-end", action="store_true", help="time the dfer predict command in a new process instead"
    )
    return parser.parse_args()


PHOTO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faces" / "astronaut.jpg"


def benchmark_video(seconds: float) -> Path:
    path = Path("outputs") / "benchmark" / f"photo_head_720p30_{seconds:g}s.mp4"
    if not path.is_file():
        started = time.perf_counter()
        partial = path.with_name(f".{path.name}.partial.mp4")
        photo = np.asarray(Image.open(PHOTO).convert("RGB"))
        # A 300 px square: the face in it is about 110 px wide, as in a 720p webcam or interview shot.
        write_photo_video(partial, seconds, [photo], (720, 1280), 30, face_size=300, tilt=20.0)
        os.replace(partial, path)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    return path


def end_to_end(video: Path, args) -> None:
    """Save the full-size model once, then time `dfer predict` as a user runs it."""
    checkpoint = Path("outputs") / "benchmark" / "gca_resnet_full_size"
    if not (checkpoint / "model.safetensors").is_file():
        torch.manual_seed(0)
        model = GcaResNetForVideoClassification(GcaResNetConfig())
        model.save_pretrained(checkpoint)
        DferVideoProcessor(num_frames=model.config.num_frames, size=model.config.image_size).save_pretrained(checkpoint)
    command = [sys.executable, "-m", "dfer.cli", "predict", str(video), "--model", str(checkpoint), "--window"]
    command += [str(args.window), "--stride", str(args.stride), "--no-progress", "--face-detector", args.face_detector]
    with tempfile.TemporaryDirectory() as output:
        for round_number in range(args.rounds):
            load_before = os.getloadavg()
            started = time.perf_counter()
            finished = subprocess.run(command + ["--output", output], capture_output=True, text=True)
            wall = time.perf_counter() - started
            if finished.returncode != 0:
                raise SystemExit(f"dfer predict failed ({finished.returncode}):\n{finished.stderr}")
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                duration = stream.frames / float(stream.average_rate)
            print(finished.stdout.strip())
            print(
                f"round {round_number + 1}: dfer predict took {wall:.1f} s wall (start-up included) for "
                f"{duration:.1f} s of video = {duration / wall:.2f}x real time; load average "
                f"{load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}"
            )


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    video = args.video or benchmark_video(args.seconds)
    if args.end_to_end:
        return end_to_end(video, args)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = GcaResNetForVideoClassification(GcaResNetConfig()).to(device).eval()
    processor = DferVideoProcessor(num_frames=model.config.num_frames, size=model.config.image_size)
    print(f"video {video}; device {device}; torch threads {torch.get_num_threads()}; cpus {os.cpu_count()}")
    best = None
    for round_number in range(args.rounds):
        load_before = os.getloadavg()
        stats = StreamStats()
        timeline = predict_timeline(
            video,
            model,
            processor,
            window_seconds=args.window,
            stride_seconds=args.stride,
            batch_size=args.batch_size,
            device=device,
            stats=stats,
            face_options=FaceCropOptions(face_detector=args.face_detector),
        )
        load_after = os.getloadavg()
        print(
            f"round {round_number + 1}: {timeline.processing_seconds:.1f} s for {timeline.duration:.1f} s of video "
            f"= {timeline.realtime_factor:.2f}x real time; {len(timeline.windows)} windows, "
            f"{stats.frames_decoded} frames used (all decoded), {stats.detections_run} face detections "
            f"({stats.frames_with_face} found a face), peak {stats.max_pending_frames} frames buffered; "
            f"load average {load_before[0]:.2f} -> {load_after[0]:.2f}"
        )
        if best is None or timeline.processing_seconds < best.processing_seconds:
            best = timeline
    print(summarize(best))
    print(f"REALTIME FACTOR {best.realtime_factor:.2f}")


if __name__ == "__main__":
    main()
