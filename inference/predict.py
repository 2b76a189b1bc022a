"""`predict_videos`: expression timelines of a list of videos with one checkpoint, written as files.

The library function behind `dfer predict`. Each video is processed on its own: one that cannot be read, has no
video stream or shows no face is reported and skipped, and the others are still processed.
"""

import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForVideoClassification
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

import dfer.modeling  # noqa: F401  (registers the models and the video processor with the Auto classes)
from dfer.processing.face_crop import FaceCropOptions
from dfer.processing.face_detection import import_cv2

from .timeline import FACE_MODES, Timeline, predict_timeline, resolve_device
from .writers import write_csv, write_json, write_plot

DEFAULT_OUTPUT_DIR = "dfer_predictions"


class CheckpointLoadError(OSError):
    """The model or its video processor could not be loaded from the given folder or repo id."""


class OutputFolderError(ValueError):
    """The output folder is not a folder, or cannot be written."""


def _reason(error: OSError) -> str:
    return "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))


def check_output_folder(output_dir: str | os.PathLike) -> Path:
    """Raise `OutputFolderError` unless `output_dir` is (or can be created as) a folder this process can write
    in; nothing is created. Run before the model is loaded, so that a wrong `--output` costs nothing."""
    output = Path(output_dir)
    existing = output
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    try:
        is_folder = stat.S_ISDIR(os.stat(existing).st_mode)
    except OSError as error:  # a dangling symlink, a folder above that cannot be entered
        raise OutputFolderError(f"cannot use the output folder {output}: {_reason(error)} ({existing}).") from error
    if not is_folder:
        where = "is a file" if existing == output else f"is inside {existing}, which is a file"
        raise OutputFolderError(f"the output folder {output} {where}; pass a folder with --output.")
    try:
        # An unnamed temporary file (O_TMPFILE where the OS has it): proves that files can be created here, and
        # leaves nothing behind.
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        where = f"the output folder {output}"
        if existing != output:
            where = f"{existing}, where the output folder {output} would be created"
        raise OutputFolderError(f"cannot write in {where}: {_reason(error)}.") from error
    return output


@dataclass
class VideoPrediction:
    """What happened to one video: its timeline and the files written, or the reason it failed."""

    video: str
    timeline: Timeline | None = None
    written: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def face_seen(self) -> bool:
        """Whether any window of the video showed a face (always, with face cropping off)."""
        return self.timeline is not None and (not self.timeline.face_crop or self.timeline.face_windows()[0] > 0)


def _names_a_local_folder(name: str) -> bool:
    """Whether `name` can only mean a folder of this machine: a Hub repo id is `name` or `namespace/name`, never
    absolute, never starting with `.` or `~`, with at most one `/`; and a path whose first part exists here is
    taken as a path too."""
    path = Path(name).expanduser()
    return (
        path.is_absolute()
        or name.startswith((".", "~"))
        or name.count("/") > 1
        or "\\" in name
        or (len(path.parts) > 1 and Path(path.parts[0]).is_dir())
    )


def load_checkpoint(
    name: str,
    device,
    revision: str | None = None,
    trust_remote_code: bool = False,
    dtype: torch.dtype = torch.float32,
):
    """(model in eval mode on `device`, in `dtype`, video processor) from a checkpoint folder or Hub repo. A name
    that can only be a local folder and does not exist is reported as such, without asking the Hub."""
    folder = Path(name).expanduser()
    if not folder.is_dir() and _names_a_local_folder(name):
        what = "it is a file, not a folder" if folder.exists() else "there is no such folder"
        raise CheckpointLoadError(
            f"cannot load the model {name!r}: {what}. Pass a folder written by save_pretrained (the quick start "
            "writes outputs/sample) or a Hub repo id."
        )
    options = {"revision": revision, "trust_remote_code": trust_remote_code}
    try:
        model = AutoModelForVideoClassification.from_pretrained(name, **options)
        processor = AutoVideoProcessor.from_pretrained(name, **options)
    except (OSError, ValueError) as error:
        raise CheckpointLoadError(
            f"cannot load the model {name!r}: {error}\n"
            "Pass a folder written by save_pretrained (model and video processor) or a Hub repo id."
        ) from error
    return dfer.modeling.prepare_for_inference(model.to(device), dtype), processor


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
    faces: str = "main",
    face_detector: str = "auto",
    align_faces: bool = True,
    plot: bool = True,
    progress: bool = True,
    revision: str | None = None,
    trust_remote_code: bool = False,
    dtype: str | torch.dtype = "float32",
    on_result: Callable[[VideoPrediction], None] | None = None,
) -> list[VideoPrediction]:
    """Write `<output_dir>/<name>.csv`, `.json` and (with `plot`) `.png` for every video; return what happened to
    each. `on_result` is called as each video finishes, so a caller can report progress as it goes. `dtype`
    "bfloat16" runs the model in bfloat16 where the device computes it natively (about 2x faster on a CPU with
    AVX-512 BF16), else in float32 with a warning.

    A video in which no window shows a face still gets its files (every row without an expression); its
    `face_seen` is False.

    Raises `ValueError` for settings out of range and `OutputFolderError` (a `ValueError`) for an output folder
    that is a file or cannot be written, both before the model is loaded; `CheckpointLoadError` when the model
    cannot be loaded; `ImportError` for a face detector that is not installed; all before any video is read. A video whose files cannot be written (disk full) is
    reported like one that cannot be read.
    """
    if window_seconds <= 0 or stride_seconds <= 0 or batch_size < 1 or detect_interval <= 0:
        raise ValueError("window, stride, detect interval and batch size must be positive.")
    if margin < 0:
        raise ValueError(f"the margin around the face must be 0 or more, got {margin}.")
    if faces not in FACE_MODES:
        raise ValueError(f"faces must be one of {', '.join(FACE_MODES)}, got {faces!r}.")
    face_options = FaceCropOptions(margin=margin, face_detector=face_detector, align=align_faces)
    if face_crop:  # an unknown or uninstalled detector or landmarker is reported before the model loads
        face_options.load_networks()
    check_output_folder(output_dir)
    videos = [str(video) for video in videos]
    device = resolve_device(device)
    dtype = dfer.modeling.resolve_inference_dtype(dtype, device)
    loaded_model, processor = load_checkpoint(model, device, revision, trust_remote_code, dtype)
    output = Path(output_dir)
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
                faces=faces,
            )
        except (FileNotFoundError, ValueError, ImportError, import_cv2().error) as error:
            result.error = str(error)
        if result.timeline is not None:
            writers = [(write_csv, ".csv"), (write_json, ".json")] + ([(write_plot, ".png")] if plot else [])
            for write, suffix in writers:
                target = output / f"{stem}{suffix}"
                try:
                    result.written.append(write(result.timeline, target))
                except OSError as error:
                    result.error = f"cannot write {target}: {_reason(error)}"
                    break
                except ValueError as error:  # e.g. a plot too large for matplotlib (hundreds of people)
                    result.error = f"cannot write {target}: {error}"
                    break
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "CheckpointLoadError",
    "OutputFolderError",
    "VideoPrediction",
    "check_output_folder",
    "load_checkpoint",
    "output_stems",
    "predict_videos",
]
