"""A `Timeline` as files: CSV and JSON (start, end, top label, all class probabilities, whether a face was found)
and a PNG plot of the probabilities over time; and its summary for the terminal. Every file is written through a
temporary file of its own and renamed, so an interrupted run never leaves a half-written output."""

import csv
import json
import os
from pathlib import Path

import numpy as np

from dfer.utils import write_atomically

from .timeline import Timeline


def _write_atomically(path: Path, write, mode: str = "w") -> None:
    """`write_atomically` into `path`'s folder, made first when missing (the output folder of `dfer predict`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, write, mode)


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_csv(timeline: Timeline, path: str | os.PathLike) -> Path:
    """One row per window (per person and window with faces="all"): start, end, track_id, label, confidence,
    face_found, face_fraction, then one column per label. A window without a face has an empty label,
    confidence and probabilities."""

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(
            ["start", "end", "track_id", "label", "confidence", "face_found", "face_fraction", *timeline.labels]
        )
        for row in timeline.windows:
            probabilities = row.probabilities or {}
            writer.writerow(
                [
                    f"{row.start:.3f}",
                    f"{row.end:.3f}",
                    "" if row.track_id is None else row.track_id,
                    row.label,
                    _number(row.confidence, 6),
                    int(row.face_found),
                    f"{row.face_fraction:.3f}",
                    *(_number(probabilities.get(label), 6) for label in timeline.labels),
                ]
            )

    _write_atomically(Path(path), write)
    return Path(path)


def write_json(timeline: Timeline, path: str | os.PathLike) -> Path:
    """The whole timeline with its metadata (video, model, fps, window, stride, labels, label shares); windows
    without a face have null confidence and probabilities."""
    _write_atomically(Path(path), lambda handle: handle.write(json.dumps(timeline.to_dict(), indent=1) + "\n"))
    return Path(path)


def write_plot(timeline: Timeline, path: str | os.PathLike) -> Path:
    """PNG: each label's probability over time (window centres), one panel per person with faces="all".

    Windows without a face are shaded grey and the curves stop there: a gap, not a line drawn across windows
    where nothing was seen."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    people = timeline.track_ids or [None]
    figure = Figure(figsize=(10, 1.2 + 2.8 * len(people)), dpi=100, layout="constrained")
    panels = figure.subplots(len(people), 1, sharex=True, squeeze=False)[:, 0]
    for axes, person in zip(panels, people):
        rows = [row for row in timeline.windows if person is None or row.track_id == person]
        times = np.array([(row.start + row.end) / 2 for row in rows])
        for label in timeline.labels:
            values = [row.probabilities[label] if row.probabilities else np.nan for row in rows]
            # Markers always: a face window between two gaps has no line segment, only its point.
            axes.plot(times, values, marker="o", markersize=3 if len(times) < 30 else 1.5, label=label)
        for row in rows:
            if not row.face_found:
                axes.axvspan(row.start, row.end, color="0.85", zorder=0, linewidth=0)
        axes.set_xlim(0, max(timeline.duration, 1e-3))
        axes.set_ylim(0, 1)
        axes.set_ylabel("probability")
        found, total = timeline.face_windows(person)
        who = "" if person is None else f"person {person}: "
        axes.set_title(f"{who}face in {found} of {total} windows (grey: no face)", fontsize="medium")
    panels[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    panels[-1].set_xlabel("time (s)")
    figure.suptitle(f"{Path(timeline.video).name}: expression probabilities")
    _write_atomically(Path(path), lambda handle: figure.savefig(handle, format="png"), mode="wb")
    return Path(path)


def face_status(timeline: Timeline) -> str:
    """'face found in N of M windows' (per person with faces="all"), or that no face was found."""
    if not timeline.face_crop:
        return "face crop off: every window classified"
    found, total = timeline.face_windows()
    if found == 0:
        return f"no face found in any of the {total} windows: no expression reported"
    if timeline.faces == "all":
        people = "; ".join(
            f"person {person}: {timeline.face_windows(person)[0]}" for person in timeline.track_ids
        )
        return f"face found in {found} of {total} windows ({len(timeline.track_ids)} people; {people})"
    return f"face found in {found} of {total} windows"


def dominant_expressions(timeline: Timeline, count: int = 3) -> str:
    """'Happy 60%, Neutral 30%': the `count` most frequent top labels over the face windows ("" without any)."""
    shares = sorted(timeline.label_shares().items(), key=lambda item: -item[1])
    return ", ".join(f"{label} {share:.0%}" for label, share in shares[:count] if share > 0)


def summarize(timeline: Timeline) -> str:
    """A few lines for the terminal: length, windows, face coverage, the dominant expressions (over face
    windows only; none when no face was seen), speed."""
    top = dominant_expressions(timeline)
    lines = [
        f"{timeline.video}: {timeline.duration:.1f} s at {timeline.fps:.2f} fps, {len(timeline.windows)} windows "
        f"of {timeline.window_seconds:g} s every {timeline.stride_seconds:g} s"
        if timeline.faces == "main"
        else f"{timeline.video}: {timeline.duration:.1f} s at {timeline.fps:.2f} fps, windows of "
        f"{timeline.window_seconds:g} s every {timeline.stride_seconds:g} s",
        f"  {face_status(timeline)}",
    ]
    if top:
        lines.append(f"  expressions: {top}")
    lines.append(f"  processed in {timeline.processing_seconds:.1f} s ({timeline.realtime_factor:.2f}x real time)")
    return "\n".join(lines)


__all__ = ["dominant_expressions", "face_status", "summarize", "write_csv", "write_json", "write_plot"]
