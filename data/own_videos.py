"""A user's own labelled clips: a video folder (`root/<label>/<clip>`, optionally under split folders
`root/{train,validation,test}/`) or a manifest (CSV or JSON Lines with `path,label[,split]`), read into
`LabelledClip`s. A clip is a video file or a folder of frame images.

The split folder names follow `datasets`' own (`train`/`training`, `validation`/`valid`/`val`/`dev`,
`test`/`testing`/`eval`/`evaluation`), so a folder that `load_dataset("videofolder", data_dir=...)` reads is read
the same way here. Whatever cannot work (no class folders, a class folder with no clip, missing manifest columns,
an unknown split, a row without a label) raises `DatasetCheckError` naming the file or folder and the fix.
"""

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from dfer.processing.video_decoding import FRAME_IMAGE_EXTENSIONS

from .annotation_files import DatasetCheckError, read_text_file

# Containers FFmpeg reads that users record or download clips in (datasets' videofolder accepts these too).
VIDEO_FILE_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts")
SPLITS = ("train", "validation", "test")
# The folder / manifest names of each split, as `datasets` recognises them.
SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
    "eval": "test",
    "evaluation": "test",
}
MANIFEST_COLUMNS = ("path", "label")
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")


@dataclass(frozen=True)
class LabelledClip:
    """One clip of a user's data: where it is, its class name, its split (None: not given), and `source`
    ("manifest.csv:3" or the class folder) for messages."""

    path: Path
    label: str
    split: str | None
    source: str


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_FILE_EXTENSIONS


def is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(
        entry.is_file() and entry.suffix.lower() in FRAME_IMAGE_EXTENSIONS for entry in path.iterdir()
    )


