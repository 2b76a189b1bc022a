"""Running a trained model on ordinary videos: streaming expression timelines (`predict_timeline`), the files
they are written to (CSV, JSON, PNG), and `predict_videos`, the library function behind `dfer predict`."""

from .predict import (
    DEFAULT_OUTPUT_DIR,
    CheckpointLoadError,
    OutputFolderError,
    VideoPrediction,
    check_output_folder,
    load_checkpoint,
    output_stems,
    predict_videos,
)
from .timeline import (
    FrameStream,
    Timeline,
    Window,
    WindowPrediction,
    WindowResult,
    plan_windows,
    predict_timeline,
    resolve_device,
)
from .writers import dominant_expressions, face_status, summarize, write_csv, write_json, write_plot

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "CheckpointLoadError",
    "FrameStream",
    "OutputFolderError",
    "Timeline",
    "VideoPrediction",
    "Window",
    "WindowPrediction",
    "WindowResult",
    "check_output_folder",
    "dominant_expressions",
    "face_status",
    "load_checkpoint",
    "output_stems",
    "plan_windows",
    "predict_timeline",
    "predict_videos",
    "resolve_device",
    "summarize",
    "write_csv",
    "write_json",
    "write_plot",
]
