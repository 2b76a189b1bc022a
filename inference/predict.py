"""`predict_videos`: expression timelines of a list of videos with one checkpoint, written as files.

The library function behind `dfer predict`. Each video is processed on its own: one that cannot be read, has no
video stream or shows no face is reported and skipped, and the others are still processed.
"""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForVideoClassification
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

import dfer.modeling  # noqa: F401  (registers the models and the video processor with the Auto classes)
from dfer.processing.face_crop import FaceCropOptions, NoFaceFoundError

from .timeline import Timeline, predict_timeline, resolve_device
from .writers import write_csv, write_json, write_plot

DEFAULT_OUTPUT_DIR = "dfer_predictions"


class CheckpointLoadError(OSError):
    """The model or its video processor could not be loaded from the given folder or repo id."""


@dataclass
class VideoPrediction:
    """What happened to one video: its timeline and the files written, or the reason it failed."""

    video: str
    timeline: Timeline | None = None
    written: list[Path] = field(default_factory=list)
    error: str | None = None


def load_checkpoint(name: str, device, revision: str | None = None, trust_remote_code: bool = False):
    """(model in eval mode on `device`, video processor) from a checkpoint folder or Hub repo."""
    options = {"revision": revision, "trust_remote_code": trust_remote_code}
    try:
        model = AutoModelForVideoClassification.from_pretrained(name, **options)
        processor = AutoVideoProcessor.from_pretrained(name, **options)
    except (OSError, ValueError) as error:
        raise CheckpointLoadError(
            f"cannot load the model {name!r}: {error}\n"
            "Pass a folder written by save_pretrained (model and video processor) or a Hub repo id."
        ) from error
    return dfer.modeling.fuse_batch_norm(model.to(device).eval()), processor


def output_stems(videos: Sequence[str]) -> list[str]:
    """A distinct output name per video: the file (or folder) name without suffix, numbered when repeated."""
    stems, seen = [], {}
    for video in videos:
        path = Path(video)
        stem = (path.stem if path.suffix else path.name) or "video"
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        stems.append(stem if count == 0 else f"{stem}-{count + 1}")
    return stems


def predict_videos(
    videos: Sequence[str | os.PathLike],
    model: str,
    *,
    output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR,
    window_seconds: float = 2.0,
    stride_seconds: float = 1.0,
    batch_size: int = 8,
    device: str | torch.device | None = "auto",
    fps: float | None = None,
    face_crop: bool = True,
    detect_interval: float = 0.1,
    margin: float = 0.2,
    plot: bool = True,
    progress: bool = True,
    revision: str | None = None,
    trust_remote_code: bool = False,
    on_result: Callable[[VideoPrediction], None] | None = None,
) -> list[VideoPrediction]:
    """Write `<output_dir>/<name>.csv`, `.json` and (with `plot`) `.png` for every video; return what happened to
    each. `on_result` is called as each video finishes, so a caller can report progress as it goes.

    Raises `CheckpointLoadError` when the model cannot be loaded and `ValueError` for settings out of range,
    both before any video is read.
    """
    if window_seconds <= 0 or stride_seconds <= 0 or batch_size < 1 or detect_interval <= 0:
        raise ValueError("window, stride, detect interval and batch size must be positive.")
    videos = [str(video) for video in videos]
    device = resolve_device(device)
    loaded_model, processor = load_checkpoint(model, device, revision, trust_remote_code)
    output = Path(output_dir)
    face_options = FaceCropOptions(margin=margin)
    results = []
    for video, stem in zip(videos, output_stems(videos)):
        result = VideoPrediction(video)
        try:
            result.timeline = predict_timeline(
                video,
                loaded_model,
                processor,
                window_seconds=window_seconds,
                stride_seconds=stride_seconds,
                face_crop=face_crop,
                face_options=face_options,
                detect_interval=detect_interval,
                batch_size=batch_size,
                fps=fps,
                device=device,
                progress=progress,
                model_name=model,
            )
        except (FileNotFoundError, NoFaceFoundError, ValueError, ImportError) as error:
            result.error = str(error)
        if result.timeline is not None:
            result.written = [
                write_csv(result.timeline, output / f"{stem}.csv"),
                write_json(result.timeline, output / f"{stem}.json"),
            ]
            if plot:
                result.written.append(write_plot(result.timeline, output / f"{stem}.png"))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "CheckpointLoadError",
    "VideoPrediction",
    "load_checkpoint",
    "output_stems",
    "predict_videos",
]
