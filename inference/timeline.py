"""An expression timeline for an ordinary video: slide a window over it, crop the face, classify every window.

`predict_timeline` makes one streaming pass over the video, so memory stays bounded however long it is:

- Windows (`plan_windows`) of `window_seconds` every `stride_seconds`; each window reads the model's `num_frames`
  frames with the processor's sampler, exactly as a clip of that length would be read in evaluation.
- Frames are decoded once, in order (`FrameStream`). Face detection runs every `detect_interval` seconds on a
  small copy made by the decoder's scaler (gray for Haar), on the whole frame every `full_frame_seconds` and
  only around the tracked faces in between; full-colour frames are converted only for the sampled frames and
  held only until their face box is settled, i.e. until detections `lookahead` frames later are known.
- Boxes come from `face_crop`: the main face over the surrounding seconds, smoothed and interpolated. Windows are
  classified in batches as soon as all their crops exist, and crops are dropped as soon as no later window uses
  them.

`dfer.inference.writers` turns a `Timeline` into files.
"""

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
import torch

from dfer.modeling import label_names
from dfer.processing.face_crop import (
    FaceCropOptions,
    FaceTracker,
    centre_square,
    crop_square,
    follow_main_face,
    move_boxes,
    track_boxes,
)
from dfer.processing.face_detection import import_cv2
from dfer.processing.frame_sampling import sample_frame_indices
from dfer.processing.video_decoding import (
    EncodedVideo,
    FrameFolderVideo,
    convert_upright,
    open_video,
    read_image_file,
    shrunk_size,
    upright_size,
)

# Sampled frames are kept with their shorter side shrunk to this (never enlarged) until they are cropped.
CROP_SOURCE_MIN_SIDE = 720
DEFAULT_FOLDER_FPS = 30.0

logger = logging.getLogger(__name__)


class VideoEndedEarly(ValueError):
    """A video file decoded fewer frames than its header declared (truncated or damaged): `decodable` frames
    exist; `failure` is the decoding error that stopped it, if any."""

    def __init__(self, path: str, declared: int, decodable: int, failure: str | None = None):
        self.path, self.declared, self.decodable, self.failure = path, declared, decodable, failure
        stopped = f" (decoding stopped: {failure})" if failure else ""
        super().__init__(
            f"{path} declares {declared} frames but only {decodable} can be decoded{stopped}: the file is truncated "
            "or damaged."
        )


@dataclass
class Window:
    """Frames [start_frame, end_frame) of a video, `start`/`end` in seconds, and the frames the model reads."""

    start_frame: int
    end_frame: int
    start: float
    end: float
    frame_indices: list[int] = field(default_factory=list)


def plan_windows(num_frames: int, fps: float, window_seconds: float, stride_seconds: float) -> list[Window]:
    """Windows of `window_seconds` starting every `stride_seconds`, covering the whole video.

    A video shorter than one window is one window over all its frames. When the regular windows stop short of
    the end, one more window ends exactly at the last frame, so the end of the video is never left out.
    """
    if window_seconds <= 0 or stride_seconds <= 0:
        raise ValueError(
            f"--window and --stride must be positive, got {window_seconds} and {stride_seconds}."
        )
    if num_frames < 1:
        raise ValueError("Cannot plan windows over a video with no frames.")
    window_frames = max(1, round(window_seconds * fps))
    if window_frames >= num_frames:
        spans = [(0, num_frames)]
    else:
        stride_frames = max(1, round(stride_seconds * fps))
        spans = [
            (start, start + window_frames)
            for start in range(0, num_frames - window_frames + 1, stride_frames)
        ]
        if spans[-1][1] < num_frames:
            spans.append((num_frames - window_frames, num_frames))
    return [Window(start, end, start / fps, end / fps) for start, end in spans]


