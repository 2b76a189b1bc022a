"""A web demo of a checkpoint (Gradio): `build_demo` makes the page that `dfer demo` serves on localhost and
`space/app.py` runs as a Hugging Face Space; `analyse_video` is the streaming analysis behind it, usable without
Gradio."""

from .analysis import (
    DEFAULT_MAX_VIDEO_SECONDS,
    AnalysisError,
    AnalysisSnapshot,
    DemoOptions,
    analyse_video,
    check_video,
)
from .app import build_demo, import_gradio
from .models import ModelCache, find_checkpoints, model_choices
from .page import PageContent, page_updates, render

__all__ = [
    "DEFAULT_MAX_VIDEO_SECONDS",
    "AnalysisError",
    "AnalysisSnapshot",
    "DemoOptions",
    "ModelCache",
    "PageContent",
    "analyse_video",
    "build_demo",
    "check_video",
    "find_checkpoints",
    "import_gradio",
    "model_choices",
    "page_updates",
    "render",
]
