"""What the demo page shows for an `AnalysisSnapshot`: the progress line, the timeline plot (a PNG), the table
rows, the face strip, the summary and the download files; and `page_updates`, which turns an analysis's
snapshots into page contents, drawing less often when drawing gets slow. No Gradio here: the page's parts are
plain values (text, file paths, lists)."""

import dataclasses
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from dfer.inference import dominant_expressions, face_status, write_csv, write_json, write_plot

from .analysis import AnalysisSnapshot

TABLE_HEADERS = ["start (s)", "end (s)", "expression", "confidence", "face seen"]
NO_FACE = "no face"
# While a video is analysed, the page is redrawn only after this many times the last redraw's duration has passed,
# so that drawing takes at most about a quarter of the time.
RENDER_SHARE = 3.0


@dataclasses.dataclass
class PageContent:
    """The page's parts, in the order of `PageContent.fields()`; None leaves a part empty."""

    status: str
    plot: str | None = None
    table: list[list[str]] = dataclasses.field(default_factory=list)
    faces: list[tuple] = dataclasses.field(default_factory=list)
    summary: str = ""
    downloads: list[str] | None = None

    def values(self) -> tuple:
        return tuple(getattr(self, field.name) for field in dataclasses.fields(self))


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
        (crop, f"{row.start:g}-{row.end:g} s {row.label} {row.confidence:.0%}")
        for crop, row in snapshot.face_strip()
    ]


def _windows(count: int) -> str:
    return f"{count} window{'' if count == 1 else 's'}"


def progress_line(snapshot: AnalysisSnapshot) -> str:
    """'Analysing clip.mp4: 12 of 60 windows (20%) ...', or 'Done: ...' with the speed."""
    if snapshot.finished:
        timeline = snapshot.timeline
        return (
            f"Done: **{snapshot.video_name}**, {_windows(len(timeline.windows))} in {timeline.processing_seconds:.1f} "
            f"s ({timeline.realtime_factor:.2f}x real time)."
        )
    if not snapshot.total:
        return f"Analysing **{snapshot.video_name}** ({snapshot.num_frames / snapshot.fps:.1f} s) ..."
    return (
        f"Analysing **{snapshot.video_name}**: {snapshot.done} of {_windows(snapshot.total)} "
        f"({snapshot.done / snapshot.total:.0%}), {snapshot.elapsed:.0f} s so far ..."
    )


def summary_text(snapshot: AnalysisSnapshot) -> str:
    """Length, frame rate, model, face status and the main expressions (over the face windows so far)."""
    timeline = snapshot.partial_timeline()
    lines = [f"**{snapshot.video_name}**: {timeline.duration:.1f} s at {timeline.fps:.2f} fps, model "
             f"`{snapshot.model_name}`", f"- {face_status(timeline)}"]  # fmt: skip
    top = dominant_expressions(timeline)
    if top:
        lines.append(f"- expressions: {top}")
    if not snapshot.finished:
        lines.append(f"- so far: {snapshot.done} of {_windows(snapshot.total)}")
    return "\n".join(lines)


def render(snapshot: AnalysisSnapshot, folder: Path, update: int) -> PageContent:
    """The page for a snapshot. Its plot is written in `folder` under a new name each time (so that the browser
    loads it again); once finished, the downloads go to `folder/downloads`, the plot among them."""
    downloads = None
    if snapshot.finished:
        # The files name the upload by its name, not by the server's temporary path.
        named = dataclasses.replace(snapshot.timeline, video=snapshot.video_name)
        stem = Path(snapshot.video_name).stem or "video"
        files = folder / "downloads"  # apart from the page's plots, whatever the upload is called
        downloads = [
            str(write_csv(named, files / f"{stem}.csv")),
            str(write_json(named, files / f"{stem}.json")),
            str(write_plot(named, files / f"{stem}.png")),
        ]
        plot = downloads[-1]
    else:
        timeline = snapshot.partial_timeline()
        plot = str(write_plot(timeline, folder / f"timeline-{update:04d}.png")) if timeline.windows else None
    return PageContent(
        progress_line(snapshot), plot, window_table(snapshot), face_strip(snapshot), summary_text(snapshot), downloads
    )


def page_updates(snapshots: Iterable[AnalysisSnapshot], folder: Path) -> Iterator[tuple[AnalysisSnapshot, PageContent]]:
    """(snapshot, page) for the snapshots worth drawing: all of them while drawing is quick, fewer once the plot
    of a long timeline takes a while (the pass needs that time), and always the last one. The plot of the page
    before is deleted once the next is drawn (the server has copied it by then)."""
    shown_at, render_seconds, previous_plot = 0.0, 0.0, None
    for update, snapshot in enumerate(snapshots):
        started = time.perf_counter()
        if not snapshot.finished and started - shown_at < RENDER_SHARE * render_seconds:
            continue
        page = render(snapshot, folder, update)
        shown_at, render_seconds = started, time.perf_counter() - started
        if previous_plot is not None and previous_plot != page.plot:
            Path(previous_plot).unlink(missing_ok=True)
        previous_plot = page.plot if not snapshot.finished else None
        yield snapshot, page


__all__ = [
    "NO_FACE",
    "RENDER_SHARE",
    "TABLE_HEADERS",
    "PageContent",
    "face_strip",
    "page_updates",
    "progress_line",
    "render",
    "summary_text",
    "window_table",
]
