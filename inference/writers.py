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


def write_csv(timeline: Timeline, path: str | os.PathLike) -> Path:
    """One row per window: start, end, label, confidence, face_found, face_fraction, then one column per label."""

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(
            ["start", "end", "label", "confidence", "face_found", "face_fraction", *timeline.labels]
        )
        for row in timeline.windows:
            writer.writerow(
                [
                    f"{row.start:.3f}",
                    f"{row.end:.3f}",
                    row.label,
                    f"{row.confidence:.6f}",
                    int(row.face_found),
                    f"{row.face_fraction:.3f}",
                    *(f"{row.probabilities[label]:.6f}" for label in timeline.labels),
                ]
            )

    _write_atomically(Path(path), write)
    return Path(path)


def write_json(timeline: Timeline, path: str | os.PathLike) -> Path:
    """The whole timeline with its metadata (video, model, fps, window, stride, labels, label shares)."""
    _write_atomically(Path(path), lambda handle: handle.write(json.dumps(timeline.to_dict(), indent=1) + "\n"))
    return Path(path)


def write_plot(timeline: Timeline, path: str | os.PathLike) -> Path:
    """PNG: each label's probability over time (window centres); windows without a face are shaded grey."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    times = np.array([(row.start + row.end) / 2 for row in timeline.windows])
    figure = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for label in timeline.labels:
        values = [row.probabilities[label] for row in timeline.windows]
        axes.plot(times, values, marker="o" if len(times) < 30 else None, markersize=3, label=label)
    for row in timeline.windows:
        if not row.face_found:
            axes.axvspan(row.start, row.end, color="0.85", zorder=0, linewidth=0)
    axes.set_xlim(0, max(timeline.duration, 1e-3))
    axes.set_ylim(0, 1)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("probability")
    axes.set_title(f"{Path(timeline.video).name}: expression probabilities (grey: no face)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    _write_atomically(Path(path), lambda handle: figure.savefig(handle, format="png"), mode="wb")
    return Path(path)


def summarize(timeline: Timeline) -> str:
    """A few lines for the terminal: length, windows, face coverage, the dominant expressions, speed."""
    shares = sorted(timeline.label_shares().items(), key=lambda item: -item[1])
    top = ", ".join(f"{label} {share:.0%}" for label, share in shares[:3] if share > 0)
    with_face = sum(row.face_found for row in timeline.windows)
    lines = [
        f"{timeline.video}: {timeline.duration:.1f} s at {timeline.fps:.2f} fps, {len(timeline.windows)} windows "
        f"of {timeline.window_seconds:g} s every {timeline.stride_seconds:g} s",
        f"  face found in {with_face}/{len(timeline.windows)} windows"
        if timeline.face_crop
        else "  face crop off",
        f"  expressions: {top}",
        f"  processed in {timeline.processing_seconds:.1f} s ({timeline.realtime_factor:.2f}x real time)",
    ]
    return "\n".join(lines)


__all__ = ["summarize", "write_csv", "write_json", "write_plot"]