def assign_frames(windows: list[Window], num_frames: int, sampler: str) -> None:
    """Fill each window's `frame_indices` with the evaluation sampler's choice inside the window."""
    for window in windows:
        picked = sample_frame_indices(
            window.end_frame - window.start_frame, num_frames, sampler, training=False
        )
        window.frame_indices = [window.start_frame + index for index in picked]


class _AvFrame:
    """A decoded video frame; converted (and scaled by swscale) only into what is asked of it."""

    def __init__(self, frame):
        self.frame = frame
        self.height, self.width = upright_size(frame)  # as displayed: a phone's portrait video stands up

    def gray(self, height: int, width: int) -> np.ndarray:
        return convert_upright(self.frame, height, width, "gray", "AREA")

    def rgb(self, height: int, width: int) -> np.ndarray:
        return convert_upright(self.frame, height, width, "rgb24", "BILINEAR")


class _ImageFrame:
    """A frame image from a folder, read once when first needed."""

    def __init__(self, path: str):
        self.image = read_image_file(path)
        self.height, self.width = self.image.shape[:2]

    def gray(self, height: int, width: int) -> np.ndarray:
        cv2 = import_cv2()
        gray = cv2.cvtColor(self.image, cv2.COLOR_RGB2GRAY)
        if (height, width) != gray.shape:
            gray = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
        return gray

    def rgb(self, height: int, width: int) -> np.ndarray:
        if (height, width) == (self.height, self.width):
            return self.image
        cv2 = import_cv2()
        return cv2.resize(self.image, (width, height), interpolation=cv2.INTER_AREA)


class FrameStream:
    """The frames of a video file or frame folder, delivered in order without holding more than one.

    Opening checks the source (a clear `FileNotFoundError` / `ValueError` naming the file for a missing path,
    an unreadable file or one without a video stream) and learns its frame count and rate.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None):
        self.path = os.fspath(path)
        source = open_video(self.path)  # validates the file and counts its frames
        if not isinstance(source, (EncodedVideo, FrameFolderVideo)):
            raise TypeError(f"{self.path} is neither a video file nor a folder of frames.")
        self.num_frames = source.num_frames
        # Only the file list is kept: the decoder object (and any container it holds open) is released here.
        self.frame_files = source.frame_files if isinstance(source, FrameFolderVideo) else None
        stream_fps = self._stream_fps() if self.frame_files is None else None
        self.fps = float(fps or stream_fps or DEFAULT_FOLDER_FPS)
        if self.fps <= 0:
            raise ValueError(f"Frame rate must be positive, got {self.fps}.")

    def _stream_fps(self) -> float | None:
        with av.open(self.path) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return float(rate) if rate else None

    def frames(self, wanted: list[int]):
        """Yield (index, frame) for the ascending indices `wanted`. A video whose decoding ends (or fails) before
        the last wanted frame raises `VideoEndedEarly` with the number of frames that did decode, so that the
        caller can plan over those instead of repeating the last frame; one with no decodable frame at all
        raises a `ValueError`."""
        if not wanted:
            return
        if self.frame_files is not None:
            for index in wanted:
                yield index, _ImageFrame(self.frame_files[index])
            return
        position, cursor, failure = -1, 0, None
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for position, frame in enumerate(container.decode(stream)):  # noqa: B007
                    if position == wanted[cursor]:
                        yield position, _AvFrame(frame)
                        cursor += 1
                        if cursor == len(wanted):
                            return
        except av.FFmpegError as error:
            failure = str(error)
        if position < 0:
            stopped = f": {failure}" if failure else ""
            raise ValueError(f"Video {self.path} has no decodable frame{stopped}.")
        raise VideoEndedEarly(self.path, self.num_frames, position + 1, failure)


FACE_MODES = ("main", "all")
# A window shows the face when at least this share of the frames the model reads are near a detection of it;
# other windows get no expression.
MIN_FACE_FRACTION = 0.5


@dataclass
class WindowPrediction:
    """One row of the timeline. A window without the face has an empty `label` and None `confidence` and
    `probabilities`: nothing is claimed about a face that was not seen. `track_id` is the person followed (with
    `faces="all"`, the person this row is about; with "main", the one followed over most of the window)."""

    start: float
    end: float
    label: str
    confidence: float | None
    probabilities: dict[str, float] | None
    face_found: bool
    face_fraction: float
    track_id: int | None = None


@dataclass
class WindowResult:
    """A window's row as soon as it is decided, for showing a timeline while it is made: the window's `position`
    among the video's `total` windows, its row, and the face crops the model read ((T, H, W, 3) uint8 at the
    processor's size; None for a window that was not classified)."""

    position: int
    total: int
    row: WindowPrediction
    crops: np.ndarray | None
    # 0 for the first pass; 1 when a video shorter than its header said was planned again and its windows are
    # reported anew (what was reported before no longer holds).
    attempt: int = 0


