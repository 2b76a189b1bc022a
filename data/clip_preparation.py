"""`prepare_clips`: a user's raw videos turned into face-cropped JPEG clip folders plus a manifest, for training.

The models are trained on clips stored as folders of face crops (DFEW ships 224 x 224 JPEG frames), so a user's
own videos go through the face step of `dfer predict` first. The input is a video folder (`root/<label>/<clip>`,
optionally under split folders) or a manifest, as `dfer.data.own_videos` reads them; each clip (a video file or
a frame folder) becomes `<output_dir>[/<split>]/<label>/<name>/00001.jpg, 00002.jpg, ...`, so that the output
folder is itself a video folder, and `<output_dir>/manifest.csv` lists every finished clip.

How one clip is made (`prepare_clip`), in a single streaming pass that never holds the video:

- Frames are decoded in order on one thread. With face cropping, every `detect_interval` seconds a small copy
  made by the decoder's scaler is searched for faces, the whole frame every `full_frame_seconds` and only around
  the tracked faces in between, with the detector, options, tracking (the main face), box smoothing and crop
  geometry of `dfer predict` and of the video processor's face crop, so that a model trained on these crops sees
  what `predict` feeds it (only the searches come less often by default: `DEFAULT_DETECT_INTERVAL`). A frame's box is settled once every detection that can still move it is known, a
  bounded number of frames later (`MainFaceFollower.lookahead`); only those frames wait, at the processor's
  face-search size, so memory does not grow with the length of the video.
- A frame is written when a detection of the main face lies within the gap a track may bridge
  (`FaceCropOptions.max_gap_seconds`): inside such gaps its box is interpolated, before the first / after the last
  detection it is held, as in `predict`. Frames farther from any detection show no face and are left out
  (counted in the report); a video with no face at all is reported and not written.
- `face_crop=False` only resizes whole frames (footage that is already cropped); `fps` keeps at most that many
  frames per second, dropped evenly; `max_seconds` stops after that much of each video.

A clip's folder is named after its file: surrounding spaces and leading dots dropped, characters that cannot be
written in UTF-8 (an undecodable file name) or that would break a manifest row (control characters) replaced by
`_`, and a name too long for its partial folder (below) cut short and given a hash of the clip's path.

A run can be resumed and never leaves a half-made clip that counts as done: each clip is written into a hidden
sibling folder (`.<name>.partial-<pid>`, which the readers skip) and renamed into place when complete; a rerun
skips clips whose folder exists, removes the partial folders of processes that are gone and tries the videos
that failed before (no face, unreadable) again. The manifest and the report (`prepare_report.json`: settings with
the face detector "auto" stood for, counts, every video's latest outcome, failures with their reason) are
written atomically; the report also when a run starts, so that a rerun with other settings is refused instead of
mixing two kinds of crop in one folder. Whatever stops a run (Ctrl-C, a full disk, a worker process that dies)
still leaves the manifest and report of the clips finished so far. Frames are not fsynced one by one: a killed
process loses nothing it wrote, a power cut may.

Settings out of range, a missing or malformed source (a video listed twice among them) and an output folder that
cannot be written or lies inside the input raise `ValueError` (`DatasetCheckError` for the source) before any
video is read. A video that cannot be read, shows no face or fails in any other way (the error is its reason) is
reported and the run goes on; an error writing the output (`OutputWriteError`, an `OSError`) stops it. `num_proc`
> 1 prepares videos in up to that many spawned worker processes, each on one thread (decoder, OpenCV, torch and
the detector's OpenMP); when one dies (the out-of-memory killer), its clip is reported as failed and the run
stops.
"""

import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import unicodedata
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import av
import numpy as np
import simplejpeg
import torch
from av.video.reformatter import VideoReformatter
from tqdm.auto import tqdm

from dfer.processing.face_crop import FaceCropOptions, FaceTracker, crop_square, follow_main_face, move_boxes
from dfer.processing.face_detection import FaceDetector, import_cv2
from dfer.processing.video_decoding import (
    EncodedVideo,
    FrameFolderVideo,
    convert_upright,
    list_frame_files,
    open_video,
    read_image_file,
    shrunk_size,
    upright_size,
)
from dfer.processing.video_processing_dfer import FACE_SEARCH_MIN_SIDE
from dfer.utils import write_text_atomically

from .annotation_files import DatasetCheckError
from .own_videos import (
    MANIFEST_SUFFIXES,
    VIDEO_FILE_EXTENSIONS,
    LabelledClip,
    find_video_folder_clips,
    read_manifest,
)

MANIFEST_NAME = "manifest.csv"
REPORT_NAME = "prepare_report.json"
DEFAULT_SIZE = 224  # DFEW's crops; the models resize to their own input
SIZE_RANGE = (16, 1024)
# The widest margin around the face box, as a fraction of its side: at 2 the crop shows 5 face widths.
MAX_MARGIN = 2.0
# Bounds far beyond any real video that keep the frame arithmetic finite (frame counts, detection steps).
MAX_RATE = 1000.0  # frames per second
MAX_SECONDS = 1_000_000.0  # about 11.6 days
# Artefacts far below what training augmentation changes; chroma at 4:2:0, as in the source videos (yuv420p).
DEFAULT_IMAGE_QUALITY = 90
# As `dfer predict`: frame folders play at 30 fps, and the detections of the last 5 s decide the main face.
DEFAULT_FOLDER_FPS = 30.0
TRACK_HISTORY_SECONDS = 5.0
# Faces are searched half as often as `predict` does (every 0.2 s, not 0.1 s) and whole frames every 2 s instead
# of 0.5 s (around the tracked faces in between; at every search while none is tracked). Detection is most of
# the cost, and prepare crops every frame where predict crops 8 a second: a 720p 30 fps talking head is prepared
# at 3.2x real time on one core at predict's cadence, at 5.0-5.2x at this one (`scripts/benchmark_prepare.py`).
# Boxes are still smoothed over 0.2 s, so the crops move as smoothly; a second face that enters the picture is
# noticed up to 2 s later. `--detect-interval 0.1 --full-frame-seconds 0.5` gives predict's cadence.
DEFAULT_DETECT_INTERVAL = 0.2
DEFAULT_FULL_FRAME_SECONDS = 2.0
# Frames wait for their box at the video processor's face-search size (shorter side shrunk to this, never grown).
CROP_SOURCE = (FACE_SEARCH_MIN_SIDE, FACE_SEARCH_MIN_SIDE)
PARTIAL_MARK = ".partial-"
# A folder name may have 255 bytes. A clip's name leaves room for its partial folder's `.` + mark + process id
# (at most 10 digits: ids are 32-bit).
MAX_FOLDER_NAME_BYTES = 255
MAX_CLIP_NAME_BYTES = MAX_FOLDER_NAME_BYTES - len("." + PARTIAL_MARK) - 10
# "failed": anything else went wrong with that one clip (the reason says what), or its worker process died.
OUTCOMES = ("prepared", "already_done", "no_face", "unreadable", "failed")
FAILED = ("no_face", "unreadable", "failed")
WORKER_DIED = "the worker preparing it died (killed, or out of memory)"


