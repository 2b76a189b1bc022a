"""The demo page (Gradio): upload or record a video, see the expression timeline fill in as windows finish.

`build_demo` makes the `gradio.Blocks`; `dfer demo` launches it on localhost and `space/app.py` runs the same app
as a Hugging Face Space. The page shows a progress line, the timeline plot, the per-window table (windows without
a face marked as such), a strip of the face crops the model read, a summary, and CSV / JSON / PNG downloads.

Offline by construction: Gradio's telemetry and version check are off (`analytics_enabled=False`), its default
theme uses the fonts it ships, and nothing else is fetched; `tests/demo/test_demo_browser.py` checks that a
browser loading the page requests nothing but the app's own address.
"""

import logging
import os
import shutil
import tempfile
import threading
from contextlib import closing
from pathlib import Path

from dfer.inference import CheckpointLoadError, resolve_device
from dfer.processing.face_crop import FaceCropOptions
from dfer.processing.face_detection import DETECTOR_NAMES

from .analysis import DEFAULT_MAX_VIDEO_SECONDS, AnalysisError, DemoOptions, analyse_video, named_message
from .models import ModelCache, model_choices
from .page import TABLE_HEADERS, PageContent, page_updates

logger = logging.getLogger(__name__)

# Finished analyses whose files are kept on the server for download (older ones are deleted).
KEPT_ANALYSES = 8
# Gradio's own cache of uploads and outputs: every hour, files older than two hours are deleted.
GRADIO_CACHE_CLEANUP = (3600, 7200)


def import_gradio():
    """The gradio module, or an ImportError that says how to install it."""
    # Read by Gradio when a Blocks is made without `analytics_enabled`; set for any the demo does not make itself.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as error:
        raise ImportError("the demo needs Gradio: pip install 'gradio>=6,<7' (dfer's demo extra).") from error
    return gradio


class _Analyses:
    """The server-side folders of analyses' files: one per analysis, the last `KEPT_ANALYSES` kept; all of them
    are deleted when the server's process ends."""

    def __init__(self):
        self._root = tempfile.TemporaryDirectory(prefix="dfer-demo-")
        self._count = 0
        self._lock = threading.Lock()

    def new_folder(self) -> Path:
        with self._lock:  # analyses may run at once when Gradio's concurrency limit is raised
            self._count += 1
            root = Path(self._root.name)
            folder = root / f"{self._count:06d}"
            folder.mkdir()
            for old in sorted(root.iterdir())[:-KEPT_ANALYSES]:
                shutil.rmtree(old, ignore_errors=True)
        return folder


def _message_page(message: str) -> tuple:
    return PageContent(message).values()


