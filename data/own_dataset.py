"""A user's own labelled clips (a video folder or a manifest, read by own_videos.py) as a `datasets.DatasetDict`,
with the same checks against the disk as DFEW: every clip opens (a video file's first frame decodes, a frame
folder's frames look like images), and every problem is reported at once before anything trains.

The splits are the ones the data names (`train`, `validation`, `test`); data without splits is all `train` (the
training run holds out a test split from it). The label set is the sorted class names unless `class_names` gives
it (the order of the model's outputs); a clip whose class is not in `class_names` is a problem naming its row.
"""

import os
from pathlib import Path

from datasets import DatasetDict

from dfer.processing.video_processing_dfer import DferVideoProcessor

from .annotation_files import ClipEntry, ClipProblem, DatasetCheckError
from .builders import build_dataset_dict
from .own_videos import (
    SPLITS,
    LabelledClip,
    check_distinct_ignoring_case,
    class_names_of,
    find_manifest,
    find_video_folder_clips,
    read_manifest,
)


def _entries_by_split(
    clips: list[LabelledClip], root: Path, names: list[str], problems: list[ClipProblem]
) -> dict[str, list[ClipEntry]]:
    index_of = {name: index for index, name in enumerate(names)}
    splits: dict[str, list[ClipEntry]] = {}
    for clip in clips:
        # Clips under the root are named relative to it (as messages and `clip_id` show them); a manifest may also
        # name clips elsewhere by absolute path.
        absolute, base = os.path.abspath(clip.path), os.path.abspath(root)
        relative = os.path.relpath(absolute, base) if absolute.startswith(base + os.sep) else absolute
        label = index_of.get(clip.label)
        if label is None:
            problems.append(
                ClipProblem("unknown label", relative, f"class {clip.label!r} is not one of {', '.join(names)}", clip.source)
            )
        splits.setdefault(clip.split or "train", []).append(ClipEntry(relative, relative, label, None, clip.source))
    return {split: splits[split] for split in SPLITS if split in splits}


def _checked_class_names(class_names, clips: list[LabelledClip], where: str) -> list[str]:
    if class_names is None:
        return class_names_of(clips)
    names = [str(name) for name in class_names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated or not names:
        problem = f"repeats {', '.join(repeated)}" if repeated else "is empty"
        raise DatasetCheckError(f"{where}: the class_names list {problem}; give each class once.")
    check_distinct_ignoring_case(names, f"{where} (class_names)")
    return names


def _load_own_clips(
    clips: list[LabelledClip], root: Path, name: str, fix_hint: str, class_names, **options
) -> DatasetDict:
    names = _checked_class_names(class_names, clips, name)
    problems: list[ClipProblem] = []
    splits = _entries_by_split(clips, root, names, problems)
    return build_dataset_dict(splits, root, problems, name, fix_hint=fix_hint, label_names=names, **options)


def load_video_folder(
    root: str | os.PathLike,
    *,
    class_names: list[str] | None = None,
    on_problems: str = "raise",
    check_frames: str = "header",
    decode: bool = True,
    video_processor: DferVideoProcessor | None = None,
) -> DatasetDict:
    """`root/<label>/<clip>` (or `root/<split>/<label>/<clip>`) as a `DatasetDict`; a clip is a video file or a
    folder of frames. Labels are the class folders' names, in `class_names` order (default: sorted).

    Args:
        on_problems, check_frames, decode, video_processor: as in `load_dfew`.
    """
    root = Path(root)
    clips = find_video_folder_clips(root)
    return _load_own_clips(
        clips,
        root,
        f"video folder {root}",
        f"Fix or remove these clips under {root}.",
        class_names,
        on_problems=on_problems,
        check_frames=check_frames,
        check_listed_counts=False,
        decode=decode,
        video_processor=video_processor,
    )


def load_manifest(
    path: str | os.PathLike,
    *,
    class_names: list[str] | None = None,
    on_problems: str = "raise",
    check_frames: str = "header",
    decode: bool = True,
    video_processor: DferVideoProcessor | None = None,
) -> DatasetDict:
    """The clips a manifest lists (CSV with the header `path,label[,split]`, or JSON Lines with those keys; paths
    relative to the manifest's folder) as a `DatasetDict`. `path` may also be a folder holding `manifest.csv` or
    `manifest.jsonl` (what `dfer prepare` writes).

    Args:
        class_names, on_problems, check_frames, decode, video_processor: as in `load_video_folder`.
    """
    manifest = find_manifest(path)
    clips = read_manifest(manifest)
    return _load_own_clips(
        clips,
        manifest.parent,
        f"manifest {manifest}",
        f"Fix these rows of {manifest.name} or the clips they name.",
        class_names,
        on_problems=on_problems,
        check_frames=check_frames,
        check_listed_counts=False,
        decode=decode,
        video_processor=video_processor,
    )


__all__ = ["load_manifest", "load_video_folder"]