@dataclass
class Timeline:
    """The predictions over one video plus what is needed to read them."""

    video: str
    model: str
    fps: float
    num_frames: int
    window_seconds: float
    stride_seconds: float
    labels: list[str]
    windows: list[WindowPrediction]
    face_crop: bool = True
    processing_seconds: float = 0.0
    faces: str = "main"

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def track_ids(self) -> list[int]:
        """The people with a timeline of their own (faces="all"), in the order their tracks were confirmed."""
        return sorted({row.track_id for row in self.windows if row.track_id is not None}) if self.faces == "all" else []

    def face_windows(self, track_id: int | None = None) -> tuple[int, int]:
        """(windows with the face, windows) over the whole video, or for one person with faces="all"."""
        rows = [row for row in self.windows if track_id is None or row.track_id == track_id]
        if self.faces == "all" and track_id is None:
            starts = {row.start for row in rows}
            return len({row.start for row in rows if row.face_found}), len(starts)
        return sum(row.face_found for row in rows), len(rows)

    @property
    def realtime_factor(self) -> float:
        """Seconds of video processed per second of computation."""
        return self.duration / self.processing_seconds if self.processing_seconds > 0 else float("inf")

    def label_shares(self) -> dict[str, float]:
        """Fraction of face windows whose top label is each label; empty when no window showed a face."""
        rows = [row for row in self.windows if row.face_found]
        if not rows:
            return {}
        return {label: sum(row.label == label for row in rows) / len(rows) for label in self.labels}

    def to_dict(self) -> dict:
        return {
            "video": self.video,
            "model": self.model,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "duration": self.duration,
            "window_seconds": self.window_seconds,
            "stride_seconds": self.stride_seconds,
            "face_crop": self.face_crop,
            "faces": self.faces,
            "face_windows": self.face_windows()[0],
            "labels": list(self.labels),
            "processing_seconds": self.processing_seconds,
            "label_shares": self.label_shares(),
            "windows": [asdict(row) for row in self.windows],
        }


@dataclass
class StreamStats:
    """What a streaming pass held at most and did; the memory bound is visible in tests and benchmarks."""

    frames_decoded: int = 0
    detections_run: int = 0
    frames_with_face: int = 0
    max_pending_frames: int = 0
    max_cached_crops: int = 0
    max_detection_history: int = 0


