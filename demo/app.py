"""The demo page (Gradio): upload or record a video, see the expression timeline fill in as windows finish.

`build_demo` makes the `gradio.Blocks`; `dfer demo` launches it on localhost and `space/app.py` runs the same app
as a Hugging Face Space. The page shows a progress line, the timeline plot, the per-window table (windows without
a face marked as such), a strip of the face crops the model read, a summary, and CSV / JSON / PNG downloads.

Offline by construction: Gradio's telemetry and version check are off (`analytics_enabled=False`), its default
theme uses the fonts it ships, and nothing else is fetched; `tests/demo/test_demo_browser.py` checks that a
browser loading the page requests nothing but the app's own address.
"""

import dataclasses
import logging
import os
import shutil
import tempfile
from pathlib import Path

from dfer.inference import (
    CheckpointLoadError,
    dominant_expressions,
    face_status,
    resolve_device,
    write_csv,
    write_json,
    write_plot,
)
from dfer.processing.face_detection import DETECTOR_NAMES

from .analysis import DEFAULT_MAX_VIDEO_SECONDS, AnalysisError, AnalysisSnapshot, DemoOptions, analyse_video
from .models import ModelCache, model_choices

logger = logging.getLogger(__name__)

TABLE_HEADERS = ["start (s)", "end (s)", "expression", "confidence", "face seen"]
NO_FACE = "no face"
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
        raise ImportError("the demo needs Gradio: pip install 'dfer[demo]'.") from error
    return gradio


def window_table(snapshot: AnalysisSnapshot) -> list[list[str]]:
    """The table's rows so far, in time order; a window without the face says so instead of an expression."""
    rows = []
    for position in sorted(snapshot.rows):
        row = snapshot.rows[position]
        rows.append(
            [
                f"{row.start:.1f}",
                f"{row.end:.1f}",
                row.label if row.face_found else NO_FACE,
                "" if row.confidence is None else f"{row.confidence:.2f}",
                f"{row.face_fraction:.0%}" if snapshot.options.face_crop else "face crop off",
            ]
        )
    return rows


def face_strip(snapshot: AnalysisSnapshot) -> list[tuple]:
    """Gallery items: a crop the model read for each stretch of the video, captioned with its window."""
    return [
        (crop, f"{row.start:.1f}-{row.end:.1f} s: {row.label} {row.confidence:.0%}")
        for crop, row in snapshot.face_strip()
    ]


def progress_line(snapshot: AnalysisSnapshot) -> str:
    if snapshot.finished:
        timeline = snapshot.timeline
        return (
            f"Done: **{snapshot.video_name}**, {len(timeline.windows)} windows in {timeline.processing_seconds:.1f} s "
            f"({timeline.realtime_factor:.2f}x real time)."
        )
    if not snapshot.total:
        return f"Analysing **{snapshot.video_name}** ({snapshot.num_frames / snapshot.fps:.1f} s) ..."
    return (
        f"Analysing **{snapshot.video_name}**: {snapshot.done} of {snapshot.total} windows "
        f"({snapshot.done / snapshot.total:.0%}), {snapshot.elapsed:.0f} s so far ..."
    )


def summary_text(snapshot: AnalysisSnapshot) -> str:
    timeline = snapshot.partial_timeline()
    lines = [f"**{snapshot.video_name}**: {timeline.duration:.1f} s at {timeline.fps:.2f} fps, model "
             f"`{snapshot.model_name}`", f"- {face_status(timeline)}"]  # fmt: skip
    top = dominant_expressions(timeline)
    if top:
        lines.append(f"- expressions: {top}")
    if not snapshot.finished:
        lines.append(f"- so far: {snapshot.done} of {snapshot.total} windows")
    return "\n".join(lines)