def _visible_folders(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def _class_folder_clips(class_folder: Path, split: str | None) -> list[LabelledClip]:
    """The clips of one class folder: its video files and its sub-folders (frame folders)."""
    clips = [
        LabelledClip(entry, class_folder.name, split, str(class_folder))
        for entry in sorted(class_folder.iterdir())
        if not entry.name.startswith(".") and (is_video_file(entry) or entry.is_dir())
    ]
    if not clips:
        loose = [entry.name for entry in sorted(class_folder.iterdir()) if entry.is_file()][:3]
        found = f" (it holds {', '.join(loose)}, which are not videos)" if loose else ""
        raise DatasetCheckError(
            f"{class_folder}: the class folder {class_folder.name!r} holds no clip{found}. Put its clips in it "
            f"(video files: {', '.join(VIDEO_FILE_EXTENSIONS[:5])}, ...; or one folder of frames per clip), or "
            "remove the folder."
        )
    return clips


def _split_folders(root: Path) -> dict[str, Path]:
    splits: dict[str, Path] = {}
    for folder in _visible_folders(root):
        split = SPLIT_NAMES.get(folder.name.lower())
        if split is None:
            continue
        if split in splits:
            raise DatasetCheckError(
                f"{root}: both {splits[split].name}/ and {folder.name}/ name the {split} split; keep one."
            )
        splits[split] = folder
    return splits


def find_video_folder_clips(root: str | os.PathLike) -> list[LabelledClip]:
    """The clips of `root/<label>/<clip>` or `root/<split>/<label>/<clip>` (split folders as `SPLIT_NAMES`)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetCheckError(f"{root}: no such folder (a video folder holds one folder per class).")
    splits = _split_folders(root)
    if splits:
        others = [folder.name for folder in _visible_folders(root) if folder not in splits.values()]
        if others:
            raise DatasetCheckError(
                f"{root} mixes split folders ({', '.join(sorted(f.name for f in splits.values()))}) with other "
                f"folders ({', '.join(others[:3])}): put every class folder inside a split folder, or use no split "
                "folders at all."
            )
        sources = [(split, folder) for split, folder in sorted(splits.items(), key=lambda item: SPLITS.index(item[0]))]
    else:
        sources = [(None, root)]
    clips: list[LabelledClip] = []
    for split, folder in sources:
        class_folders = _visible_folders(folder)
        if not class_folders:
            where = f"{folder} (the {split} split)" if split else str(folder)
            raise DatasetCheckError(
                f"{where} holds no class folders: lay clips out as <root>/<label>/<clip> (a video file or a "
                "folder of frames), optionally under train/, validation/ and test/."
            )
        for class_folder in class_folders:
            clips.extend(_class_folder_clips(class_folder, split))
    return clips


def _manifest_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) of a CSV (header line first) or JSON Lines manifest."""
    text = read_text_file(path)
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames:  # `Path, Label` is the same header as `path,label`
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
        missing = [column for column in MANIFEST_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            found = ", ".join(reader.fieldnames or []) or "nothing"
            raise DatasetCheckError(
                f"{path}: the manifest has no {' and no '.join(repr(c) for c in missing)} column (its header line "
                f"reads {found}). Start the file with the header line path,label (and optionally ,split)."
            )
        return [(number, row) for number, row in enumerate(reader, start=2) if any((v or "").strip() for v in row.values())]
    if text.lstrip().startswith("["):  # a .json file holding one array of objects
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise DatasetCheckError(f"{path}:{error.lineno} is not valid JSON ({error.msg}).") from error
        lines = [(number, json.dumps(item)) for number, item in enumerate(items, start=1)]
        where = "item"
    else:
        lines = list(enumerate(text.splitlines(), start=1))
        where = ""
    rows = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetCheckError(
                f"{path}:{number} is not a JSON object ({error.msg}); a JSON Lines manifest holds one object per "
                'line, e.g. {"path": "clips/0001.mp4", "label": "happy"}.'
            ) from error
        place = f"{path} item {number}" if where else f"{path}:{number}"
        if not isinstance(row, dict):
            raise DatasetCheckError(f"{place} is not a JSON object; write one object per clip.")
        missing = [column for column in MANIFEST_COLUMNS if column not in row]
        if missing:
            raise DatasetCheckError(
                f"{place} has no {' and no '.join(repr(c) for c in missing)} key; every clip needs "
                '"path" and "label" (and optionally "split").'
            )
        rows.append((number, row))
    return rows


def read_manifest(path: str | os.PathLike) -> list[LabelledClip]:
    """The clips a manifest lists: `path` (relative to the manifest's folder, or absolute), `label` (a class
    name) and an optional `split` (train, validation, test or their `datasets` synonyms)."""
    path = Path(path)
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        raise DatasetCheckError(
            f"{path}: a manifest is a .csv (header path,label[,split]) or .jsonl file; got {path.suffix or 'no suffix'}."
        )
    if not path.is_file():
        raise DatasetCheckError(f"{path}: no such manifest file.")
    clips = []
    for number, row in _manifest_rows(path):
        source = f"{path.name}:{number}"
        clip_path, label = str(row.get("path") or "").strip(), str(row.get("label") or "").strip()
        if not clip_path or not label:
            empty = "path" if not clip_path else "label"
            raise DatasetCheckError(f"{path}:{number} has an empty {empty}; give every clip a path and a class name.")
        split_text = str(row.get("split") or "").strip()
        split = SPLIT_NAMES.get(split_text.lower()) if split_text else None
        if split_text and split is None:
            raise DatasetCheckError(
                f"{path}:{number}: split {split_text!r} is not one of {', '.join(SPLITS)}; fix the split column."
            )
        clips.append(LabelledClip(path.parent / clip_path, label, split, source))
    if not clips:
        raise DatasetCheckError(f"{path} lists no clips: add one line per clip (path,label[,split]).")
    splits_given = {clip.split is not None for clip in clips}
    if len(splits_given) > 1:
        first = next(clip for clip in clips if clip.split is None)
        raise DatasetCheckError(
            f"{first.source}: some rows name a split and this one does not; give every row a split or none."
        )
    return clips


def find_manifest(path: str | os.PathLike) -> Path:
    """The manifest named by `path`: the file itself, or `manifest.csv` / `manifest.jsonl` in a folder."""
    path = Path(path)
    if path.is_dir():
        for name in ("manifest.csv", "manifest.jsonl"):
            if (path / name).is_file():
                return path / name
        raise DatasetCheckError(
            f"{path} is a folder without manifest.csv or manifest.jsonl: pass the manifest file itself."
        )
    return path


def check_distinct_ignoring_case(names, where: str) -> None:
    """`DatasetCheckError` when two class names differ only by case: labels are matched ignoring case (a DFEW
    checkpoint's "Happy" is a folder's "happy"), and metric names are lower case."""
    by_lower: dict[str, str] = {}
    for name in names:
        other = by_lower.setdefault(name.lower(), name)
        if other != name:
            raise DatasetCheckError(
                f"{where}: the classes {other!r} and {name!r} differ only by case; give them one name (or two "
                "different names)."
            )


def class_names_of(clips: list[LabelledClip]) -> list[str]:
    """The label set of `clips`, sorted (as `datasets`' videofolder orders the class folders)."""
    names = sorted({clip.label for clip in clips})
    check_distinct_ignoring_case(names, clips[0].source if clips else "the data")
    return names


__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "SPLIT_NAMES",
    "VIDEO_FILE_EXTENSIONS",
    "LabelledClip",
    "check_distinct_ignoring_case",
    "class_names_of",
    "find_manifest",
    "find_video_folder_clips",
    "is_frame_folder",
    "is_video_file",
    "read_manifest",
]
