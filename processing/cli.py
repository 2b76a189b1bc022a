"""The `dfer` command.

    dfer predict VIDEO [VIDEO ...] --model DIR_OR_REPO [--window 2] [--stride 1] [--output dfer_predictions]

`predict` writes, for every video, `<output>/<name>.csv`, `<name>.json` (the timeline: start, end, top label, all
class probabilities, whether a face was found) and `<name>.png` (probabilities over time), and prints a short
summary. A video that cannot be read, has no video stream or shows no face is reported and skipped; the others
are still processed, and the exit status is 1 when any video failed (2 for a usage or model error).
"""

import argparse
import sys
from pathlib import Path

DEFAULT_OUTPUT = "dfer_predictions"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfer", description="Dynamic facial expression recognition on your own videos."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    predict = commands.add_parser(
        "predict",
        help="expression timeline of videos (CSV, JSON, PNG)",
        description="Slide a window over each video, crop the face, classify each window and write a "
        "timeline (CSV + JSON) and a plot (PNG) per video.",
    )
    predict.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of frame images")
    predict.add_argument(
        "--model", required=True, help="checkpoint folder or Hub repo id (model + processor)"
    )
    predict.add_argument("--window", type=float, default=2.0, help="window length in seconds (default 2)")
    predict.add_argument(
        "--stride", type=float, default=1.0, help="seconds between window starts (default 1)"
    )
    predict.add_argument("--output", default=DEFAULT_OUTPUT, help=f"output folder (default {DEFAULT_OUTPUT})")
    predict.add_argument("--batch-size", type=int, default=8, help="windows per model call (default 8)")
    predict.add_argument("--device", default="auto", help="auto (GPU when available), cpu, cuda, cuda:1, ...")
    predict.add_argument("--fps", type=float, help="frame rate to assume (frame folders default to 30)")
    predict.add_argument(
        "--no-face-crop", action="store_true", help="the videos are already face crops: skip face detection"
    )
    predict.add_argument(
        "--detect-interval",
        type=float,
        default=0.1,
        help="seconds between face detections; boxes in between are interpolated (default 0.1)",
    )
    predict.add_argument(
        "--margin",
        type=float,
        default=0.2,
        help="margin around the face box, fraction of its side (default 0.2)",
    )
    predict.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
    predict.add_argument("--revision", help="Hub revision of --model")
    predict.add_argument(
        "--trust-remote-code", action="store_true", help="allow a Hub checkpoint's own model code to run"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "predict":
        parser.print_help()
        return 2
    if args.window <= 0 or args.stride <= 0 or args.batch_size < 1 or args.detect_interval <= 0:
        parser.error("--window, --stride, --detect-interval and --batch-size must be positive.")
    return predict(args)


def load_checkpoint(name: str, device, revision: str | None = None, trust_remote_code: bool = False):
    """(model in eval mode on `device`, video processor) from a checkpoint folder or Hub repo."""
    from transformers import AutoModelForVideoClassification
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    import dfer.modeling  # noqa: F401  (registers the models and the video processor with the Auto classes)

    options = {"revision": revision, "trust_remote_code": trust_remote_code}
    model = AutoModelForVideoClassification.from_pretrained(name, **options)
    processor = AutoVideoProcessor.from_pretrained(name, **options)
    return model.to(device).eval(), processor


def output_stems(videos: list[str]) -> list[str]:
    """A distinct output name per video: the file (or folder) name without suffix, numbered when repeated."""
    stems, seen = [], {}
    for video in videos:
        path = Path(video)
        stem = (path.stem if path.suffix else path.name) or "video"
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        stems.append(stem if count == 0 else f"{stem}-{count + 1}")
    return stems


def predict(args) -> int:
    from .face_crop import FaceCropOptions, NoFaceFoundError
    from .timeline import predict_timeline, resolve_device, summarize, write_csv, write_json, write_plot

    device = resolve_device(args.device)
    try:
        model, processor = load_checkpoint(args.model, device, args.revision, args.trust_remote_code)
    except (OSError, ValueError) as error:
        print(
            f"dfer predict: error: cannot load the model {args.model!r}: {error}\n"
            "Pass a folder written by save_pretrained (model and video processor) or a Hub repo id.",
            file=sys.stderr,
        )
        return 2
    output = Path(args.output)
    face_options = FaceCropOptions(margin=args.margin)
    failures = []
    for video, stem in zip(args.videos, output_stems(args.videos)):
        try:
            timeline = predict_timeline(
                video,
                model,
                processor,
                window_seconds=args.window,
                stride_seconds=args.stride,
                face_crop=not args.no_face_crop,
                face_options=face_options,
                detect_interval=args.detect_interval,
                batch_size=args.batch_size,
                fps=args.fps,
                device=device,
                progress=not args.no_progress,
                model_name=args.model,
            )
        except (FileNotFoundError, NoFaceFoundError, ValueError, ImportError) as error:
            print(f"dfer predict: error: {video}: {error}", file=sys.stderr)
            failures.append(video)
            continue
        written = [write_csv(timeline, output / f"{stem}.csv"), write_json(timeline, output / f"{stem}.json")]
        if not args.no_plot:
            try:
                written.append(write_plot(timeline, output / f"{stem}.png"))
            except ImportError:
                print(
                    "dfer predict: no PNG plot: matplotlib is not installed (pip install matplotlib)",
                    file=sys.stderr,
                )
        print(summarize(timeline))
        print("  wrote " + ", ".join(str(path) for path in written))
    if failures:
        print(
            f"dfer predict: {len(failures)} of {len(args.videos)} videos failed: {', '.join(failures)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
