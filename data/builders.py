"""DFEW, FERV39k and MAFW as `datasets.DatasetDict`s (`train`, `test`), checked against the disk before anything
trains.

Rows hold the clip's frame folder or video file (`path`), an id, the frame count read from disk and a
`ClassLabel` in the dataset's label order (DFEW and FERV39k: Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear;
MAFW: its eleven classes, `MAFW_LABELS`). Pixels are decoded lazily by a
`with_transform` that runs the video processor: random sampling + augmentation on `train`, deterministic
sampling on `test`.

Both the authors' layouts and the list format used by most DFER code (`<folder> <num_frames> <label 0..6>`)
are read. Every problem found (missing folders, unreadable frames, listed frame counts that disagree with the
disk, labels out of range, malformed lines) is collected over the whole split and reported at once, with counts
and examples; then loading stops, or, with `on_problems="skip"`, the bad clips are left out and counted.
"""

import logging
import os
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from dfer.processing.video_decoding import open_video
from dfer.processing.video_processing_dfer import DferVideoProcessor

from .annotation_files import (
    ClipEntry,
    ClipProblem,
    DatasetCheckError,
    check_labels_against_paths,
    dfew_csv_label_base,
    dfew_entries,
    parse_dfew_split_csv,
    read_clip_list,
    read_ferv39k_split_csv,
)
from .clip_checks import check_split, resolve_problems
from .labels import EMOTION_LABELS, MAFW_LABELS

logger = logging.getLogger(__name__)

DFEW_FOLDS = (1, 2, 3, 4, 5)

# Where the DFEW split CSVs of a fold may lie under EmoLabel_DataSplit/ (the authors' names first).
DFEW_CSV_PATTERNS = ("{split}(single-labeled)/set_{fold}.csv", "{split}_set_{fold}.csv", "{split}/set_{fold}.csv")


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