class UnreadableClip(ValueError):
    """A clip that cannot be read: missing, empty, damaged, no video stream, no decodable frame."""


class OutputWriteError(OSError):
    """Writing a clip into the output folder failed (a full disk, no permission): the run stops, since the clips
    after it would fail the same way. Errors reading a clip are that clip's failure instead."""


@contextmanager
def _writing_output():
    """The block's `OSError`s as `OutputWriteError` (same errno, message and file name)."""
    try:
        yield
    except OutputWriteError:
        raise
    except OSError as error:
        details = (error.errno, error.strerror, error.filename) if error.errno is not None else error.args
        raise OutputWriteError(*details) from error


@dataclass(frozen=True)
class PrepareSettings:
    """How clips are made. `recorded()` is what the report keeps, and what a resumed run must match."""

    size: int = DEFAULT_SIZE
    face_crop: bool = True
    fps: float | None = None
    max_seconds: float | None = None
    image_quality: int = DEFAULT_IMAGE_QUALITY
    folder_fps: float = DEFAULT_FOLDER_FPS
    detect_interval: float = DEFAULT_DETECT_INTERVAL
    face_options: FaceCropOptions = field(
        default_factory=lambda: FaceCropOptions(full_frame_seconds=DEFAULT_FULL_FRAME_SECONDS)
    )

    def check(self) -> None:
        """Raise `ValueError` for the first setting out of range, named by its command-line flag: every value is
        bounded here, before any video is read, so that none fails part way through a run (an infinite margin, a
        duration whose frame count overflows, NaN)."""
        low, high = SIZE_RANGE
        if (
            isinstance(self.size, bool)
            or not isinstance(self.size, (int, np.integer))
            or not low <= self.size <= high
        ):
            raise ValueError(
                f"--size {self.size}: the side of the square frames is a whole number of pixels from {low} to {high} "
                f"(DFEW's crops are {DEFAULT_SIZE}; the models resize to their own input)."
            )
        for flag, value in {"--fps": self.fps, "--folder_fps": self.folder_fps}.items():
            _check_positive(flag, value, "frames per second", MAX_RATE)
        for flag, value in {
            "--max_seconds": self.max_seconds,
            "--full-frame-seconds": self.face_options.full_frame_seconds,
        }.items():
            _check_positive(flag, value, "seconds", MAX_SECONDS)
        # A track links detections at most `max_gap_seconds` apart: sparser ones would find no face in any video.
        gap = self.face_options.max_gap_seconds
        why = f" (a face is followed across {gap:g} s)"
        _check_positive("--detect-interval", self.detect_interval, "seconds", gap, why)
        if not 1 <= self.image_quality <= 100:
            raise ValueError(
                f"--image_quality {self.image_quality}: JPEG quality runs from 1 to 100 (default {DEFAULT_IMAGE_QUALITY})."
            )
        if not 0 <= self.face_options.margin <= MAX_MARGIN:
            raise ValueError(
                f"--margin {self.face_options.margin}: the margin around the face box is a fraction of its side "
                f"from 0 to {MAX_MARGIN:g}."
            )

    def recorded(self) -> dict:
        """The settings as JSON values (face settings only with face cropping, where they apply)."""
        return {
            "size": int(self.size),
            "face_crop": self.face_crop,
            "fps": self.fps,
            "max_seconds": self.max_seconds,
            "image_quality": int(self.image_quality),
            "folder_fps": self.folder_fps,
            "detect_interval": self.detect_interval if self.face_crop else None,
            "face_options": asdict(self.face_options) if self.face_crop else None,
        }


def _check_positive(flag: str, value: float | None, unit: str, highest: float, why: str = "") -> None:
    """`ValueError` unless `value` is None or in (0, `highest`] (which NaN and infinity are not)."""
    if value is not None and not 0 < value <= highest:
        raise ValueError(f"{flag} {value}: give a positive number of {unit}, at most {highest:.10g}{why}.")


def with_resolved_detector(settings: PrepareSettings) -> PrepareSettings:
    """`settings` naming the face detector that "auto" stands for here, its networks loaded (an unknown or
    uninstalled detector is reported before anything is written). The report records that name, so a resumed run
    on a machine where "auto" means another detector is refused instead of mixing two detectors' crops."""
    if not settings.face_crop:
        return settings
    options = settings.face_options
    options.load_networks()
    resolved = replace(options, face_detector=options.load_detector().name)
    return replace(settings, face_options=resolved)


@dataclass(frozen=True)
class ClipJob:
    """One input clip and the folder it becomes; `relative` is that folder below the output folder."""

    clip: LabelledClip
    destination: Path
    relative: str


@dataclass
class ClipResult:
    """What happened to one input clip: its `outcome` (one of `OUTCOMES`), the `frames` written, the
    `frames_without_face` left out (no detection of the main face near them), a `note` when decoding stopped
    before the end (the frames before it are kept) and the `reason` of a failure."""

    video: str
    label: str
    split: str | None
    outcome: str
    output: str | None = None
    frames: int = 0
    frames_without_face: int = 0
    note: str | None = None
    reason: str | None = None


