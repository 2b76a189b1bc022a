"""Reading the annotation files of DFER datasets: the list format (`<folder> <num_frames> <label>`), DFEW's split
CSVs and FERV39k's scene lists, into `ClipEntry`s. Malformed lines and labels out of range are collected as
`ClipProblem`s rather than raised one by one, so a report can show them all."""

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .labels import EMOTION_LABELS

logger = logging.getLogger(__name__)


class DatasetCheckError(ValueError):
    """Raised when annotation files and the frames on disk disagree; the message lists every problem."""


@dataclass(frozen=True)
class ClipEntry:
    """One clip as an annotation file describes it; `source` is "file:line" for messages."""

    clip_id: str
    relative_path: str
    label: int | None
    listed_num_frames: int | None
    source: str


@dataclass(frozen=True)
class ClipProblem:
    kind: str
    clip_id: str
    detail: str
    source: str





def _annotation_lines(path: Path):
    """(line number, stripped text) of the non-empty lines; CRLF endings and a UTF-8 BOM are tolerated."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if text:
                yield number, text


def read_clip_list(path: str | os.PathLike, problems: list[ClipProblem]) -> list[ClipEntry]:
    """The common list format, one clip per line: `<frame folder> <num_frames> <label 0..6>` (paths relative to
    the dataset root). Malformed lines and labels out of range go to `problems`."""
    path = Path(path)
    entries = []
    for number, text in _annotation_lines(path):
        source = f"{path.name}:{number}"
        parts = text.split()
        if len(parts) != 3 or not parts[1].lstrip("-").isdigit() or not parts[2].lstrip("-").isdigit():
            problems.append(
                ClipProblem("malformed line", text, "expected '<folder> <num_frames> <label>'", source)
            )
            continue
        relative_path = os.path.normpath(parts[0])
        clip_id = (
            relative_path.split(os.sep, 1)[-1]
            if relative_path.startswith("dataset" + os.sep)
            else relative_path
        )
        label = _checked_label(int(parts[2]), 0, clip_id, source, problems)
        entries.append(ClipEntry(clip_id, relative_path, label, int(parts[1]), source))
    return entries


def read_dfew_split_csv(
    path: str | os.PathLike, problems: list[ClipProblem], label_base: int | None = None
) -> list[ClipEntry]:
    """A DFEW split CSV (`video_name,label`). The authors number labels 1..7; some redistributions 0..6, so the
    base is detected from the file (a 0 means 0-based, a 7 means 1-based) unless `label_base` is given."""
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if header[:2] != ["video_name", "label"]:
        raise DatasetCheckError(f"{path} is not a DFEW split CSV: expected the header 'video_name,label'.")
    parsed = []
    for number, row in enumerate(rows[1:], start=2):
        source = f"{path.name}:{number}"
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2 or not row[0].strip().isdigit() or not row[1].strip().lstrip("-").isdigit():
            problems.append(
                ClipProblem("malformed line", ",".join(row), "expected '<video id>,<label>'", source)
            )
            continue
        # Spreadsheet round trips drop leading zeros: the folders are 5-digit ids.
        parsed.append((row[0].strip().zfill(5), int(row[1]), source))
    if label_base is None:
        labels = {label for _, label, _ in parsed}
        label_base = 0 if 0 in labels else 1
        if 0 in labels and len(EMOTION_LABELS) in labels:
            logger.warning("%s has both label 0 and label 7; reading it as 0-based (0..6).", path)
    return [
        ClipEntry(
            clip_id, clip_id, _checked_label(label, label_base, clip_id, source, problems), None, source
        )
        for clip_id, label, source in parsed
    ]


def read_ferv39k_split_csv(path: str | os.PathLike, problems: list[ClipProblem]) -> list[ClipEntry]:
    """FERV39k's `4_setups/All_scenes/*.csv`: lines `<Scene>/<Emotion>/<clip> <Emotion>`."""
    path = Path(path)
    entries = []
    for number, text in _annotation_lines(path):
        source = f"{path.name}:{number}"
        parts = text.replace(",", " ").split()
        if len(parts) != 2:
            problems.append(
                ClipProblem("malformed line", text, "expected '<Scene>/<Emotion>/<clip> <Emotion>'", source)
            )
            continue
        relative_path, emotion = os.path.normpath(parts[0]), parts[1]
        label = _label_from_name(emotion, relative_path, source, problems)
        entries.append(
            ClipEntry(relative_path, os.path.join("2_ClipsforFaceCrop", relative_path), label, None, source)
        )
    return entries


def _checked_label(
    value: int, base: int, clip_id: str, source: str, problems: list[ClipProblem]
) -> int | None:
    label = value - base
    if 0 <= label < len(EMOTION_LABELS):
        return label
    problems.append(
        ClipProblem(
            "label out of range",
            clip_id,
            f"label {value}, expected {base}..{base + len(EMOTION_LABELS) - 1}",
            source,
        )
    )
    return None


def _label_from_name(name: str, clip_id: str, source: str, problems: list[ClipProblem]) -> int | None:
    by_name = {label.lower(): index for index, label in enumerate(EMOTION_LABELS)}
    if name.lower() in by_name:
        return by_name[name.lower()]
    problems.append(ClipProblem("label out of range", clip_id, f"unknown class {name!r}", source))
    return None


def check_labels_against_paths(entries: list[ClipEntry], problems: list[ClipProblem]) -> list[ClipEntry]:
    """FERV39k paths name the class (`<Scene>/<Emotion>/<clip>`): a listed index must agree with that name,
    because some tools number FERV39k classes alphabetically."""
    checked = []
    by_name = {label.lower(): index for index, label in enumerate(EMOTION_LABELS)}
    for entry in entries:
        parts = entry.relative_path.split(os.sep)
        named = by_name.get(parts[-2].lower()) if len(parts) >= 2 else None
        if entry.label is not None and named is not None and named != entry.label:
            problems.append(
                ClipProblem(
                    "label disagrees with path",
                    entry.clip_id,
                    f"label {entry.label} ({EMOTION_LABELS[entry.label]}) but the folder says {parts[-2]}",
                    entry.source,
                )
            )
            entry = ClipEntry(entry.clip_id, entry.relative_path, None, entry.listed_num_frames, entry.source)
        checked.append(entry)
    return checked


__all__ = ["ClipEntry", "ClipProblem", "DatasetCheckError", "check_labels_against_paths", "read_clip_list", "read_dfew_split_csv", "read_ferv39k_split_csv"]
