"""DFEW and FERV39k as `datasets.DatasetDict`s (`train`, `test`), checked against the disk before anything trains.

Rows hold the clip's frame folder (`path`), an id, the frame count read from disk and a `ClassLabel` in the
package's order (Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear). Pixels are decoded lazily by a
`with_transform` that runs the video processor: random sampling + augmentation on `train`, deterministic
sampling on `test`.

Both the authors' layouts and the list format used by most DFER code (`<folder> <num_frames> <label 0..6>`)
are read. Every problem found (missing folders, unreadable frames, listed frame counts that disagree with the
disk, labels out of range, malformed lines) is collected over the whole split and reported at once, with counts
and examples; then loading stops, or, with `on_problems="skip"`, the bad clips are left out and counted.
"""

import csv
import logging
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from tqdm.auto import tqdm

from .video_decoding import list_frame_files, open_video
from .video_processing_dfer import DferVideoProcessor

logger = logging.getLogger(__name__)

# The package's label order (DFEW's own); every source is mapped into it by class name.
EMOTION_LABELS = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")
DFEW_FOLDS = (1, 2, 3, 4, 5)
FRAME_CHECKS = ("header", "decode", "none")

_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")


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


# Reading annotation files -----------------------------------------------------------------------------------


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


def _check_label_against_path(entries: list[ClipEntry], problems: list[ClipProblem]) -> list[ClipEntry]:
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


# Checking against the disk ----------------------------------------------------------------------------------


def _frame_is_readable(path: str, check_frames: str) -> bool:
    if check_frames == "decode":
        from PIL import Image  # the dataset path may use Pillow; the processor files may not

        try:
            with Image.open(path) as image:
                image.load()
            return True
        except (OSError, SyntaxError, ValueError):
            return False
    with open(path, "rb") as handle:
        head = handle.read(12)
    return head.startswith(_IMAGE_SIGNATURES)


def _inspect_clip(entry: ClipEntry, root: Path, check_frames: str, check_listed_counts: bool):
    """(frame folder, frames on disk or None, problems of this clip) for one entry."""
    folder = root / entry.relative_path
    if not folder.is_dir():
        return folder, None, [ClipProblem("missing folder", entry.clip_id, str(folder), entry.source)]
    frame_files = list_frame_files(folder)
    if not frame_files:
        return folder, 0, [ClipProblem("no frames", entry.clip_id, str(folder), entry.source)]
    problems = []
    if check_frames != "none":
        unreadable = [name for name in frame_files if not _frame_is_readable(name, check_frames)]
        if unreadable:
            shown = ", ".join(os.path.basename(name) for name in unreadable[:3])
            detail = f"{len(unreadable)} file(s): {shown} in {folder}"
            problems.append(ClipProblem("unreadable frame", entry.clip_id, detail, entry.source))
    if (
        check_listed_counts
        and entry.listed_num_frames is not None
        and entry.listed_num_frames != len(frame_files)
    ):
        detail = f"list says {entry.listed_num_frames}, disk has {len(frame_files)}"
        problems.append(ClipProblem("frame count mismatch", entry.clip_id, detail, entry.source))
    return folder, len(frame_files), problems


def check_split(
    entries: list[ClipEntry],
    root: Path,
    problems: list[ClipProblem],
    check_frames: str = "header",
    check_listed_counts: bool = True,
    num_workers: int = 8,
    desc: str = "clips",
) -> list[dict]:
    """Rows (path, clip_id, num_frames, label) of the clips without problems; the others' problems are added.
    Clips whose label was already rejected while reading the file are inspected too, but never kept."""
    if check_frames not in FRAME_CHECKS:
        raise ValueError(f"`check_frames` must be one of {FRAME_CHECKS}, got {check_frames!r}.")
    seen = Counter(entry.clip_id for entry in entries)
    for clip_id, count in seen.items():
        if count > 1:
            problems.append(ClipProblem("duplicate clip", clip_id, f"listed {count} times", "split"))
    # Folder listings and header reads wait on the file system: threads overlap them.
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        checks = pool.map(lambda entry: _inspect_clip(entry, root, check_frames, check_listed_counts), entries)
        # A full DFEW check reads ~12k folders: show progress, but stay quiet for small splits (tests, samples).
        inspected = list(
            tqdm(checks, total=len(entries), desc=f"Checking {desc}", unit="clip", disable=len(entries) < 2000)
        )
    rows = []
    for entry, (folder, num_frames, clip_problems) in zip(entries, inspected, strict=True):
        problems.extend(clip_problems)
        if clip_problems or entry.label is None or seen[entry.clip_id] > 1:
            continue
        rows.append(
            {"path": str(folder), "clip_id": entry.clip_id, "num_frames": num_frames, "label": entry.label}
        )
    return rows


