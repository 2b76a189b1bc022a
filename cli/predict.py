"""`dfer predict`: expression timelines of your own videos, over `dfer.inference.predict_videos`.

Writes, for every video, `<output>/<name>.csv`, `<name>.json` (the timeline: start, end, top label, all class
probabilities, whether a face was found) and `<name>.png` (probabilities over time), and prints a short
summary with the face status (face found in N of M windows). Windows without a face get no expression. A video
that cannot be read or has no video stream is reported and skipped; the others are still processed. The exit
status is 1 when any video failed or when no video showed a face (2 for a usage or model error).
"""

import argparse
import sys

from dfer.inference import (
    DEFAULT_OUTPUT_DIR,
    CheckpointLoadError,
    VideoPrediction,
    predict_videos,
    summarize,
)
from dfer.inference.timeline import FACE_MODES
from dfer.modeling import INFERENCE_DTYPES

from .errors import PARTIAL_FAILURE, report_error
from .face_options import add_face_options

EXAMPLE = "example:\n  dfer predict interview.mp4 talk.mkv --model outputs/sample --window 2 --stride 1 --output predictions/"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfer predict",
        description="Slide a window over each video, crop the face, classify each window and write a "
        "timeline (CSV + JSON) and a plot (PNG) per video.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of frame images")
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub repo id (model + processor)")
    parser.add_argument("--window", type=float, default=2.0, help="window length in seconds (default 2)")
    parser.add_argument("--stride", type=float, default=1.0, help="seconds between window starts (default 1)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT_DIR, help=f"output folder (default {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per model call (default 8)")
    parser.add_argument("--device", default="auto", help="auto (GPU when available), cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--dtype",
        choices=INFERENCE_DTYPES,
        default="float32",
        help="float32 (default) or bfloat16: about 2x faster on CPUs with AVX-512 BF16 or AMX (the full-size "
        "models' probabilities moved by under 0.01 on real clips; check yours with "
        "scripts/benchmark_inference_dtypes.py --checkpoint); float32 where the device has no native bfloat16",
    )
    parser.add_argument("--fps", type=float, help="frame rate to assume (frame folders default to 30)")
    parser.add_argument(
        "--no-face-crop", action="store_true", help="the videos are already face crops: skip face detection"
    )
    add_face_options(parser, detect_interval=0.1)
    parser.add_argument(
        "--faces",
        choices=FACE_MODES,
        default="main",
        help="main: the timeline of the main face (default); all: one timeline per tracked person (track_id column)",
    )
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--revision", help="Hub revision of --model")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow a Hub checkpoint's own model code to run"
    )
    return parser


def print_result(result: VideoPrediction) -> None:
    if result.error is not None:
        print(f"dfer predict: error: {result.video}: {result.error}", file=sys.stderr)
        return
    print(summarize(result.timeline))
    print("  wrote " + ", ".join(str(path) for path in result.written))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.window <= 0 or args.stride <= 0 or args.batch_size < 1 or args.detect_interval <= 0:
        parser.error("--window, --stride, --detect-interval and --batch-size must be positive.")
    if args.margin < 0:
        parser.error("--margin must be 0 or more (a fraction of the face box's side).")
    try:
        results = predict_videos(
            args.videos,
            args.model,
            output_dir=args.output,
            window_seconds=args.window,
            stride_seconds=args.stride,
            batch_size=args.batch_size,
            device=args.device,
            fps=args.fps,
            face_crop=not args.no_face_crop,
            detect_interval=args.detect_interval,
            margin=args.margin,
            faces=args.faces,
            face_detector=args.face_detector,
            align_faces=not args.no_align_faces,
            plot=not args.no_plot,
            progress=not args.no_progress,
            revision=args.revision,
            trust_remote_code=args.trust_remote_code,
            dtype=args.dtype,
            on_result=print_result,
        )
    except (ValueError, ImportError, CheckpointLoadError) as error:
        # settings, --output, --device and the face detector are checked before the model loads
        return report_error("predict", error)
    failures = [result.video for result in results if result.error is not None]
    if failures:
        print(
            f"dfer predict: {len(failures)} of {len(results)} videos failed: {', '.join(failures)}",
            file=sys.stderr,
        )
        return PARTIAL_FAILURE
    if not any(result.face_seen for result in results):
        print(
            "dfer predict: error: no face found in any window of any video; the models need a visible face "
            "(use --no-face-crop if the videos are already face crops).",
            file=sys.stderr,
        )
        return PARTIAL_FAILURE
    return 0