def build_demo(
    model: str | None,
    *,
    models_dir: str | os.PathLike | None = None,
    device="auto",
    revision: str | None = None,
    trust_remote_code: bool = False,
    max_video_seconds: float | None = DEFAULT_MAX_VIDEO_SECONDS,
    allow_other_models: bool = False,
    update_seconds: float = 1.0,
):
    """The demo as a `gradio.Blocks` (call `.launch()` on it).

    `model` (checkpoint folder or Hub repo id) and the default face detector are loaded here, so that a wrong
    model (`CheckpointLoadError`) or a missing detector library (`ImportError`) fails before the server starts.
    The model picker also offers the checkpoints under `models_dir` (or beside `model`), loaded when first
    chosen; with `allow_other_models` it takes any folder or repo id typed in (off by default: whoever can reach
    the page could make the server load whatever they name). `revision` and `trust_remote_code` apply to
    `model` only. Videos longer than `max_video_seconds` (None: no limit) are refused; the page is updated about
    every `update_seconds` while a video is analysed.
    """
    gr = import_gradio()
    device = resolve_device(device)
    choices = model_choices(model, models_dir)
    if not choices:
        raise CheckpointLoadError(f"no checkpoint folder under {models_dir}; pass a checkpoint with --model.")
    models = ModelCache(
        device, {model: revision} if model and revision else None, trusted={model} if trust_remote_code else ()
    )
    models.get(choices[0])
    FaceCropOptions().load_networks()  # the page's default face step
    analyses = _Analyses()

    def analyse(video, model_name, window, stride, face_crop, detector, align, progress=gr.Progress()):  # noqa: B008
        if not video:
            yield _message_page("Upload a video (or record one with the webcam), then press **Analyse**.")
            return
        if model_name not in choices and not allow_other_models:
            yield _message_page(f"**error:** choose one of the models offered, not {model_name!r}.")
            return
        name = Path(video).name
        try:
            if not models.is_loaded(model_name):
                yield _message_page(f"Loading the model `{model_name}` ...")
            loaded, processor = models.get(model_name)
            # An emptied number box arrives as None (Gradio itself refuses numbers under the boxes' minimum).
            options = DemoOptions(float(window or 0), float(stride or 0), bool(face_crop), detector, bool(align))
            snapshots = analyse_video(
                video, loaded, processor, model_name=model_name, options=options, max_seconds=max_video_seconds,
                device=device, update_seconds=update_seconds,
            )  # fmt: skip
            # Closed explicitly: when the visitor leaves, Gradio closes this generator, and the pass must stop too.
            with closing(snapshots), closing(page_updates(snapshots, analyses.new_folder())) as pages:
                for snapshot, page in pages:
                    if snapshot.total:
                        progress((snapshot.done, snapshot.total), desc="Analysing", unit="windows")
                    yield page.values()
        except (AnalysisError, CheckpointLoadError) as error:
            yield _message_page(f"**error:** {error}")
        except Exception as error:  # the server keeps serving; the details go to its log, not to the page
            logger.exception("the demo failed on %s", video)
            yield _message_page(
                f"**error:** {name}: unexpected failure ({type(error).__name__}: {named_message(error, video)})."
            )

    with gr.Blocks(title="dfer: facial expressions over time", analytics_enabled=False,
                   delete_cache=GRADIO_CACHE_CLEANUP) as demo:  # fmt: skip
        gr.Markdown(
            "# Facial expressions over time\n"
            "Upload a video of a face (or record one). It is cut into windows, the face is found and cropped in "
            "each, and the model classifies the expression of every window where a face was seen."
        )
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Video", sources=["upload", "webcam"], elem_id="dfer-video")
                model_picker = gr.Dropdown(
                    choices, value=choices[0], label="Model", allow_custom_value=allow_other_models,
                    info="a checkpoint folder or a Hub repo id" if allow_other_models else None, elem_id="dfer-model",
                )  # fmt: skip
                with gr.Row():
                    window = gr.Number(2.0, label="Window (s)", minimum=0.1, step=0.5, elem_id="dfer-window")
                    stride = gr.Number(1.0, label="Stride (s)", minimum=0.1, step=0.5, elem_id="dfer-stride")
                with gr.Row():
                    face_crop = gr.Checkbox(True, label="Find and crop the face", elem_id="dfer-face-crop")
                    align = gr.Checkbox(True, label="Align the face (eyes level)", elem_id="dfer-align")
                detector = gr.Dropdown(list(DETECTOR_NAMES), value="auto", label="Face detector",
                                       elem_id="dfer-detector")  # fmt: skip
                button = gr.Button("Analyse", variant="primary", elem_id="dfer-analyse")
                limit = f" up to {max_video_seconds:g} s long" if max_video_seconds else ""
                gr.Markdown(f"Videos{limit}. They are analysed by the server of this page and sent nowhere else.")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload a video, then press **Analyse**.", elem_id="dfer-status")
                plot = gr.Image(label="Timeline", type="filepath", interactive=False, elem_id="dfer-plot")
                summary = gr.Markdown(elem_id="dfer-summary")
                strip = gr.Gallery(label="Faces the model saw", columns=6, fit_columns=False, height=250,
                                   object_fit="contain", elem_id="dfer-faces")  # fmt: skip
                table = gr.Dataframe(headers=TABLE_HEADERS, datatype="str", interactive=False, label="Windows",
                                     elem_id="dfer-table")  # fmt: skip
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False,
                                    elem_id="dfer-downloads")  # fmt: skip
        button.click(
            analyse,
            inputs=[video, model_picker, window, stride, face_crop, detector, align],
            outputs=[status, plot, table, strip, summary, downloads],
            # Gradio's progress bar over the status line only: over the other parts it would hide the windows
            # already shown.
            show_progress_on=[status],
        )
    return demo


__all__ = ["build_demo", "import_gradio"]