def format_problems(problems: list[ClipProblem], what: str, total: int, examples: int = 3) -> str:
    """A report of all problems grouped by kind, with counts and a few examples each."""
    by_kind = defaultdict(list)
    for problem in problems:
        by_kind[problem.kind].append(problem)
    clips = len({problem.clip_id for problem in problems})
    lines = [f"{what}: {len(problems)} problem(s) in {clips} of {total} clips."]
    for kind, items in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        lines.append(f"  {kind}: {len(items)}, e.g.")
        lines.extend(f"    {item.clip_id}: {item.detail} ({item.source})" for item in items[:examples])
    return "\n".join(lines)


def _resolve_problems(problems, what, total, on_problems, fix_hint) -> None:
    if not problems:
        return
    report = format_problems(problems, what, total)
    if on_problems == "raise":
        raise DatasetCheckError(
            f"{report}\nNothing was loaded. {fix_hint} Or pass on_problems='skip' to leave these clips out "
            "(they are counted in the log)."
        )
    skipped = len({problem.clip_id for problem in problems})
    logger.warning("%s\nSkipped %d clip(s) with problems (on_problems='skip').", report, skipped)


# Building the DatasetDict -----------------------------------------------------------------------------------


class ClipTransform:
    """`with_transform` callable: a batch of rows -> `pixel_values` (list of (T, 3, H, W)) and `labels`.

    Random frame sampling and augmentation when `training`, deterministic otherwise; the randomness comes from
    torch, which DataLoader workers seed differently.
    """

    def __init__(self, video_processor: DferVideoProcessor, training: bool):
        self.video_processor = video_processor
        self.training = training

    def __call__(self, batch: dict) -> dict:
        options = {
            name: getattr(self.video_processor, name, None)
            for name in self.video_processor.valid_kwargs.__annotations__
        }
        options["training"] = self.training
        pixel_values = [
            self.video_processor.process_source(open_video(path), options) for path in batch["path"]
        ]
        return {"pixel_values": pixel_values, "labels": list(batch["label"])}


def _features() -> Features:
    return Features(
        {
            "path": Value("string"),
            "clip_id": Value("string"),
            "num_frames": Value("int32"),
            "label": ClassLabel(names=list(EMOTION_LABELS)),
        }
    )


def build_dataset_dict(
    splits: dict[str, list[ClipEntry]],
    root: Path,
    problems: list[ClipProblem],
    name: str,
    *,
    on_problems: str = "raise",
    check_frames: str = "header",
    check_listed_counts: bool = True,
    decode: bool = True,
    video_processor: DferVideoProcessor | None = None,
    fix_hint: str = "",
) -> DatasetDict:
    """Check every split against the disk, report, and wrap the good rows as lazily decoded datasets."""
    if on_problems not in ("raise", "skip"):
        raise ValueError(f"`on_problems` must be 'raise' or 'skip', got {on_problems!r}.")
    rows_by_split, total = {}, 0
    for split, entries in splits.items():
        rows_by_split[split] = check_split(
            entries, root, problems, check_frames, check_listed_counts, desc=f"{name} {split}"
        )
        total += len(entries)
    _resolve_problems(problems, name, total, on_problems, fix_hint)
    video_processor = video_processor or DferVideoProcessor()
    dataset_dict = DatasetDict()
    for split, rows in rows_by_split.items():
        short = sum(row["num_frames"] < video_processor.num_frames for row in rows)
        if short:
            logger.info(
                "%s %s: %d clip(s) have fewer than %d frames; their frames are spread over the slots in order.",
                name,
                split,
                short,
                video_processor.num_frames,
            )
        dataset = Dataset.from_list(rows, features=_features(), split=split)
        if decode:
            dataset = dataset.with_transform(ClipTransform(video_processor, training=split == "train"))
        dataset_dict[split] = dataset
    return dataset_dict