@dataclass
class PrepareReport:
    """Everything a run did; `to_dict()` is the content of `prepare_report.json`. `stopped` says why a run ended
    before every clip was tried (Ctrl-C, the error that stopped it, a worker process that died)."""

    source: str
    output_dir: Path
    settings: dict
    clips: list[ClipResult]
    seconds: float = 0.0
    finished: bool = True
    stopped: str | None = None

    @property
    def manifest(self) -> Path:
        return self.output_dir / MANIFEST_NAME

    @property
    def report_file(self) -> Path:
        return self.output_dir / REPORT_NAME

    @property
    def counts(self) -> dict[str, int]:
        return {outcome: sum(clip.outcome == outcome for clip in self.clips) for outcome in OUTCOMES}

    @property
    def failures(self) -> list[ClipResult]:
        return [clip for clip in self.clips if clip.outcome in FAILED]

    @property
    def finished_clips(self) -> list[ClipResult]:
        return [clip for clip in self.clips if clip.outcome not in FAILED]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "output_dir": str(self.output_dir),
            "finished": self.finished,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "settings": self.settings,
            "counts": self.counts,
            "failures": [asdict(clip) for clip in self.failures],
            "clips": [asdict(clip) for clip in self.clips],
        }


# ----------------------------------------------------------------------------------------------- the input


def read_source_clips(source: Path) -> list[LabelledClip]:
    """The clips of a video folder (a folder) or of a manifest (a .csv / .jsonl file)."""
    if source.is_dir() or (not source.exists() and source.suffix.lower() not in MANIFEST_SUFFIXES):
        return find_video_folder_clips(source)
    return read_manifest(source)


def _unwritable(character: str) -> bool:
    """A surrogate (what Python decodes an undecodable byte of a file name to) cannot be written in UTF-8; a
    control character (a newline) would split a manifest row."""
    return "\ud800" <= character <= "\udfff" or unicodedata.category(character) == "Cc"


def _writable(text: str) -> str:
    return "".join("_" if _unwritable(character) else character for character in text)


def _folder_name_problem(name: str) -> str | None:
    if name in ("", ".", "..") or any(character in name for character in "/\\\0"):
        return "is not a folder name"
    if name.startswith("."):
        return "starts with a dot (readers skip hidden folders)"
    if _writable(name) != name:
        return "holds a character that cannot be written in UTF-8 (an undecodable file name) or a control character"
    if len(name.encode("utf-8")) > MAX_FOLDER_NAME_BYTES:
        return f"is longer than a folder name may be ({MAX_FOLDER_NAME_BYTES} bytes in UTF-8)"
    return None


def strip_labels(clips: list[LabelledClip]) -> list[LabelledClip]:
    """The clips with surrounding spaces removed from their labels (a class folder named " happy" is "happy")."""
    return [replace(clip, label=clip.label.strip()) for clip in clips]


def check_labels(clips: list[LabelledClip]) -> None:
    """Labels become class folders and the classes of a trained model, so a label must be one plain folder name;
    it is never changed behind the user's back (two labels would become one)."""
    for clip in clips:
        problem = _folder_name_problem(clip.label)
        if problem:
            raise DatasetCheckError(
                f"{clip.source}: the label {clip.label!r} {problem}; the prepared clips go in one folder per label, "
                "so give it a plain name (letters, digits, spaces, - or _)."
            )


def _where(clip: LabelledClip) -> str:
    split = f"{clip.split} split, " if clip.split else ""
    return f"{clip.source} ({split}label {clip.label!r})"


def check_each_video_once(clips: list[LabelledClip]) -> None:
    """A video listed twice (two manifest rows, or two links to one file) would be prepared twice, and listed in
    two splits it would leak from training into testing."""
    first_places: dict[str, LabelledClip] = {}
    for clip in clips:
        first = first_places.setdefault(os.path.realpath(clip.path), clip)
        if first is not clip:
            raise DatasetCheckError(
                f"{clip.path} is listed twice: at {_where(first)} and at {_where(clip)}. A video twice in the data "
                "is trained on twice, and in two splits it is tested on what the model learnt; keep one of them."
            )


def _clip_name(path: Path) -> str:
    """A video file's stem or a frame folder's name as a plain folder name: never hidden, no surrounding spaces,
    unwritable characters replaced."""
    name = path.stem if path.suffix.lower() in VIDEO_FILE_EXTENSIONS or path.is_file() else path.name
    return _writable(name).strip().lstrip(".").strip() or "clip"


def _fitted_name(name: str, path: Path) -> str:
    """`name`, or when it is longer than `MAX_CLIP_NAME_BYTES`, its start and a hash of the clip's path (and of
    `name`, which may carry a number), which keeps cut names unique."""
    encoded = name.encode("utf-8")
    if len(encoded) <= MAX_CLIP_NAME_BYTES:
        return name
    digest = hashlib.sha256(os.fsencode(path) + b"\0" + encoded).hexdigest()[:12]
    start = encoded[: MAX_CLIP_NAME_BYTES - len(digest) - 1].decode("utf-8", "ignore")  # no half character
    return f"{start.rstrip()}_{digest}"


def plan_jobs(clips: list[LabelledClip], output_dir: Path) -> list[ClipJob]:
    """Where every clip goes: `[<split>/]<label>/<name>`. Names are unique within a class folder and the same from
    run to run (a resumed run finds the folders it made): a name several inputs share gets each one's file suffix
    (`a_mp4`, `a_avi`), and a number when it still repeats (`a_mp4-2`)."""
    places = [(clip.split, clip.label, _clip_name(clip.path)) for clip in clips]
    shared = {place for place, count in Counter(places).items() if count > 1}
    taken: set[tuple] = set()
    jobs = []
    for clip, (split, label, stem) in zip(clips, places):
        if (split, label, stem) in shared and clip.path.suffix:
            stem = f"{stem}_{_writable(clip.path.suffix.lstrip('.').lower())}"
        name, number = _fitted_name(stem, clip.path), 1
        while (split, label, name) in taken:
            number += 1
            name = _fitted_name(f"{stem}-{number}", clip.path)
        taken.add((split, label, name))
        relative = "/".join([split, label, name] if split else [label, name])
        jobs.append(ClipJob(clip, output_dir / relative, relative))
    return jobs


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(source: Path, clips: list[LabelledClip], output_dir: Path) -> None:
    """Refuse an output folder inside a video folder (it would be read as a class next time), the manifest's own
    folder (its manifest would be replaced) or a frame-folder clip; then create it and prove it writable."""
    output = output_dir.resolve()
    if source.is_dir() and _inside(output, source.resolve()):
        raise ValueError(
            f"the output folder {output_dir} lies inside the input video folder {source}; choose an --output_dir "
            "outside it (e.g. next to it)."
        )
    if source.is_file() and output == source.resolve().parent:
        raise ValueError(
            f"the output folder {output_dir} is the folder of the manifest {source}, whose manifest.csv it would "
            "replace; choose an --output_dir of its own."
        )
    for clip in clips:
        if clip.path.is_dir() and _inside(output, clip.path.resolve()):
            raise ValueError(
                f"the output folder {output_dir} lies inside the input clip {clip.path}; choose another --output_dir."
            )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except (FileExistsError, NotADirectoryError) as error:
        raise ValueError(
            f"the output folder {output_dir} is a file or lies inside one; pass a folder with --output_dir."
        ) from error
    except OSError as error:
        reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
        raise ValueError(f"cannot write in the output folder {output_dir}: {reason}.") from error


