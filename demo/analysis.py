"""One analysis of an uploaded video for the demo: the checks that come first (the file reads, it is not too
long), then `predict_timeline` in a worker thread, reported as a series of `AnalysisSnapshot`s while windows
finish, so that the page fills in as the video is processed rather than after the whole file.

Nothing here knows Gradio: `dfer.demo.app` turns snapshots into what the page shows.
"""

import math
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfer.inference import FrameStream, Timeline, WindowPrediction, WindowResult, predict_timeline
from dfer.modeling import label_names
from dfer.processing.face_crop import FaceCropOptions
from dfer.processing.face_detection import import_cv2

# One pass at a time in a process: a pass stopped because its visitor left ends at its next window, and the next
# analysis's pass waits for that (in its own worker thread) instead of sharing the CPU with it.
_ONE_PASS = threading.Lock()
# The strip of faces the model saw holds at most this many crops: one per stretch of the video.
MAX_FACE_STRIP = 24
DEFAULT_MAX_VIDEO_SECONDS = 600.0
# Windows per model call. Smaller than `dfer predict`'s 8: a window is shown once its batch is classified, and
# the first ones should appear soon (scripts/benchmark_demo.py measures both).
DEMO_BATCH_SIZE = 2


class AnalysisError(ValueError):
    """An upload the demo cannot analyse (unreadable, too long, settings out of range); the message names the
    file by its name and says what to do."""


@dataclass
class DemoOptions:
    """The settings a visitor chooses on the page."""

    window_seconds: float = 2.0
    stride_seconds: float = 1.0
    face_crop: bool = True
    face_detector: str = "auto"
    align_faces: bool = True

    def check(self) -> None:
        if not (self.window_seconds > 0 and self.stride_seconds > 0):
            raise AnalysisError(
                f"the window ({self.window_seconds} s) and the stride ({self.stride_seconds} s) must be positive."
            )