def resolve_device(device: str | None) -> torch.device:
    """Device: "auto" (or None) = the GPU when there is one, else the CPU; anything else is passed to torch."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"--device {device} is not a device torch knows (e.g. cpu, cuda, cuda:1): {error}") from error
    # Ask the backend before any work: torch only fails when the first tensor is moved there.
    backend = getattr(torch, resolved.type, None)
    if resolved.type != "cpu" and not (backend is not None and hasattr(backend, "is_available") and backend.is_available()):
        raise ValueError(f"--device {device}: this machine's torch has no {resolved.type} device; use --device cpu.")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA device(s).")
    return resolved


class _WindowClassifier:
    """Collects finished windows' clips and classifies them in batches."""

    def __init__(self, model, processor, device, batch_size: int, on_done):
        self.model, self.processor, self.device = model, processor, device
        self.batch_size = max(1, int(batch_size))
        self.on_done = on_done
        self.pending: list[tuple[object, np.ndarray]] = []

    def add(self, key, clip: np.ndarray) -> None:
        """Queue the clip of the window `key`; `on_done(key, probabilities, clip)` follows."""
        self.pending.append((key, clip))
        if len(self.pending) >= self.batch_size:
            self.flush()

    @torch.inference_mode()
    def flush(self) -> None:
        if not self.pending:
            return
        inputs = self.processor(
            [clip for _, clip in self.pending],
            do_sample_frames=False,
            face_crop=False,
            training=False,
            return_tensors="pt",
        )
        dtype = next(self.model.parameters()).dtype
        pixel_values = inputs["pixel_values"].to(self.device, dtype=dtype)
        probabilities = self.model(pixel_values=pixel_values).logits.float().softmax(-1).cpu().numpy()
        for (key, clip), row in zip(self.pending, probabilities):
            self.on_done(key, row, clip)
        self.pending = []


def predict_timeline(
    video: str | os.PathLike | FrameStream,
    model,
    processor,
    window_seconds: float = 2.0,
    stride_seconds: float = 1.0,
    face_crop: bool = True,
    face_options: FaceCropOptions | None = None,
    detect_interval: float = 0.1,
    history_seconds: float = 5.0,
    batch_size: int = 8,
    fps: float | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    stats: StreamStats | None = None,
    model_name: str = "",
    faces: str = "main",
    on_window: Callable[[WindowResult], None] | None = None,
) -> Timeline:
    """Classify every window of `video` (file or frame folder) with `model` and return the timeline.

    `processor` is the checkpoint's `DferVideoProcessor` (sampler, size, rescaling, normalisation); the model is
    used as it is (put it on `device` first). With `face_crop`, a window is classified only when the face is
    seen on at least half of the frames the model reads; the others get no expression. `faces="main"` follows
    the main face; `faces="all"` gives every tracked person their own rows (`track_id`). `fps` overrides the
    video's frame rate (frame folders default to 30); `video` may also be a `FrameStream` opened by the caller,
    whose frame rate stands.

    `on_window(WindowResult)` (faces="main" only) is called as each window's row is decided, classified or not,
    in no fixed order; an exception it raises stops the pass. If the video turns out shorter than its header
    says, the pass starts again over the frames that exist and the windows are reported again, with the next
    `attempt` number.
    """
    if faces not in FACE_MODES:
        raise ValueError(f"faces must be one of {', '.join(FACE_MODES)}, got {faces!r}.")
    if on_window is not None and faces != "main":
        raise ValueError("on_window reports the main face's windows: use it with faces='main'.")
    if not face_crop:
        faces = "main"  # no detection, no people: the whole frame is the one face
    started = time.perf_counter()
    stats = stats if stats is not None else StreamStats()
    options = face_options or FaceCropOptions()
    # An already opened stream is not opened (and, for a file without a frame count, indexed) again.
    stream = video if isinstance(video, FrameStream) else FrameStream(video, fps)
    settings = _PassSettings(
        window_seconds, stride_seconds, face_crop, options, detect_interval, history_seconds, faces, on_window
    )
    while True:
        try:
            return _stream_timeline(
                stream, model, processor, settings, batch_size, device, progress, stats, model_name, started
            )
        except VideoEndedEarly as ended:
            if ended.decodable >= stream.num_frames:  # cannot happen: decoding stopped short of a wanted frame
                raise
            # The header promised frames the file does not hold: plan the windows again over the frames that exist.
            logger.warning("%s The timeline covers the %d frames that exist.", ended, ended.decodable)
            stream.num_frames = ended.decodable
            stats.__dict__.update(asdict(StreamStats()))
            settings.attempt += 1


@dataclass
class _PassSettings:
    window_seconds: float
    stride_seconds: float
    face_crop: bool
    options: FaceCropOptions
    detect_interval: float
    history_seconds: float
    faces: str
    on_window: Callable[[WindowResult], None] | None = None
    attempt: int = 0