class _Analyses:
    """The server-side folders of analyses' files: one per analysis, the last `KEPT_ANALYSES` kept."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="dfer-demo-"))
        self.count = 0

    def new_folder(self) -> Path:
        self.count += 1
        folder = self.root / f"{self.count:06d}"
        folder.mkdir()
        for old in sorted(self.root.iterdir())[:-KEPT_ANALYSES]:
            shutil.rmtree(old, ignore_errors=True)
        return folder


def _page(snapshot: AnalysisSnapshot, folder: Path, update: int):
    """(progress line, plot, table, face strip, summary, downloads) for a snapshot."""
    timeline = snapshot.partial_timeline()
    plot = None
    if timeline.windows:
        plot = write_plot(timeline, folder / f"timeline-{update:04d}.png")  # a new name: the browser reloads it
    downloads = None
    if snapshot.finished:
        # The files name the upload by its name, not by the server's temporary path.
        named = dataclasses.replace(snapshot.timeline, video=snapshot.video_name)
        stem = Path(snapshot.video_name).stem or "video"
        downloads = [
            str(write_csv(named, folder / f"{stem}.csv")),
            str(write_json(named, folder / f"{stem}.json")),
            str(write_plot(named, folder / f"{stem}.png")),
        ]
    table = window_table(snapshot)
    return progress_line(snapshot), plot, table, face_strip(snapshot), summary_text(snapshot), downloads


def _message_page(message: str):
    return message, None, [], [], "", None


def build_demo(
    model: str | None,
    *,
    models_dir: str | os.PathLike | None = None,
    device="auto",
    revision: str | None = None,
    trust_remote_code: bool = False,
    max_video_seconds: float | None = DEFAULT_MAX_VIDEO_SECONDS,
    update_seconds: float = 1.0,
):
    """The demo as a `gradio.Blocks` (call `.launch()` on it). `model` (checkpoint folder or Hub repo id) is
    loaded here, so that a wrong one fails before the server starts (`CheckpointLoadError`); the picker also
    offers the checkpoints under `models_dir` (or beside `model`), loaded when first chosen. Videos longer than
    `max_video_seconds` (None: no limit) are refused."""
    gr = import_gradio()
    device = resolve_device(device)
    choices = model_choices(model, models_dir)
    if not choices:
        raise CheckpointLoadError(f"no checkpoint folder under {models_dir}; pass a checkpoint with --model.")
    models = ModelCache(device, {model: revision} if model and revision else None, trust_remote_code)
    models.get(choices[0])
    analyses = _Analyses()

    def analyse(video, model_name, window, stride, face_crop, detector, align, progress=gr.Progress()):  # noqa: B008
        if not video:
            yield _message_page("Upload a video (or record one with the webcam), then press **Analyse**.")
            return
        name = Path(video).name
        try:
            yield _message_page(f"Loading the model `{model_name}` ...")
            loaded, processor = models.get(model_name)
            options = DemoOptions(float(window), float(stride), bool(face_crop), detector, bool(align))
            folder = analyses.new_folder()
            for update, snapshot in enumerate(
                analyse_video(
                    video, loaded, processor, model_name=model_name, options=options,
                    max_seconds=max_video_seconds, device=device, update_seconds=update_seconds,
                )  # fmt: skip
            ):
                if snapshot.total:
                    progress((snapshot.done, snapshot.total), desc="windows", unit="windows")
                yield _page(snapshot, folder, update)
        except (AnalysisError, CheckpointLoadError) as error:
            yield _message_page(f"**error:** {error}")
        except Exception as error:  # the server keeps serving; the details go to its log, not to the page
            logger.exception("the demo failed on %s", video)
            yield _message_page(f"**error:** {name}: unexpected failure ({type(error).__name__}: {error}).")

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
                    choices, value=choices[0], label="Model", allow_custom_value=True,
                    info="a checkpoint folder or a Hub repo id", elem_id="dfer-model",
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
                gr.Markdown(f"Videos{limit}. Nothing leaves this machine.")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload a video, then press **Analyse**.", elem_id="dfer-status")
                plot = gr.Image(label="Timeline", type="filepath", interactive=False, elem_id="dfer-plot")
                summary = gr.Markdown(elem_id="dfer-summary")
                strip = gr.Gallery(label="Faces the model saw", columns=8, height=200, object_fit="contain",
                                   elem_id="dfer-faces")  # fmt: skip
                table = gr.Dataframe(headers=TABLE_HEADERS, datatype="str", interactive=False, label="Windows",
                                     elem_id="dfer-table")  # fmt: skip
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False,
                                    elem_id="dfer-downloads")  # fmt: skip
        button.click(
            analyse,
            inputs=[video, model_picker, window, stride, face_crop, detector, align],
            outputs=[status, plot, table, strip, summary, downloads],
        )
    return demo


__all__ = ["NO_FACE", "TABLE_HEADERS", "build_demo", "face_strip", "import_gradio", "progress_line", "window_table"]