def _find_first(folder: Path, names: list[str]) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"None of {names} found in {folder}.")


def _list_files(annotations, fold: int | None, patterns: list[tuple[str, str]]) -> tuple[Path, Path]:
    """(train, test) list files from a (train, test) pair or a folder holding files named like `patterns`."""
    if isinstance(annotations, (list, tuple)):
        train, test = (Path(item) for item in annotations)
        return train, test
    folder = Path(annotations)
    for train_name, test_name in patterns:
        train_name, test_name = train_name.format(fold=fold), test_name.format(fold=fold)
        if (folder / train_name).is_file() and (folder / test_name).is_file():
            return folder / train_name, folder / test_name
    expected = ", ".join(f"{t.format(fold=fold)}/{s.format(fold=fold)}" for t, s in patterns)
    raise FileNotFoundError(f"No list files in {folder}: expected one of {expected}.")


def load_dfew(
    root: str | os.PathLike,
    fold: int = 1,
    *,
    annotations: str | os.PathLike | tuple | None = None,
    clip_folder: str = "clip_224x224",
    csv_label_base: int | None = None,
    on_problems: str = "raise",
    check_frames: str = "header",
    check_listed_counts: bool = True,
    decode: bool = True,
    video_processor: DferVideoProcessor | None = None,
) -> DatasetDict:
    """DFEW fold `fold` (1..5) as a `DatasetDict` with `train` and `test`.

    Args:
        root: the DFEW folder. Without `annotations`, the authors' layout is read:
            `EmoLabel_DataSplit/{train,test}(single-labeled)/set_<fold>.csv` (or `{train,test}_set_<fold>.csv`)
            with frames in `Clip/<clip_folder>/<5-digit id>/`.
        annotations: list-format files (`<folder> <num_frames> <label 0..6>`, folders relative to `root`): a
            (train, test) pair, or a folder holding `set_<fold>_train.txt` / `set_<fold>_test.txt`.
        clip_folder: "clip_224x224" (all frames) or "clip_224x224_16f" (16 time-normalised frames).
        csv_label_base: 1 for the authors' 1..7 labels, 0 for 0..6; detected from the file when None.
        on_problems: "raise" (default) stops with a report of every problem; "skip" leaves bad clips out.
        check_frames: "header" (every frame file starts like an image), "decode" (every frame decodes) or "none".
        check_listed_counts: report list frame counts that disagree with the disk (False when the lists describe
            other frames, e.g. full-clip lists used with `clip_224x224_16f`); disk counts are used either way.
        decode: attach the lazy decoding transform (`pixel_values`, `labels`); False keeps plain rows.
        video_processor: the processor whose sampling / resizing / augmentation the transform applies.
    """
    if fold not in DFEW_FOLDS:
        raise ValueError(f"DFEW has folds 1..5, got {fold}.")
    root = Path(root)
    problems: list[ClipProblem] = []
    if annotations is not None:
        train_file, test_file = _list_files(
            annotations,
            fold,
            [("set_{fold}_train.txt", "set_{fold}_test.txt"), ("train_{fold}.txt", "test_{fold}.txt")],
        )
        splits = {"train": read_clip_list(train_file, problems), "test": read_clip_list(test_file, problems)}
        hint = f"Fix {train_file.name} / {test_file.name} or the folders under {root}."
    else:
        split_folder = root / "EmoLabel_DataSplit"
        if not split_folder.is_dir():
            raise FileNotFoundError(
                f"{split_folder} not found: give the DFEW root (holding EmoLabel_DataSplit/ and Clip/), or list "
                "files with annotations=(train_list, test_list)."
            )
        splits = {}
        for split in ("train", "test"):
            csv_file = _find_first(
                split_folder,
                [
                    f"{split}(single-labeled)/set_{fold}.csv",
                    f"{split}_set_{fold}.csv",
                    f"{split}/set_{fold}.csv",
                ],
            )
            entries = read_dfew_split_csv(csv_file, problems, csv_label_base)
            clip_root = Path("Clip") / clip_folder
            splits[split] = [
                ClipEntry(e.clip_id, str(clip_root / e.relative_path), e.label, None, e.source)
                for e in entries
            ]
        hint = f"Fix the split CSVs in {split_folder} or the clip folders in {root / 'Clip' / clip_folder}."
    return build_dataset_dict(
        splits,
        root,
        problems,
        f"DFEW fold {fold}",
        on_problems=on_problems,
        check_frames=check_frames,
        check_listed_counts=check_listed_counts,
        decode=decode,
        video_processor=video_processor,
        fix_hint=hint,
    )