class _SubjectCrops:
    """The crops of one subject (the main face, or one tracked person) waiting for their windows: frame index ->
    (crop, whether the face was seen there, track id), and the next window of this subject to emit."""

    def __init__(self):
        self.crops: dict[int, tuple[np.ndarray, bool, int | None]] = {}
        self.next_window = 0


def _stream_timeline(
    stream: FrameStream,
    model,
    processor,
    settings: _PassSettings,
    batch_size: int,
    device,
    progress: bool,
    stats: StreamStats,
    model_name: str,
    started: float,
) -> Timeline:
    """One streaming pass of `predict_timeline` over an opened stream."""
    rate = stream.fps
    face_crop, options = settings.face_crop, settings.options
    num_frames = int(model.config.num_frames)
    windows = plan_windows(stream.num_frames, rate, settings.window_seconds, settings.stride_seconds)
    assign_frames(windows, num_frames, processor.sampler)
    size = (processor.size["height"], processor.size["width"])
    labels = label_names(model.config)
    device = torch.device(device) if device is not None else next(model.parameters()).device

    sampled = sorted({index for window in windows for index in window.frame_indices})
    detect_step = max(1, round(settings.detect_interval * rate))
    detect_frames = set(range(0, stream.num_frames, detect_step)) if face_crop else set()
    sampled_set = set(sampled)
    wanted = sorted(sampled_set | detect_frames)
    detector = options.load_detector() if face_crop else None
    # Whole frames are searched at detection frames that are multiples of this; in between, around tracked faces.
    full_step = max(detect_step, round(options.full_frame_seconds * rate) // detect_step * detect_step)
    max_gap = max(1, round(options.max_gap_seconds * rate))
    smoothing = options.smoothing_seconds * rate
    history = max(1, round(settings.history_seconds * rate))
    crop_source = (CROP_SOURCE_MIN_SIDE, CROP_SOURCE_MIN_SIDE)
    tracker = FaceTracker(max_gap)
    # Tracks count as faces after this many detections (a stray box is not a face); a video too short for that
    # needs the face on half of its detection attempts.
    min_detections = max(1, min(options.min_track_detections, (len(detect_frames) + 1) // 2))
    # A box is settled once every detection that can move it (interpolation across a gap, smoothing) is known,
    # and once a face that starts there has had the detections it needs to count as one.
    lookahead = 0
    if face_crop:
        lookahead = max(max_gap + round(3 * smoothing), (min_detections - 1) * detect_step) + detect_step

    # Rows by subject, window position -> row. Face-free windows are left out (they are filled in at the end),
    # so that with faces="all" memory grows with the windows where people are seen, not people x windows.
    rows: dict[object, dict[int, WindowPrediction]] = {}
    subjects: dict[object, _SubjectCrops] = {}
    bar = _progress_bar(len(windows), Path(stream.path).name, progress and settings.faces == "main")

    def decided(position: int, row: WindowPrediction, crops: np.ndarray | None = None) -> None:
        bar.update(1)
        if settings.on_window is not None:
            settings.on_window(WindowResult(position, len(windows), row, crops, settings.attempt))

    def on_done(key, probabilities: np.ndarray, clip: np.ndarray) -> None:
        subject, position, fraction, track_id = key
        rows[subject][position] = _window_row(windows[position], labels, fraction, track_id, probabilities)
        decided(position, rows[subject][position], clip)

    classifier = _WindowClassifier(model, processor, device, batch_size, on_done)
    pending: deque[tuple[int, np.ndarray]] = deque()  # (index, RGB frame) waiting for its box
    last_box: list[np.ndarray | None] = [None]
    retired: set = set()

    def emit(subject, settled_upto: int) -> None:
        """Queue (or fill in as face-free) every window of `subject` whose frames are all settled."""
        crops = subjects[subject]
        subject_rows = rows.setdefault(subject, {})
        while crops.next_window < len(windows) and windows[crops.next_window].frame_indices[-1] <= settled_upto:
            position = crops.next_window
            window = windows[position]
            entries = [crops.crops.get(index) for index in window.frame_indices]
            seen = [entry is not None and entry[1] for entry in entries]
            fraction = float(np.mean(seen))
            ids = [entry[2] for entry in entries if entry is not None and entry[1] and entry[2] is not None]
            track_id = max(set(ids), key=ids.count) if ids else None
            if all(entry is not None for entry in entries) and fraction >= MIN_FACE_FRACTION:
                clip = np.stack([entry[0] for entry in entries])
                classifier.add((subject, position, fraction, track_id), clip)
            else:
                row = _window_row(window, labels, fraction, track_id)
                if fraction > 0:  # partly seen: kept, with its fraction (others are filled in at the end)
                    subject_rows[position] = row
                decided(position, row)
            crops.next_window += 1
            keep_from = (
                windows[crops.next_window].frame_indices[0] if crops.next_window < len(windows) else stream.num_frames
            )
            for index in [i for i in crops.crops if i < keep_from]:
                del crops.crops[index]
        stats.max_cached_crops = max(stats.max_cached_crops, sum(len(c.crops) for c in subjects.values()))

    def settle(count: int) -> None:
        """Crop the `count` oldest pending frames, then queue every window whose crops are all there."""
        batch = [pending.popleft() for _ in range(count)]
        indices = [index for index, _ in batch]
        tracks = []
        if face_crop:
            tracker.forget_before(indices[0] - history)
            tracks = tracker.faces(min_detections)
        if settings.faces == "all":
            # People whose track has been forgotten get no more crops: their remaining windows are face-free.
            alive = {track.track_id for track in tracker.tracks}
            for subject_id in [key for key, crops in subjects.items() if key not in alive and not crops.crops]:
                retired.add(subject_id)
                del subjects[subject_id]
            for track in tracks:
                if track.track_id in retired:
                    continue
                subject = subjects.setdefault(track.track_id, _SubjectCrops())
                boxes, found = track_boxes(track, indices, smoothing, detect_step // 2)
                for (index, frame), box, face in zip(batch, boxes, found):
                    subject.crops[index] = (crop_square(frame, box, options.margin, size), bool(face), track.track_id)
        else:
            subject = subjects.setdefault("main", _SubjectCrops())
            followed = follow_main_face(tracks, indices, smoothing, max_gap, detect_step // 2)
            if followed is not None:
                boxes, found, track_ids = followed.boxes, followed.found, followed.track_ids
                last_box[0] = boxes[-1]
            else:
                height, width = batch[0][1].shape[:2]
                box = last_box[0] if last_box[0] is not None else centre_square(height, width)
                # Without face cropping the whole frame is the face (the user says the video is a face crop).
                boxes, found, track_ids = [box] * len(batch), [not face_crop] * len(batch), [None] * len(batch)
            for (index, frame), box, face, track_id in zip(batch, boxes, found, track_ids):
                crop = crop_square(frame, box, options.margin, size) if face_crop else _resize(frame, size)
                subject.crops[index] = (crop, bool(face), track_id)
        for subject in list(subjects):
            emit(subject, indices[-1])

    try:
        for index, frame in stream.frames(wanted):
            stats.frames_decoded += 1
            if index in detect_frames:
                small = detector.detection_size(frame.height, frame.width)
                image = frame.rgb(*small) if detector.needs_color else frame.gray(*small)
                # Boxes live in the pixels of the frames kept for cropping (shrunk for large videos).
                to_crop_pixels = np.float32(shrunk_size(frame.height, frame.width, crop_source)[1] / small[1])
                live = [t.boxes[-1] for t in tracker.tracks if index - t.indices[-1] <= max_gap]
                if live and index % full_step:
                    boxes = options.locate_around(detector, image, np.stack(live) / to_crop_pixels)
                else:
                    boxes = options.locate(detector, image)
                move_boxes(boxes, to_crop_pixels)
                tracker.update(index, boxes)
                stats.detections_run += 1
                stats.frames_with_face += int(len(boxes) > 0)
                stats.max_detection_history = max(
                    stats.max_detection_history, sum(len(track.indices) for track in tracker.tracks)
                )
            if index in sampled_set:
                pending.append((index, frame.rgb(*shrunk_size(frame.height, frame.width, crop_source))))
                stats.max_pending_frames = max(stats.max_pending_frames, len(pending))
            ready = sum(1 for pending_index, _ in pending if pending_index <= index - lookahead)
            if ready:
                settle(ready)
        if pending:
            settle(len(pending))
        for subject in list(subjects) or ["main"]:
            subjects.setdefault(subject, _SubjectCrops())
            emit(subject, stream.num_frames)
        classifier.flush()
        if classifier.pending or any(crops.next_window != len(windows) for crops in subjects.values()):
            raise RuntimeError(f"windows of {stream.path} were left unclassified.")  # a bug, not a user error
    finally:
        bar.close()
    return Timeline(
        video=stream.path,
        model=model_name,
        fps=rate,
        num_frames=stream.num_frames,
        window_seconds=float(settings.window_seconds),
        stride_seconds=float(settings.stride_seconds),
        labels=labels,
        windows=_timeline_rows(rows, windows, settings.faces),
        face_crop=face_crop,
        processing_seconds=time.perf_counter() - started,
        faces=settings.faces,
    )


def _window_row(window: Window, labels, fraction: float, track_id=None, probabilities=None) -> WindowPrediction:
    """The row of one window: classified when `probabilities` are given, else face-free (no expression)."""
    best = int(np.argmax(probabilities)) if probabilities is not None else None
    return WindowPrediction(
        start=round(window.start, 4),
        end=round(window.end, 4),
        label=labels[best] if best is not None else "",
        confidence=float(probabilities[best]) if best is not None else None,
        probabilities=(
            {label: float(p) for label, p in zip(labels, probabilities)} if probabilities is not None else None
        ),
        face_found=probabilities is not None,
        face_fraction=round(float(fraction), 4),
        track_id=track_id,
    )


def _timeline_rows(rows: dict, windows: list[Window], faces: str) -> list[WindowPrediction]:
    """The rows of the timeline, face-free windows filled in: the main face's, or (faces="all") those of every
    person seen in at least one window, numbered 0, 1, ... in the order their tracks were confirmed; a video
    where nobody was seen gets one face-free row per window."""

    def complete(subject_rows: dict, track_id=None) -> list[WindowPrediction]:
        result = []
        for position, window in enumerate(windows):
            row = subject_rows.get(position)
            if row is None:
                row = _window_row(window, (), 0.0)
            row.track_id = track_id if faces == "all" else row.track_id
            result.append(row)
        return result

    if faces == "main":
        return complete(rows.get("main", {}))
    people = [subject_rows for subject_rows in rows.values() if any(row.face_found for row in subject_rows.values())]
    if not people:
        return complete({})
    return [row for number, subject_rows in enumerate(people) for row in complete(subject_rows, number)]


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Whole frame to `size` without face detection (the video is already a face crop)."""
    tensor = (
        torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].float()
    )  # a copy: frames may be read-only
    resized = torch.nn.functional.interpolate(
        tensor, size=size, mode="bilinear", antialias=True, align_corners=False
    )
    return resized[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _progress_bar(total: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, unit="window", disable=not enabled, leave=True)


__all__ = [
    "CROP_SOURCE_MIN_SIDE",
    "FACE_MODES",
    "MIN_FACE_FRACTION",
    "FrameStream",
    "VideoEndedEarly",
    "StreamStats",
    "Timeline",
    "Window",
    "WindowPrediction",
    "WindowResult",
    "assign_frames",
    "plan_windows",
    "predict_timeline",
    "resolve_device",
]
