"""`dfer prepare`: your own videos as face-cropped clips for `dfer train`, over `dfer.data.clip_preparation.prepare_clips`.

SOURCE is a video folder (SOURCE/<label>/<clip>, optionally under train/, validation/ and test/) or a manifest
(.csv with the header path,label[,split], or .jsonl with those keys; paths relative to the manifest). A clip is
a video file or a folder of frame images. Each becomes OUTPUT_DIR[/<split>]/<label>/<clip>/00001.jpg, ...: the
main face found and tracked as `dfer predict` does, cropped square with the same margin, resized to --size
(--no-face-crop: whole frames resized, for footage that is already cropped). OUTPUT_DIR/manifest.csv lists the
clips and OUTPUT_DIR/prepare_report.json says what happened to every video.

Rerun the same command to resume: finished clips are kept, the rest are done, and the videos that failed before
(no face, unreadable) are tried again; the report gives every video's latest outcome. A video that cannot be
read, shows no face or fails otherwise is reported and the others are still prepared; the exit status is then 1,
as when a worker process dies (killed, or out of memory), which stops the run with the clips finished so far
kept (2 for a usage error or bad input, before any video is read).
"""

import argparse
import shlex
import sys

from dfer.data.annotation_files import DatasetCheckError
from dfer.data.clip_preparation import (
    DEFAULT_DETECT_INTERVAL,
    DEFAULT_FOLDER_FPS,
    DEFAULT_FULL_FRAME_SECONDS,
    DEFAULT_IMAGE_QUALITY,
    DEFAULT_SIZE,
    PrepareReport,
    prepare_clips,
)

from .errors import PARTIAL_FAILURE, report_error
from .face_options import add_face_options

EXAMPLE = """example:
  dfer prepare my_videos --output_dir prepared --num_proc 4
  dfer train --dataset manifest --data_dir prepared/manifest.csv --output_dir outputs/mine"""
# Failures listed on the terminal; the report has them all.
LISTED_FAILURES = 10
KEPT_HINT = "Clips finished so far are kept; rerun to go on."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfer prepare",
        description=__doc__,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source", metavar="SOURCE", help="video folder (<label>/<clip>) or manifest (.csv, .jsonl)"
    )
    parser.add_argument(
        "--output_dir", required=True, help="folder for the clips, manifest.csv and the report"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"side of the square frames in pixels (default {DEFAULT_SIZE})",
    )
    parser.add_argument("--fps", type=float, help="keep at most this many frames per second (default: all)")
    parser.add_argument("--max_seconds", type=float, help="prepare only the first seconds of each video")
    parser.add_argument(
        "--num_proc", type=int, default=1, help="videos prepared side by side, one process each"
    )
    parser.add_argument(
        "--no-face-crop", action="store_true", help="the videos are already face crops: resize whole frames"
    )
    add_face_options(parser, DEFAULT_DETECT_INTERVAL, "; dfer predict uses 0.1")
    parser.add_argument(
        "--full-frame-seconds",
        type=float,
        default=DEFAULT_FULL_FRAME_SECONDS,
        help="seconds between searches of whole frames; in between only around the tracked face (default "
        f"{DEFAULT_FULL_FRAME_SECONDS:g}; dfer predict uses 0.5)",
    )
    parser.add_argument(
        "--folder_fps",
        type=float,
        default=DEFAULT_FOLDER_FPS,
        help=f"frame rate of the clips that are frame folders (default {DEFAULT_FOLDER_FPS:g}, as dfer predict assumes)",
    )
    parser.add_argument(
        "--image_quality",
        type=int,
        default=DEFAULT_IMAGE_QUALITY,
        help=f"JPEG quality, 1-100 (default {DEFAULT_IMAGE_QUALITY})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _counted(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def print_summary(report: PrepareReport) -> None:
    counts = report.counts
    failed = f", {counts['failed']} failed otherwise" if counts["failed"] else ""
    print(
        f"dfer prepare: {_counted(counts['prepared'], 'clip')} prepared, {counts['already_done']} already done, "
        f"{_counted(counts['no_face'], 'video')} without a face, {counts['unreadable']} unreadable{failed} "
        f"({report.seconds:.1f} s)"
    )
    left_out = sum(clip.frames_without_face for clip in report.finished_clips)
    if left_out:
        print(f"  {_counted(left_out, 'frame')} far from any detection of the face left out")
    stopped = [clip for clip in report.clips if clip.note]
    if stopped:
        print(
            f"  {_counted(len(stopped), 'video')} ended early (damaged): the frames before the damage are kept"
        )
    finished = report.finished_clips
    labels = {clip.label for clip in finished}
    print(
        f"  manifest: {report.manifest} ({_counted(len(finished), 'clip')}, {_counted(len(labels), 'label')})"
    )
    print(f"  report:   {report.report_file}")
    if finished:
        data_dir = shlex.quote(str(report.manifest))
        print(f"next: dfer train --dataset manifest --data_dir {data_dir} --output_dir outputs/own_data")


def print_failures(report: PrepareReport) -> None:
    failures = report.failures
    lines = [
        f"dfer prepare: {len(failures)} of {len(report.clips)} videos failed (see {report.report_file}):"
    ]
    lines += [f"  {clip.video}: {clip.reason}" for clip in failures[:LISTED_FAILURES]]
    if len(failures) > LISTED_FAILURES:
        lines.append(f"  ... and {len(failures) - LISTED_FAILURES} more")
    sys.stderr.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = prepare_clips(
            args.source,
            args.output_dir,
            size=args.size,
            face_crop=not args.no_face_crop,
            fps=args.fps,
            max_seconds=args.max_seconds,
            num_proc=args.num_proc,
            image_quality=args.image_quality,
            margin=args.margin,
            face_detector=args.face_detector,
            align_faces=not args.no_align_faces,
            detect_interval=args.detect_interval,
            full_frame_seconds=args.full_frame_seconds,
            folder_fps=args.folder_fps,
            progress=not args.no_progress,
        )
    except (DatasetCheckError, ValueError, ImportError) as error:
        return report_error("prepare", error)
    except OSError as error:  # writing the clips failed part way (a full disk): finished clips are kept
        return report_error("prepare", f"{error}. {KEPT_HINT}")
    print_summary(report)
    if report.failures:
        print_failures(report)
    if report.stopped:
        sys.stderr.write(f"dfer prepare: {report.stopped}. {KEPT_HINT}\n")
    return PARTIAL_FAILURE if report.failures or report.stopped else 0