@dataclass
class AnalysisSnapshot:
    """How far an analysis has come: the rows decided so far by window position, a face crop for stretches of
    the video, and, once it is over, the whole `timeline`."""

    video_name: str
    model_name: str
    labels: list[str]
    fps: float
    num_frames: int
    options: DemoOptions
    total: int = 0
    attempt: int = 0
    rows: dict[int, WindowPrediction] = field(default_factory=dict)
    # stretch of the video -> (window position, the middle crop the model read there)
    faces: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)
    elapsed: float = 0.0
    timeline: Timeline | None = None

    @property
    def done(self) -> int:
        return len(self.rows)

    @property
    def finished(self) -> bool:
        return self.timeline is not None

    def partial_timeline(self) -> Timeline:
        """The finished timeline, or one of the rows decided so far (in time order) for plotting."""
        if self.timeline is not None:
            return self.timeline
        return Timeline(
            video=self.video_name,
            model=self.model_name,
            fps=self.fps,
            num_frames=self.num_frames,
            window_seconds=self.options.window_seconds,
            stride_seconds=self.options.stride_seconds,
            labels=list(self.labels),
            windows=[self.rows[position] for position in sorted(self.rows)],
            face_crop=self.options.face_crop,
            processing_seconds=self.elapsed,
        )

    def add(self, result: WindowResult) -> None:
        if (result.attempt, result.total) != (self.attempt, self.total):
            # The first result, or a truncated video planned again over the frames it has: start afresh.
            self.attempt, self.total, self.rows, self.faces = result.attempt, result.total, {}, {}
        self.rows[result.position] = result.row
        if result.crops is not None:
            # One crop (the middle frame the model read) for every stretch of total / MAX_FACE_STRIP windows: the
            # strip stays the same size however long the video is.
            stretch = result.position // max(1, math.ceil(self.total / MAX_FACE_STRIP))
            kept = self.faces.get(stretch)
            if kept is None or result.position < kept[0]:  # the stretch's first classified window
                # A copy: a view would keep the window's whole clip alive.
                self.faces[stretch] = (result.position, result.crops[len(result.crops) // 2].copy())

    def face_strip(self) -> list[tuple[np.ndarray, WindowPrediction]]:
        """(crop, row) of the faces kept for the strip, in time order."""
        return [(crop, self.rows[position]) for position, crop in sorted(self.faces.values(), key=lambda k: k[0])]


class _Stopped(Exception):
    """Raised inside the worker when the visitor has gone: the pass ends at its next window."""


def check_video(video: str | os.PathLike, max_seconds: float | None) -> FrameStream:
    """The opened video (frame count and rate known), or `AnalysisError` naming the file: missing, unreadable,
    no video stream, or longer than `max_seconds`."""
    name = Path(video).name
    try:
        stream = FrameStream(video)
    except (FileNotFoundError, ValueError, TypeError) as error:
        raise AnalysisError(named_message(error, video) + " Upload a video file (mp4, webm, mov, mkv, avi ...).") from error
    duration = stream.num_frames / stream.fps
    if max_seconds is not None and duration > max_seconds:
        raise AnalysisError(
            f"{name} is {duration:.0f} s long; this demo takes videos of up to {max_seconds:g} s. Cut it shorter, "
            "or run `dfer predict` on it, which has no length limit."
        )
    return stream


def analyse_video(
    video: str | os.PathLike,
    model,
    processor,
    *,
    model_name: str,
    options: DemoOptions,
    max_seconds: float | None = DEFAULT_MAX_VIDEO_SECONDS,
    device=None,
    update_seconds: float = 1.0,
    batch_size: int = DEMO_BATCH_SIZE,
) -> Iterator[AnalysisSnapshot]:
    """Snapshots of the analysis of `video`: one at the start, one whenever windows have finished and
    `update_seconds` have passed since the last, and a last one with the whole timeline. It is one object,
    updated in place between yields (copy it to keep a state). Windows are classified `batch_size` at a time.

    Raises `AnalysisError` (before any work, or when the pass fails on the file) with a message that names the
    file by its name. Closing the iterator early (the visitor left) returns at once and stops the pass at its
    next window; passes run one at a time, so the next analysis's pass starts when that one has ended.
    """
    options.check()
    stream = check_video(video, max_seconds)
    labels = label_names(model.config)
    snapshot = AnalysisSnapshot(
        Path(video).name, model_name, labels, stream.fps, stream.num_frames, options
    )
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    outcome: dict = {}

    def collect(result: WindowResult) -> None:
        if stop.is_set():
            raise _Stopped
        results.put(result)

    def work() -> None:
        try:
            with _ONE_PASS:
                if stop.is_set():  # the visitor left while an earlier pass was ending
                    raise _Stopped
                outcome["timeline"] = predict_timeline(
                    stream,  # opened once, by check_video
                    model,
                    processor,
                    window_seconds=options.window_seconds,
                    stride_seconds=options.stride_seconds,
                    face_crop=options.face_crop,
                    face_options=FaceCropOptions(face_detector=options.face_detector, align=options.align_faces),
                    device=device,
                    batch_size=batch_size,
                    model_name=model_name,
                    on_window=collect,
                )
        except BaseException as error:  # handed to the generator, which raises it or reports it
            outcome["error"] = error

    started = time.perf_counter()
    worker = threading.Thread(target=work, name=f"dfer-demo {snapshot.video_name}", daemon=True)
    worker.start()
    try:
        yield snapshot
        last_update = time.perf_counter()
        while worker.is_alive() or not results.empty():
            try:
                snapshot.add(results.get(timeout=0.1))
            except queue.Empty:
                continue
            while not results.empty():
                snapshot.add(results.get_nowait())
            now = time.perf_counter()
            if now - last_update >= update_seconds and worker.is_alive():
                snapshot.elapsed = now - started
                last_update = now
                yield snapshot
        worker.join()
        error = outcome.get("error")
        if isinstance(error, _Stopped):
            return
        if isinstance(error, (FileNotFoundError, ValueError, ImportError, import_cv2().error)):
            raise AnalysisError(named_message(error, video)) from error
        if error is not None:
            raise error
        snapshot.timeline = outcome["timeline"]
        snapshot.elapsed = time.perf_counter() - started
        yield snapshot
    finally:
        # No join: Gradio may close this generator on its event loop, which must not wait for a window to end.
        stop.set()


def named_message(error: BaseException, video: str | os.PathLike) -> str:
    """The error's message with the upload's path (a temporary folder of the server) replaced by its name."""
    return str(error).replace(os.fspath(video), Path(video).name)


__all__ = [
    "DEFAULT_MAX_VIDEO_SECONDS",
    "MAX_FACE_STRIP",
    "AnalysisError",
    "AnalysisSnapshot",
    "DemoOptions",
    "analyse_video",
    "check_video",
    "named_message",
]