def _earlier_report(output_dir: Path) -> dict:
    """An earlier run's report, {} without a readable one."""
    try:
        recorded = json.loads((output_dir / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def _as_recorded(settings: PrepareSettings) -> dict:
    return json.loads(json.dumps(settings.recorded()))  # tuples and floats as the report holds them


def check_same_settings(output_dir: Path, jobs: list[ClipJob], settings: PrepareSettings) -> None:
    """A resumed run must make clips the way the finished ones were made, or one folder would mix two kinds of
    crop (other sizes, margins, frame rates, detectors)."""
    before = _earlier_report(output_dir).get("settings")
    now = _as_recorded(settings)
    if not isinstance(before, dict) or before == now or not any(job.destination.is_dir() for job in jobs):
        return
    changed = ", ".join(
        f"{key} {before.get(key)} -> {now[key]}" for key in now if before.get(key) != now[key]
    )
    raise ValueError(
        f"{output_dir} holds clips prepared with other settings ({changed}; see its {REPORT_NAME}). Rerun with "
        "the same settings to finish it, or choose another --output_dir."
    )


def _result_key(video: str, label: str, split: str | None) -> tuple:
    return video, label, split


def earlier_failures(output_dir: Path, settings: PrepareSettings) -> dict[tuple, ClipResult]:
    """The videos that failed in an earlier run with these settings, by `_result_key`. They are tried again; until
    then the report keeps their outcome, so that a rerun stopped early does not lose the list of failures."""
    report = _earlier_report(output_dir)
    if report.get("settings") != _as_recorded(settings):
        return {}
    known = {column.name for column in fields(ClipResult)}
    failures = {}
    for entry in report.get("clips") or []:
        if not isinstance(entry, dict) or entry.get("outcome") not in FAILED:
            continue
        try:
            result = ClipResult(**{key: value for key, value in entry.items() if key in known})
        except TypeError:  # an entry without a video or label: nothing to keep
            continue
        failures[_result_key(result.video, result.label, result.split)] = result
    return failures


def _partial_owner(name: str) -> int | None:
    """The process id in a partial folder's name (`.<clip>.partial-<pid>`); None for any other name."""
    if not name.startswith(".") or PARTIAL_MARK not in name:
        return None
    pid = name.rsplit(PARTIAL_MARK, 1)[1]
    return int(pid) if pid.isdigit() else None


def _process_alive(pid: int) -> bool:
    if (
        os.name == "nt"
    ):  # there os.kill(pid, 0) would end the process; a partial folder is taken for a stale one
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_partials(jobs: list[ClipJob]) -> int:
    """Delete the partial folders in the class folders of `jobs` whose process is gone (a killed run's); those of
    a run still going are left alone. Returns how many were removed."""
    removed = 0
    for folder in sorted({job.destination.parent for job in jobs}):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            pid = _partial_owner(entry.name)
            if pid is not None and entry.is_dir() and (pid == os.getpid() or not _process_alive(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    return removed


# ---------------------------------------------------------------------------------------------- reading frames


class _VideoFrame:
    """A decoded video frame, converted (and scaled, by swscale) only into what is asked of it; bilinear, as
    `dfer predict` converts (swscale widens the filter when shrinking)."""

    def __init__(self, frame, reformatter: VideoReformatter):
        self.frame, self.reformatter = frame, reformatter
        self.height, self.width = upright_size(frame)  # as displayed: a phone's portrait video stands up

    def _converted(self, height: int, width: int, format: str, interpolation: str) -> np.ndarray:
        return convert_upright(self.frame, height, width, format, interpolation, self.reformatter)

    def rgb(self, height: int, width: int) -> np.ndarray:
        return self._converted(height, width, "rgb24", "BILINEAR")

    def gray(self, height: int, width: int) -> np.ndarray:
        return self._converted(height, width, "gray", "AREA")


class _ImageFrame:
    """One image of a frame folder."""

    def __init__(self, path: str):
        try:
            self.image = read_image_file(path)
        except ValueError as error:
            raise UnreadableClip(str(error)) from error
        self.height, self.width = self.image.shape[:2]

    def rgb(self, height: int, width: int) -> np.ndarray:
        return _resized(self.image, height, width)

    def gray(self, height: int, width: int) -> np.ndarray:
        cv2 = import_cv2()
        return _resized(cv2.cvtColor(self.image, cv2.COLOR_RGB2GRAY), height, width)


def _resized(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    cv2 = import_cv2()
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class FrameSource:
    """The frames of one clip (a video file or a frame folder) in order, one at a time, up to `max_seconds`.

    Opening checks the clip as `dfer predict` does (a missing path, an empty or damaged file, no video stream)
    and learns its frame rate and frame count; any of those problems raises `UnreadableClip` naming the file. A
    video whose decoding fails part way ends there, with the error in `stopped`."""

    def __init__(self, path: Path, folder_fps: float, max_seconds: float | None):
        self.path = str(path)
        try:
            opened = open_video(self.path)
            if isinstance(opened, EncodedVideo):
                opened.close()
                rate = self._stream_rate()
            elif isinstance(opened, FrameFolderVideo):
                rate = None
            else:
                raise ValueError(f"{self.path} is neither a video file nor a folder of frames.")
        except (FileNotFoundError, ValueError, av.FFmpegError) as error:
            raise UnreadableClip(str(error)) from error
        self.frame_files = opened.frame_files if isinstance(opened, FrameFolderVideo) else None
        self.rate = float(rate or folder_fps)
        self.num_frames = opened.num_frames
        if max_seconds is not None:
            self.num_frames = min(self.num_frames, max(1, math.ceil(max_seconds * self.rate - 1e-6)))
        self.stopped: str | None = None

    def _stream_rate(self) -> float | None:
        with av.open(self.path) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return float(rate) if rate else None

    def __iter__(self):
        if self.frame_files is not None:
            for index, path in enumerate(self.frame_files[: self.num_frames]):
                yield index, _ImageFrame(path)
            return
        yield from self._decoded()

    def _decoded(self):
        decoded = 0
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                # One core per video: worker processes run side by side, and a decoder thread pool would compete.
                stream.thread_type, stream.codec_context.thread_count = "NONE", 1
                reformatter = VideoReformatter()  # one swscale context for the whole video
                for frame in container.decode(stream):
                    if decoded == self.num_frames:
                        return
                    yield decoded, _VideoFrame(frame, reformatter)
                    decoded += 1
        except av.FFmpegError as error:
            if decoded == 0:
                raise UnreadableClip(f"Video {self.path} has no decodable frame ({error}).") from error
            self.stopped = f"decoding stopped after {decoded} frames ({error}); the frames before are kept"
        if decoded == 0:
            raise UnreadableClip(f"Video {self.path} has no decodable frame.")


def kept_frames(rate: float, fps: float | None):
    """`keep(index)`: whether a frame of a video at `rate` is kept when at most `fps` frames per second are
    wanted. Frames are dropped evenly: frame i is kept when floor(i * fps / rate) steps up (frame 0 always)."""
    if fps is None or fps >= rate:
        return lambda index: True
    ratio = fps / rate

    def keep(index: int) -> bool:
        return index == 0 or math.floor(index * ratio + 1e-9) > math.floor((index - 1) * ratio + 1e-9)

    return keep


# ------------------------------------------------------------------------------------------------ the face step


class MainFaceFollower:
    """`dfer predict`'s streaming face step over one video, for every frame instead of a window's sampled ones.

    `detect(index, frame, crop_width)` at each frame where `detects(index)`: the whole frame every
    `full_frame_seconds` (and whenever no face is tracked), else only the regions around the tracked faces, on a
    copy at the detector's size; boxes are kept in the pixels of the frames that wait for cropping (`crop_width`
    wide). `follow(indices)` gives the main face at frames at least `lookahead` frames older than the newest
    detection: smoothed boxes and whether a detection of it lies within `max_gap` frames (a gap a track may
    bridge); None while no track counts as a face."""

    def __init__(
        self,
        options: FaceCropOptions,
        detector: FaceDetector,
        rate: float,
        num_frames: int,
        detect_interval: float,
    ):
        self.options, self.detector = options, detector
        self.detect_step = max(1, round(detect_interval * rate))
        full_step = round(options.full_frame_seconds * rate) // self.detect_step * self.detect_step
        self.full_step = max(self.detect_step, full_step)
        self.max_gap = max(1, round(options.max_gap_seconds * rate))
        self.smoothing = options.smoothing_seconds * rate
        self.history = max(1, round(TRACK_HISTORY_SECONDS * rate))
        # A video too short for `min_track_detections` attempts needs the face on half of them.
        attempts = -(-num_frames // self.detect_step)
        self.min_detections = max(1, min(options.min_track_detections, (attempts + 1) // 2))
        # The detections that can still move a box (across a gap, through smoothing), and those a face starting
        # at a frame needs to count as one, all come within this many frames after it.
        reach = max(self.max_gap + round(3 * self.smoothing), (self.min_detections - 1) * self.detect_step)
        self.lookahead = reach + self.detect_step
        self.tracker = FaceTracker(self.max_gap)

    def detects(self, index: int) -> bool:
        return index % self.detect_step == 0

    def detect(self, index: int, frame, crop_width: int) -> None:
        small = self.detector.detection_size(frame.height, frame.width)
        image = frame.rgb(*small) if self.detector.needs_color else frame.gray(*small)
        to_crop_pixels = np.float32(crop_width / small[1])
        live = [track.boxes[-1] for track in self.tracker.tracks if index - track.indices[-1] <= self.max_gap]
        if live and index % self.full_step:
            boxes = self.options.locate_around(self.detector, image, np.stack(live) / to_crop_pixels)
        else:
            boxes = self.options.locate(self.detector, image)
        self.tracker.update(index, move_boxes(boxes, to_crop_pixels))

    def follow(self, indices: list[int]):
        self.tracker.forget_before(indices[0] - self.history)
        faces = self.tracker.faces(self.min_detections)
        return follow_main_face(faces, indices, self.smoothing, self.max_gap, found_within=self.max_gap)


def crop_face(frame: np.ndarray, box, margin: float, size: int) -> np.ndarray:
    """`crop_square(frame, box, margin, (size, size))`, computed on the part of the frame the crop can reach.

    A turned crop (an aligned face) blurs the image it samples first, which over a whole 720p frame costs more
    than the rest of the crop. The part kept holds the turned square's bounding box plus the blur's reach (3
    standard deviations of 0.5 output pixels) wherever `crop_square` places it: a square that fits is moved
    inside the frame, and then the part kept reaches the frame's edge, where the same move happens. So the crop
    is the same."""
    cx, cy, side = (float(value) for value in box[:3])
    angle = float(box[3]) if len(box) > 3 else 0.0
    if abs(angle) < 0.5:  # upright: crop_square cuts the square out directly
        return crop_square(frame, box, margin, (size, size))
    height, width = frame.shape[:2]
    turned_side = side * (1 + 2 * margin)
    radians = math.radians(angle)
    reach = turned_side / 2 * (abs(math.cos(radians)) + abs(math.sin(radians)))
    reach += 4 * 0.5 * max(turned_side, 2.0) / size + 3
    left = max(0, math.floor(min(cx, width - turned_side / 2) - reach))
    right = min(width, math.ceil(max(cx, turned_side / 2) + reach))
    top = max(0, math.floor(min(cy, height - turned_side / 2) - reach))
    bottom = min(height, math.ceil(max(cy, turned_side / 2) + reach))
    if right - left < 2 or bottom - top < 2:  # the square lies wholly outside the frame: crop_square pads it
        return crop_square(frame, box, margin, (size, size))
    return crop_square(
        frame[top:bottom, left:right], (cx - left, cy - top, side, angle), margin, (size, size)
    )


# ------------------------------------------------------------------------------------------------- writing


class ClipWriter:
    """JPEG frames 00001.jpg, 00002.jpg, ... into a hidden partial folder beside `destination`, renamed to it by
    `finish()`. Leaving the `with` block any other way (an error, Ctrl-C, a worker being stopped) removes the
    partial folder, so a clip folder under its final name is always complete."""

    def __init__(self, destination: Path, quality: int):
        self.destination, self.quality = destination, int(quality)
        self.partial = destination.with_name(f".{destination.name}{PARTIAL_MARK}{os.getpid()}")
        self.frames = 0
        self.finished = False

    def __enter__(self) -> "ClipWriter":
        with _writing_output():
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.partial, ignore_errors=True)
            self.partial.mkdir()
        return self

    def write(self, image: np.ndarray) -> None:
        data = simplejpeg.encode_jpeg(
            np.ascontiguousarray(image), quality=self.quality, colorspace="RGB", colorsubsampling="420"
        )
        self.frames += 1
        with _writing_output():
            (self.partial / f"{self.frames:05d}.jpg").write_bytes(data)

    def finish(self) -> None:
        """Move the clip into place; when another run finished the same clip meanwhile, its copy stands."""
        with _writing_output():
            try:
                os.rename(self.partial, self.destination)
            except OSError:
                if self.destination.is_dir():
                    return
                raise
        self.finished = True

    def __exit__(self, *exc_info) -> None:
        if not self.finished:
            shutil.rmtree(self.partial, ignore_errors=True)


class FaceCropPass:
    """Frames waiting for their face box, cropped and written once the box is settled (`MainFaceFollower`)."""

    def __init__(self, follower: MainFaceFollower, writer: ClipWriter, margin: float, size: int):
        self.follower, self.writer, self.margin, self.size = follower, writer, margin, size
        self.waiting: deque[tuple[int, np.ndarray]] = deque()
        self.without_face = 0
        self.most_waiting = 0

    def add(self, index: int, frame, keep: bool) -> None:
        """Detect at `index` when it is a detection frame; keep the frame for cropping if `keep`; write every
        waiting frame whose box is now settled (in batches of a detection step: one choice of the main face)."""
        height, width = shrunk_size(frame.height, frame.width, CROP_SOURCE)
        if self.follower.detects(index):
            self.follower.detect(index, frame, width)
        if keep:
            self.waiting.append((index, frame.rgb(height, width)))
            self.most_waiting = max(self.most_waiting, len(self.waiting))
        settled = index - self.follower.lookahead
        ready = next(
            (n for n, (waiting, _) in enumerate(self.waiting) if waiting > settled), len(self.waiting)
        )
        if ready >= self.follower.detect_step:
            self._write(ready)

    def finish(self) -> None:
        if self.waiting:
            self._write(len(self.waiting))

    def _write(self, count: int) -> None:
        batch = [self.waiting.popleft() for _ in range(count)]
        followed = self.follower.follow([index for index, _ in batch])
        for position, (_, image) in enumerate(batch):
            if followed is None or not followed.found[position]:
                self.without_face += 1
            else:
                self.writer.write(crop_face(image, followed.boxes[position], self.margin, self.size))


def _write_frames(source: FrameSource, settings: PrepareSettings, writer: ClipWriter) -> int:
    """Write the clip's frames (face crops, or whole frames resized) and return how many had no face."""
    keep = kept_frames(source.rate, settings.fps)
    if not settings.face_crop:
        for index, frame in source:
            if keep(index):
                writer.write(frame.rgb(settings.size, settings.size))
        return 0
    options = settings.face_options
    follower = MainFaceFollower(
        options, options.load_detector(), source.rate, source.num_frames, settings.detect_interval
    )
    crops = FaceCropPass(follower, writer, options.margin, settings.size)
    for index, frame in source:
        crops.add(index, frame, keep(index))
    crops.finish()
    return crops.without_face


def prepare_clip(job: ClipJob, settings: PrepareSettings) -> ClipResult:
    """Make the clip folder of one job. A clip that cannot be read, shows no face or fails in any other way (a
    damaged stream tripping OpenCV, memory running out) gets that outcome, with the reason, and leaves nothing
    behind; errors writing the output (`OutputWriteError`: a full disk) propagate, as every clip would hit them."""
    clip = job.clip
    result = ClipResult(str(clip.path), clip.label, clip.split, "unreadable")
    try:
        return _made_clip(job, settings, result)
    except OutputWriteError:
        raise
    except (UnreadableClip, av.FFmpegError) as error:  # FFmpeg may also fail converting a decoded frame
        result.reason = str(error)
    except Exception as error:  # a problem of this clip alone: the other clips are still prepared
        result.outcome, result.reason = "failed", f"{type(error).__name__}: {error}"
    return result


def _made_clip(job: ClipJob, settings: PrepareSettings, result: ClipResult) -> ClipResult:
    source = FrameSource(job.clip.path, settings.folder_fps, settings.max_seconds)
    with ClipWriter(job.destination, settings.image_quality) as writer:
        result.frames_without_face = _write_frames(source, settings, writer)
        if writer.frames:
            writer.finish()
    result.note = source.stopped
    if writer.frames == 0:
        result.outcome = "no_face"
        result.reason = (
            f"no face found in {result.frames_without_face} frames; the clip is left out (use --no-face-crop if "
            "the video is already a face crop)"
        )
        return result
    result.outcome, result.output, result.frames = "prepared", job.relative, writer.frames
    return result


def _already_done(job: ClipJob, outcome: str = "already_done") -> ClipResult:
    clip = job.clip
    frames = len(list_frame_files(job.destination))
    return ClipResult(str(clip.path), clip.label, clip.split, outcome, job.relative, frames)


def _worker_died(job: ClipJob) -> ClipResult:
    clip = job.clip
    return ClipResult(str(clip.path), clip.label, clip.split, "failed", reason=WORKER_DIED)


# ---------------------------------------------------------------------------------------------- running them


_worker_settings: PrepareSettings | None = None
# Shared with the parent: per job of the pool, the id of the worker process that started it, negative once that
# worker was stopped (SIGTERM) rather than killed. `_worker_job` is the job this worker is on.
_worker_jobs = None
_worker_job: int | None = None


def _stop_worker(signum, frame) -> None:
    """SIGTERM (the pool stopping after Ctrl-C, an error or a dead worker) unwinds the worker, so that its partial
    folder is removed; once only, so that the unwinding itself is not interrupted. Its job is marked as stopped:
    the parent tells it from the job whose worker was killed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _worker_job is not None:
        _worker_jobs[_worker_job] = -os.getpid()
    raise SystemExit(128 + signum)


def _start_worker(settings: PrepareSettings, jobs) -> None:
    """A worker process: one thread for everything, Ctrl-C left to the parent, networks loaded once."""
    global _worker_settings, _worker_jobs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    # Read by the detector library's OpenMP runtime when it loads, which happens below, not before.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    import_cv2().setNumThreads(1)
    if settings.face_crop:
        settings.face_options.load_networks()
    _worker_settings, _worker_jobs = settings, jobs


def _prepare_in_worker(number: int, job: ClipJob) -> ClipResult:
    """`prepare_clip` in a worker. Stopped (SIGTERM), the worker ends once the clip's partial folder is removed:
    the pool would catch the `SystemExit` and hand it the next clip."""
    global _worker_job
    _worker_jobs[number], _worker_job = os.getpid(), number
    try:
        return prepare_clip(job, _worker_settings)
    except SystemExit as stop:
        os._exit(stop.code)
    finally:
        _worker_job = None


class _InProcess:
    """Numbered jobs prepared one after the other in this process."""

    stopped = None

    def __init__(self, jobs: list[tuple[int, ClipJob]], settings: PrepareSettings):
        self.jobs, self.settings = jobs, settings

    def __enter__(self) -> "_InProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def results(self):
        for position, job in self.jobs:
            yield position, prepare_clip(job, self.settings)


def _terminate_workers(executor: ProcessPoolExecutor) -> None:
    if hasattr(executor, "terminate_workers"):  # Python 3.14
        executor.terminate_workers()
        return
    for process in list((executor._processes or {}).values()):  # before 3.14 the processes are only here
        process.terminate()


class _WorkerPool:
    """Numbered jobs prepared in up to `workers` spawned processes. `concurrent.futures` notices a worker that
    dies (the out-of-memory killer), where `multiprocessing.Pool` would wait for its task forever: the run then
    stops, its clip is reported as failed and `stopped` says why. Leaving the `with` block by an exception
    (Ctrl-C, a full disk) stops the workers at once."""

    def __init__(self, jobs: list[tuple[int, ClipJob]], settings: PrepareSettings, workers: int):
        context = multiprocessing.get_context("spawn")  # no forked copies of torch's or OpenMP's threads
        self.jobs = jobs
        self.started = context.RawArray("q", len(jobs))
        self.executor = ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(settings, self.started),
        )
        self.stopped: str | None = None

    def __enter__(self) -> "_WorkerPool":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            _terminate_workers(self.executor)
        self.executor.shutdown(wait=True, cancel_futures=True)

    def results(self):
        futures, reported = {}, set()
        try:
            for number, (_, job) in enumerate(self.jobs):
                futures[self.executor.submit(_prepare_in_worker, number, job)] = number
            for future in as_completed(futures):
                result = future.result()
                reported.add(future)
                yield self.jobs[futures[future]][0], result
        except BrokenProcessPool:
            yield from self._after_a_worker_died(futures, reported)

    def _after_a_worker_died(self, futures: dict, reported: set):
        """The results not yet reported: those that came before the pool broke (`as_completed` may hand out a
        broken future first), and a failure for each clip whose worker died. The pool has stopped the other
        workers; their clips are left for a rerun."""
        self.executor.shutdown(wait=True)  # every worker has ended, and each stopped one has marked its job
        died, left = [], 0
        for future, number in futures.items():
            if future in reported:
                continue
            error = future.exception()
            if error is None:
                yield self.jobs[number][0], future.result()
            elif not isinstance(error, BrokenProcessPool):
                raise error  # a worker's error that stops the run (a full disk)
            elif self.started[number] > 0:
                died.append(number)
            elif self.started[number] < 0:
                left += 1
        self.stopped = _worker_died_reason([self.jobs[number][1] for number in died], left)
        for number in died:
            yield self.jobs[number][0], _worker_died(self.jobs[number][1])


def _worker_died_reason(died: list[ClipJob], left: int) -> str:
    videos = ", ".join(str(job.clip.path) for job in died)
    where = f"while preparing {videos}" if died else "between two clips"
    reason = f"a worker process died (killed, or out of memory) {where}; the run stopped"
    if left:
        reason += f" and left {left} clip{'s' if left > 1 else ''} in progress for a rerun"
    return reason


def _preparer(jobs: list[tuple[int, ClipJob]], settings: PrepareSettings, num_proc: int):
    """What prepares the numbered jobs: this process (`num_proc=1`, or a single job), or a pool of workers."""
    if num_proc == 1 or len(jobs) <= 1:
        return _InProcess(jobs, settings)
    return _WorkerPool(jobs, settings, num_proc)


def write_manifest(path: Path, jobs: list[ClipJob], results: list[ClipResult]) -> None:
    """`path,label[,split]` of every finished clip, paths relative to the manifest's folder, in input order."""
    with_split = any(job.clip.split for job in jobs)
    buffer = io.StringIO()
    rows = csv.writer(buffer, lineterminator="\n")
    rows.writerow(["path", "label", "split"] if with_split else ["path", "label"])
    for job, result in zip(jobs, results):
        if result is not None and result.outcome not in FAILED:
            rows.writerow(
                [job.relative, job.clip.label, job.clip.split]
                if with_split
                else [job.relative, job.clip.label]
            )
    write_text_atomically(path, buffer.getvalue())


def _write_report(report: PrepareReport) -> None:
    write_text_atomically(report.report_file, json.dumps(report.to_dict(), indent=1) + "\n")


def _remove_empty_folders(jobs: list[ClipJob], output_dir: Path) -> None:
    """Class (and split) folders left without a clip, e.g. every clip of a label failed: a video folder reader
    would refuse them."""
    folders = {job.destination.parent for job in jobs} | {job.destination.parent.parent for job in jobs}
    for folder in sorted(folders - {output_dir}, key=lambda path: len(path.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:  # not empty, or not there
            pass


def _progress_bar(total: int, enabled: bool):
    return tqdm(total=total, desc="prepare", unit="video", disable=not enabled or total == 0)


def prepare_clips(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    size: int = DEFAULT_SIZE,
    face_crop: bool = True,
    fps: float | None = None,
    max_seconds: float | None = None,
    num_proc: int = 1,
    image_quality: int = DEFAULT_IMAGE_QUALITY,
    margin: float = FaceCropOptions.margin,
    face_detector: str = "auto",
    align_faces: bool = True,
    detect_interval: float = DEFAULT_DETECT_INTERVAL,
    full_frame_seconds: float = DEFAULT_FULL_FRAME_SECONDS,
    folder_fps: float = DEFAULT_FOLDER_FPS,
    progress: bool = True,
) -> PrepareReport:
    """Prepare every clip of `source` (a video folder or a manifest) into `output_dir` (see the module's
    docstring) and return what happened; `manifest.csv` and `prepare_report.json` are written at the end. When a
    worker process dies the run ends there: its clip is a failure, `stopped` says so and `finished` is False. When
    an exception stops the run (Ctrl-C, a full disk) both are written for the clips finished so far where the disk
    allows, and the exception goes on.

    `size`: side of the square frames; `fps`: at most this many frames per second are kept; `max_seconds`: only
    the start of each video; `margin`, `face_detector`, `align_faces`: `dfer predict`'s face settings;
    `detect_interval`, `full_frame_seconds`: how often faces, and whole frames, are searched (less often than
    `predict` by default, see `DEFAULT_DETECT_INTERVAL`); `folder_fps`: the frame rate of frame-folder clips;
    `num_proc`: videos prepared side by side, in up to that many processes (one per video at most).
    """
    if isinstance(num_proc, bool) or not isinstance(num_proc, int) or num_proc < 1:
        raise ValueError(f"--num_proc {num_proc}: give the number of worker processes, 1 or more.")
    options = FaceCropOptions(
        margin=margin, face_detector=face_detector, align=align_faces, full_frame_seconds=full_frame_seconds
    )
    settings = PrepareSettings(
        size, face_crop, fps, max_seconds, image_quality, folder_fps, detect_interval, options
    )
    settings.check()
    source, output_dir = Path(source), Path(output_dir)
    settings, jobs = _plan(source, output_dir, settings)
    started = time.perf_counter()
    results = _known_results(jobs, earlier_failures(output_dir, settings))
    report = PrepareReport(
        str(source), output_dir, settings.recorded(), [r for r in results if r], finished=False
    )
    _write_report(report)  # the settings are on record before the first clip
    todo = [(position, job) for position, job in enumerate(jobs) if _to_do(results[position])]
    bar = _progress_bar(len(todo), progress)
    try:
        with _preparer(todo, settings, num_proc) as preparer:
            for position, result in preparer.results():
                results[position] = result
                bar.update(1)
    except BaseException as error:  # Ctrl-C, a full disk: what finished is listed, then the error goes on
        report.stopped = _stop_reason(error)
        _finish_if_possible(report, jobs, results, started)
        raise
    finally:
        bar.close()
    report.stopped = preparer.stopped
    return _finish(report, jobs, results, started)


def _plan(source: Path, output_dir: Path, settings: PrepareSettings) -> tuple[PrepareSettings, list[ClipJob]]:
    """Everything checked before any video is read: the source, its labels and names, the detector, the output
    folder and an earlier run's settings; the settings as recorded (the detector resolved) and the jobs."""
    clips = strip_labels(read_source_clips(source))
    check_labels(clips)
    check_each_video_once(clips)
    settings = with_resolved_detector(settings)
    jobs = plan_jobs(clips, output_dir)
    check_output_dir(source, clips, output_dir)
    check_same_settings(output_dir, jobs, settings)
    remove_stale_partials(jobs)
    return settings, jobs


def _known_results(jobs: list[ClipJob], failures: dict[tuple, ClipResult]) -> list[ClipResult | None]:
    """Per job: already done (its folder exists), failed in an earlier run (`earlier_failures`), or None."""
    return [
        _already_done(job)
        if job.destination.is_dir()
        else failures.get(_result_key(str(job.clip.path), job.clip.label, job.clip.split))
        for job in jobs
    ]


def _to_do(known: ClipResult | None) -> bool:
    return known is None or known.outcome in FAILED


def _count_finished_folders(jobs: list[ClipJob], results: list[ClipResult | None]) -> None:
    """A clip whose folder is in place is complete (it is renamed there last) and is listed, also when its result
    never came (Ctrl-C or a dead worker while it was on its way) or says that it failed in an earlier run."""
    for position, job in enumerate(jobs):
        if _to_do(results[position]) and job.destination.is_dir():
            results[position] = _already_done(job, "prepared")


def _finish(report: PrepareReport, jobs, results, started: float) -> PrepareReport:
    _count_finished_folders(jobs, results)
    report.clips = [result for result in results if result is not None]
    report.seconds, report.finished = time.perf_counter() - started, report.stopped is None
    remove_stale_partials(jobs)  # a worker that was killed leaves its partial folder
    _remove_empty_folders(jobs, report.output_dir)
    write_manifest(report.manifest, jobs, results)
    _write_report(report)
    return report


def _stop_reason(error: BaseException) -> str:
    return "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"


def _finish_if_possible(report: PrepareReport, jobs, results, started: float) -> None:
    try:
        _finish(report, jobs, results, started)
    except OSError:  # the disk is full, say: the error that stopped the run is the one to report
        pass


__all__ = [
    "DEFAULT_IMAGE_QUALITY",
    "DEFAULT_SIZE",
    "MANIFEST_NAME",
    "OUTCOMES",
    "REPORT_NAME",
    "ClipJob",
    "ClipResult",
    "ClipWriter",
    "FrameSource",
    "MainFaceFollower",
    "OutputWriteError",
    "PrepareReport",
    "PrepareSettings",
    "UnreadableClip",
    "crop_face",
    "kept_frames",
    "plan_jobs",
    "prepare_clip",
    "prepare_clips",
    "read_source_clips",
]
