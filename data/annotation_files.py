"""Reading the annotation files of DFER datasets: the list format (`<folder> <num_frames> <label>`), DFEW's split
CSVs and FERV39k's scene lists, into `ClipEntry`s. Malformed lines, labels out of range and paths that leave the
dataset root are collected as `ClipProblem`s rather than raised one by one, so a report can show them all.
A file that cannot be read as a whole (unreadable, not UTF-8, the wrong format, no rows) raises
`DatasetCheckError` naming it, as does a set of DFEW CSVs whose label numbering (0..6 or 1..7) cannot be told."""

import csv
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .labels import EMOTION_LABELS


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


OUTSIDE_ROOT = "path outside the dataset root"

_INTEGER = re.compile(r"-?[0-9]+")
_CLIP_NUMBER = re.compile(r"[0-9]+")


def _is_integer(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also accepts characters such as '²' that `int` rejects."""
    return _INTEGER.fullmatch(text) is not None


def read_text_file(path: Path) -> str:
    """The whole file as text (UTF-8, an optional BOM); unreadable or non-UTF-8 files raise `DatasetCheckError`
    naming the file and line."""
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
        raise DatasetCheckError(f"Cannot read the annotation file {path}: {reason}.") from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DatasetCheckError(
            f"{path}:{line} is not UTF-8 text (byte {data[error.start]:#04x}); save the annotation file as UTF-8."
        ) from error


def _annotation_lines(path: Path):
    """(line number, stripped text) of the non-empty lines; CRLF endings and a UTF-8 BOM are tolerated."""
    for number, line in enumerate(io.StringIO(read_text_file(path), newline=""), start=1):
        text = line.strip()
        if text:
            yield number, text


def _no_clips(path: Path, what: str = "lists no clips") -> DatasetCheckError:
    return DatasetCheckError(f"{path} {what}: every split needs at least one clip. Check that it is the right file.")


def inside_root(listed: str, clip_id: str, source: str, problems: list[ClipProblem]) -> str | None:
    """`listed` normalised, when it is a relative path that stays inside the dataset root; otherwise None, and
    a problem naming the line. Annotation files only ever name folders under the root: an absolute path or a
    `..` that climbs out of it would read (and train on, or report) files from elsewhere."""
    relative = os.path.normpath(listed)
    if os.path.isabs(relative) or relative == os.pardir or relative.startswith(os.pardir + os.sep):
        problems.append(
            ClipProblem(OUTSIDE_ROOT, clip_id, f"{listed!r} is not a folder under the dataset root", source)
        )
        return None
    return relative


def read_clip_list(
    path: str | os.PathLike,
    problems: list[ClipProblem],
    num_labels: int = len(EMOTION_LABELS),
    rebase: Callable[[str], str] | None = None,
) -> list[ClipEntry]:
    """The common list format, one clip per line: `<frame folder> <num_frames> <label 0..num_labels-1>` (paths
    relative to the dataset root; `rebase` turns a listed path into one, e.g. an absolute path of the machine
    the list was made on). Malformed lines and labels out of range go to `problems`."""
    path = Path(path)
    entries, lines = [], 0
    for number, text in _annotation_lines(path):
        lines += 1
        source = f"{path.name}:{number}"
        parts = text.split()
        if len(parts) != 3 or not _is_integer(parts[1]) or not _is_integer(parts[2]):
            problems.append(
                ClipProblem("malformed line", text, "expected '<folder> <num_frames> <label>'", source)
            )
            continue
        listed = rebase(parts[0]) if rebase else parts[0]
        relative_path = inside_root(listed, parts[0], source, problems)
        if relative_path is None:
            continue
        clip_id = (
            relative_path.split(os.sep, 1)[-1]
            if relative_path.startswith("dataset" + os.sep)
            else relative_path
        )
        label = _checked_label(int(parts[2]), 0, clip_id, source, problems, num_labels)
        entries.append(ClipEntry(clip_id, relative_path, label, int(parts[1]), source))
    if not lines:
        raise _no_clips(path)
    return entries


@dataclass(frozen=True)
class DfewCsvRow:
    """One row of a DFEW split CSV before its label numbering is known."""

    clip_id: str
    label: int
    source: str


def parse_dfew_split_csv(
    path: str | os.PathLike, problems: list[ClipProblem], name: str | None = None
) -> list[DfewCsvRow]:
    """The rows of a DFEW split CSV (`video_name,label`) with their labels as written; malformed rows go to
    `problems`. A file that is not such a CSV, or has a header and no rows, raises `DatasetCheckError`. `name`
    is how row sources name the file (default: its file name; train and test CSVs are often both `set_1.csv`)."""
    path = Path(path)
    name = name or path.name
    rows = list(csv.reader(io.StringIO(read_text_file(path), newline="")))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if header[:2] != ["video_name", "label"]:
        raise DatasetCheckError(f"{path} is not a DFEW split CSV: expected the header 'video_name,label'.")
    parsed, data_rows = [], 0
    for number, row in enumerate(rows[1:], start=2):
        source = f"{name}:{number}"
        if not row or not "".join(row).strip():
            continue
        data_rows += 1
        # The id names a folder: digits only, so no row can point outside the clip folder.
        if len(row) < 2 or not _CLIP_NUMBER.fullmatch(row[0].strip()) or not _is_integer(row[1].strip()):
            problems.append(
                ClipProblem("malformed line", ",".join(row), "expected '<video id>,<label>'", source)
            )
            continue
        # Spreadsheet round trips drop leading zeros: the folders are 5-digit ids.
        parsed.append(DfewCsvRow(row[0].strip().zfill(5), int(row[1]), source))
    if not data_rows:
        raise _no_clips(path, "has the header 'video_name,label' but no rows")
    return parsed


def dfew_csv_label_base(rows_by_file: dict[str, list[DfewCsvRow]]) -> int:
    """The label numbering of a set of DFEW split CSVs, decided once for all of them: 1 (the authors' 1..7) when a
    7 appears and no 0, 0 (0..6, some redistributions) when a 0 appears and no 7. Anything else is ambiguous and
    raises `DatasetCheckError` naming `csv_label_base` and the rows that disagree, so that train and test (and
    every fold) are always read with the same numbering."""
    zeros = [row for rows in rows_by_file.values() for row in rows if row.label == 0]
    sevens = [row for rows in rows_by_file.values() for row in rows if row.label == len(EMOTION_LABELS)]
    if zeros and not sevens:
        return 0
    if sevens and not zeros:
        return 1
    files = ", ".join(str(name) for name in rows_by_file)
    if not zeros:
        raise DatasetCheckError(
            f"Cannot tell whether the labels of {files} are numbered 1..7 (the DFEW authors') or 0..6: neither a 0 "
            "nor a 7 appears. Pass csv_label_base=1 or csv_label_base=0."
        )

    def shown(rows: list[DfewCsvRow]) -> str:
        listed = ", ".join(f"{row.source} (clip {row.clip_id})" for row in rows[:5])
        return f"{len(rows)} row(s): {listed}{', ...' if len(rows) > 5 else ''}"

    raise DatasetCheckError(
        f"The labels of {files} include both 0 and 7, so they fit neither 0..6 nor 1..7.\n"
        f"  label 0 in {shown(zeros)}\n"
        f"  label 7 in {shown(sevens)}\n"
        "Pass csv_label_base=1 if the labels are 1..7 (the rows labelled 0 are then reported as out of range) or "
        "csv_label_base=0 if they are 0..6 (the rows labelled 7 are)."
    )


def dfew_entries(rows: list[DfewCsvRow], label_base: int, problems: list[ClipProblem]) -> list[ClipEntry]:
    """`ClipEntry`s of parsed DFEW CSV rows under one label numbering; labels out of range go to `problems`,
    each against its own row."""
    if label_base not in (0, 1):
        raise ValueError(f"`csv_label_base` must be 0 or 1, got {label_base!r}.")
    return [
        ClipEntry(
            row.clip_id,
            row.clip_id,
            _checked_label(row.label, label_base, row.clip_id, row.source, problems),
            None,
            row.source,
        )
        for row in rows
    ]


def read_dfew_split_csv(
    path: str | os.PathLike, problems: list[ClipProblem], label_base: int | None = None
) -> list[ClipEntry]:
    """A DFEW split CSV (`video_name,label`). The authors number labels 1..7; some redistributions 0..6. Without
    `label_base`, the numbering is decided from this file alone (`dfew_csv_label_base`); `load_dfew` decides it
    from all the dataset's CSVs instead."""
    rows = parse_dfew_split_csv(path, problems)
    if label_base is None:
        label_base = dfew_csv_label_base({str(path): rows})
    return dfew_entries(rows, label_base, problems)


def read_ferv39k_split_csv(path: str | os.PathLike, problems: list[ClipProblem]) -> list[ClipEntry]:
    """FERV39k's `4_setups/All_scenes/*.csv`: lines `<Scene>/<Emotion>/<clip> <Emotion>`."""
    path = Path(path)
    entries, lines = [], 0
    for number, text in _annotation_lines(path):
        lines += 1
        source = f"{path.name}:{number}"
        parts = text.replace(",", " ").split()
        if len(parts) != 2:
            problems.append(
                ClipProblem("malformed line", text, "expected '<Scene>/<Emotion>/<clip> <Emotion>'", source)
            )
            continue
        relative_path, emotion = inside_root(parts[0], parts[0], source, problems), parts[1]
        if relative_path is None:
            continue
        label = _label_from_name(emotion, relative_path, source, problems)
        entries.append(
            ClipEntry(relative_path, os.path.join("2_ClipsforFaceCrop", relative_path), label, None, source)
        )
    if not lines:
        raise _no_clips(path)
    return entries


def _checked_label(
    value: int,
    base: int,
    clip_id: str,
    source: str,
    problems: list[ClipProblem],
    num_labels: int = len(EMOTION_LABELS),
) -> int | None:
    label = value - base
    if 0 <= label < num_labels:
        return label
    problems.append(
        ClipProblem(
            "label out of range",
            clip_id,
            f"label {value}, expected {base}..{base + num_labels - 1}",
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


__all__ = [
    "OUTSIDE_ROOT",
    "ClipEntry",
    "ClipProblem",
    "DatasetCheckError",
    "DfewCsvRow",
    "check_labels_against_paths",
    "dfew_csv_label_base",
    "dfew_entries",
    "inside_root",
    "parse_dfew_split_csv",
    "read_clip_list",
    "read_dfew_split_csv",
    "read_text_file",
    "read_ferv39k_split_csv",
]