def load_ferv39k(
    root: str | os.PathLike,
    *,
    annotations: str | os.PathLike | tuple | None = None,
    on_problems: str = "raise",
    check_frames: str = "header",
    check_listed_counts: bool = True,
    decode: bool = True,
    video_processor: DferVideoProcessor | None = None,
) -> DatasetDict:
    """FERV39k as a `DatasetDict` with `train` and `test`.

    Args:
        root: the FERV39k folder. Without `annotations`, the authors' layout is read:
            `4_setups/All_scenes/{train_All,test_All}.csv` (lines `Action/Sad/0010 Sad`) with frames in
            `2_ClipsforFaceCrop/<Scene>/<Emotion>/<clip>/`.
        annotations: list-format files (`2_ClipsforFaceCrop/<Scene>/<Emotion>/<clip> <num_frames> <label>`,
            relative to `root`): a (train, test) pair, or a folder holding `FERV39K_train.txt` / `FERV39K_test.txt`.
            Labels are checked against the class named in the path.
        on_problems, check_frames, check_listed_counts, decode, video_processor: as in `load_dfew`.
    """
    root = Path(root)
    problems: list[ClipProblem] = []
    if annotations is not None:
        train_file, test_file = _list_files(
            annotations, None, [("FERV39K_train.txt", "FERV39K_test.txt"), ("train.txt", "test.txt")]
        )
        splits = {
            split: _check_label_against_path(read_clip_list(path, problems), problems)
            for split, path in (("train", train_file), ("test", test_file))
        }
        hint = f"Fix {train_file.name} / {test_file.name} or the folders under {root}."
    else:
        setup = root / "4_setups" / "All_scenes"
        if not setup.is_dir():
            raise FileNotFoundError(
                f"{setup} not found: give the FERV39k root (holding 4_setups/ and 2_ClipsforFaceCrop/), or list "
                "files with annotations=(train_list, test_list)."
            )
        splits = {
            split: read_ferv39k_split_csv(
                _find_first(setup, [f"{split}_All.csv", f"{split}_all.csv"]), problems
            )
            for split in ("train", "test")
        }
        hint = f"Fix the CSVs in {setup} or the clip folders in {root / '2_ClipsforFaceCrop'}."
    return build_dataset_dict(
        splits,
        root,
        problems,
        "FERV39k",
        on_problems=on_problems,
        check_frames=check_frames,
        check_listed_counts=check_listed_counts,
        decode=decode,
        video_processor=video_processor,
        fix_hint=hint,
    )


__all__ = [
    "ClipEntry",
    "ClipProblem",
    "ClipTransform",
    "DatasetCheckError",
    "EMOTION_LABELS",
    "check_split",
    "format_problems",
    "load_dfew",
    "load_ferv39k",
    "read_clip_list",
    "read_dfew_split_csv",
    "read_ferv39k_split_csv",
]