def _features(label_names) -> Features:
    return Features(
        {
            "path": Value("string"),
            "clip_id": Value("string"),
            "num_frames": Value("int32"),
            "label": ClassLabel(names=list(label_names)),
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
    label_names=EMOTION_LABELS,
) -> DatasetDict:
    """Check every split against the disk, report, and wrap the good rows as lazily decoded datasets whose
    `label` is a `ClassLabel` of `label_names`."""
    if on_problems not in ("raise", "skip"):
        raise ValueError(f"`on_problems` must be 'raise' or 'skip', got {on_problems!r}.")
    leaked = {str(root / folder) for folder in _clips_in_several_splits(splits, problems)}
    rows_by_split, total = {}, 0
    for split, entries in splits.items():
        rows = check_split(entries, root, problems, check_frames, check_listed_counts, desc=f"{name} {split}")
        rows_by_split[split] = [row for row in rows if row["path"] not in leaked]
        total += len(entries)
    # Lines refused while reading (malformed, outside the root) are clips too, though no entry was made for them.
    total = max(total, len({problem.clip_id for problem in problems}))
    resolve_problems(problems, name, total, on_problems, fix_hint)
    empty = [split for split, rows in rows_by_split.items() if not rows]
    if empty:
        raise DatasetCheckError(
            f"{name}: no clip of the {' and '.join(empty)} split(s) is left once the clips with problems are "
            f"skipped; nothing was loaded. {fix_hint}"
        )
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
        dataset = Dataset.from_list(rows, features=_features(label_names), split=split)
        if decode:
            dataset = dataset.with_transform(ClipTransform(video_processor, training=split == "train"))
        dataset_dict[split] = dataset
    return dataset_dict


def _clips_in_several_splits(splits: dict[str, list[ClipEntry]], problems: list[ClipProblem]) -> set[str]:
    """Frame folders (relative to the root) listed in more than one split; each is a problem, reported against
    the line of its later listing: a clip in both train and test would be tested on what was learnt."""
    first_seen: dict[str, tuple[str, ClipEntry]] = {}
    leaked: set[str] = set()
    for split, entries in splits.items():
        for entry in entries:
            key = os.path.normpath(entry.relative_path)
            seen = first_seen.setdefault(key, (split, entry))
            if seen[0] != split:
                problems.append(
                    ClipProblem(
                        "clip in two splits",
                        entry.clip_id,
                        f"in {seen[0]} ({seen[1].source}) and in {split}",
                        entry.source,
                    )
                )
                leaked.add(key)
    return leaked


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


def _find_dfew_csv(split_folder: Path, split: str, fold: int) -> tuple[str, Path]:
    """(pattern, path) of the split CSV of `split` and `fold`, in the first of `DFEW_CSV_PATTERNS` that exists."""
    names = [pattern.format(split=split, fold=fold) for pattern in DFEW_CSV_PATTERNS]
    path = _find_first(split_folder, names)
    return DFEW_CSV_PATTERNS[names.index(str(path.relative_to(split_folder)))], path


def _dfew_csv_rows(split_folder: Path, patterns: dict[str, str], rows: dict[str, list]) -> dict[str, list]:
    """Rows of every DFEW split CSV under `split_folder` (all folds, both splits, named like this fold's), for
    deciding the label numbering once for the whole dataset. The other folds' own problems are not this load's
    business: their malformed rows are ignored and files that cannot be read are left out."""
    by_file = {}
    for split, pattern in patterns.items():
        for fold in DFEW_FOLDS:
            name = pattern.format(split=split, fold=fold)
            if name in rows:
                by_file[name] = rows[name]
                continue
            if not (split_folder / name).is_file():
                continue
            try:
                by_file[name] = parse_dfew_split_csv(split_folder / name, [], name)
            except DatasetCheckError:
                continue
    return by_file


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
        csv_label_base: 1 for the authors' 1..7 labels, 0 for 0..6. When None it is decided once from all the
            split CSVs in EmoLabel_DataSplit/ (every fold, train and test): 1 when a 7 appears and no 0, 0 when a 0
            appears and no 7; anything else is refused as ambiguous (pass it explicitly).
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
        if csv_label_base not in (None, 0, 1):
            raise ValueError(f"`csv_label_base` must be 0, 1 or None (decided from the CSVs), got {csv_label_base!r}.")
        found = {split: _find_dfew_csv(split_folder, split, fold) for split in ("train", "test")}
        names = {split: str(path.relative_to(split_folder)) for split, (_, path) in found.items()}
        rows = {names[split]: parse_dfew_split_csv(path, problems, names[split]) for split, (_, path) in found.items()}
        label_base = csv_label_base
        if label_base is None:
            patterns = {split: pattern for split, (pattern, _) in found.items()}
            label_base = dfew_csv_label_base(_dfew_csv_rows(split_folder, patterns, rows))
        clip_root = Path("Clip") / clip_folder
        splits = {
            split: [
                ClipEntry(e.clip_id, str(clip_root / e.relative_path), e.label, None, e.source)
                for e in dfew_entries(rows[names[split]], label_base, problems)
            ]
            for split in ("train", "test")
        }
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
            split: check_labels_against_paths(read_clip_list(path, problems), problems)
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


def _find_list_folder(root: Path, annotations, fold: int, patterns) -> tuple[Path, Path]:
    """(train, test) list files: from `annotations` when given, else from the first of `root/annotations`,
    `root` that holds this fold's files."""
    if annotations is not None:
        return _list_files(annotations, fold, patterns)
    for folder in (root / "annotations", root):
        try:
            return _list_files(folder, fold, patterns)
        except FileNotFoundError:
            continue
    expected = " / ".join(name.format(fold=fold) for name in patterns[0])
    raise FileNotFoundError(
        f"No MAFW list files for fold {fold} in {root / 'annotations'} or {root}: pass the folder holding {expected} "
        "(e.g. DFER-CLIP's annotation/ lists: data/faces/<id> <num_frames> <label 0..10>) with --annotations."
    )


MAFW_FOLDS = (1, 2, 3, 4, 5)
MAFW_FACES = "data/faces/"


def _from_mafw_faces(listed: str) -> str:
    """A listed MAFW clip relative to the MAFW root: public lists carry the absolute path of the machine they were
    made on (`/data/.../MAFW/data/faces/00025`), whose part from `data/faces/` on is the authors' layout."""
    position = listed.replace("\\", "/").find(MAFW_FACES)
    return listed[position:] if position > 0 else listed


def load_mafw(
    root: str | os.PathLike,
    fold: int = 1,
    *,
    annotations: str | os.PathLike | tuple | None = None,
    on_problems: str = "raise",
    check_frames: str = "header",
    check_listed_counts: bool = True,
    decode: bool = True,
    video_processor: DferVideoProcessor | None = None,
) -> DatasetDict:
    """MAFW fold `fold` (1..5) of the single-label protocol as a `DatasetDict` with `train` and `test`, labelled
    with `MAFW_LABELS` (11 classes).

    Args:
        root: the MAFW folder, in the authors' layout: face-crop frames in `data/faces/<5-digit id>/`.
        annotations: the 5-fold list files (`data/faces/<id> <num_frames> <label 0..10>`, folders relative to
            `root`, labels in `MAFW_LABELS` order): a (train, test) pair, or a folder holding
            `set_<fold>_train.txt` / `set_<fold>_test.txt`. Default: `root/annotations/`, else `root`.
        on_problems, check_frames, check_listed_counts, decode, video_processor: as in `load_dfew`.
    """
    if fold not in MAFW_FOLDS:
        raise ValueError(f"MAFW has folds 1..5, got {fold}.")
    root = Path(root)
    problems: list[ClipProblem] = []
    patterns = [
        ("set_{fold}_train.txt", "set_{fold}_test.txt"),
        ("MAFW_set_{fold}_train.txt", "MAFW_set_{fold}_test.txt"),  # DFER-CLIP's names
        ("train_{fold}.txt", "test_{fold}.txt"),
    ]
    train_file, test_file = _find_list_folder(root, annotations, fold, patterns)
    splits = {
        split: read_clip_list(path, problems, num_labels=len(MAFW_LABELS), rebase=_from_mafw_faces)
        for split, path in (("train", train_file), ("test", test_file))
    }
    return build_dataset_dict(
        splits,
        root,
        problems,
        f"MAFW fold {fold}",
        on_problems=on_problems,
        check_frames=check_frames,
        check_listed_counts=check_listed_counts,
        decode=decode,
        video_processor=video_processor,
        fix_hint=f"Fix {train_file.name} / {test_file.name} or the folders under {root}.",
        label_names=MAFW_LABELS,
    )


__all__ = ["ClipTransform", "DFEW_FOLDS", "MAFW_FOLDS", "build_dataset_dict", "load_dfew", "load_ferv39k", "load_mafw"]
