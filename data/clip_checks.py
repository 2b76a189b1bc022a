"""Checking annotated clips against the disk (folders, frame files, frame counts) and reporting every problem at
once, with counts and examples."""

import errno
import logging
import os
import stat
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from dfer.processing.video_decoding import EncodedVideo, list_frame_files

from .annotation_files import ClipEntry, ClipProblem, DatasetCheckError
from .own_videos import VIDEO_FILE_EXTENSIONS

logger = logging.getLogger(__name__)

FRAME_CHECKS = ("header", "decode", "none")

_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")


def _frame_is_readable(path: str, check_frames: str) -> bool:
    """Whether a frame file can be read and looks like (or, with "decode", decodes as) an image. Files that
    cannot be opened at all (permission denied, a dangling link) are unreadable too."""
    try:
        return _frame_looks_readable(path, check_frames)
    except OSError:
        return False


def _folder_problem(folder: Path) -> tuple[str, str] | None:
    """(kind, detail) when `folder` is not a readable folder of frames, else None."""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return "missing folder", str(folder)
    except OSError as error:
        if error.errno == errno.ENOTDIR:
            return "missing folder", str(folder)
        reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
        return "unreadable folder", f"{reason}: {folder}"
    if not stat.S_ISDIR(info.st_mode):
        return "missing folder", f"{folder} is a file, not a folder of frames"
    return None


def _frame_looks_readable(path: str, check_frames: str) -> bool:
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


def _inspect_video_file(entry: ClipEntry, path: Path, check_frames: str):
    """(video file, its frame count or None, problems) for a clip stored as a video file: it must open as a video
    (FFmpeg reads the header), and unless `check_frames` is "none" its first frame must decode, so that a file
    that only looks like a video stops the run here rather than mid-epoch."""
    try:
        video = EncodedVideo(path)
    except (ValueError, OSError) as error:
        return path, None, [ClipProblem("unreadable video", entry.clip_id, str(error), entry.source)]
    try:
        if check_frames != "none":
            try:
                video.read([0])
            except (ValueError, OSError, RuntimeError) as error:
                detail = f"{path}: {error}"
                return path, None, [ClipProblem("no decodable frame", entry.clip_id, detail, entry.source)]
        return path, video.num_frames, []
    finally:
        video.close()


def _inspect_clip(entry: ClipEntry, root: Path, check_frames: str, check_listed_counts: bool):
    """(frame folder or video file, its frames or None, problems of this clip) for one entry."""
    folder = root / entry.relative_path
    if folder.is_file():
        return _inspect_video_file(entry, folder, check_frames)
    if folder.suffix.lower() in VIDEO_FILE_EXTENSIONS and not folder.exists():
        return folder, None, [ClipProblem("missing video", entry.clip_id, str(folder), entry.source)]
    problem = _folder_problem(folder)
    if problem is not None:
        return folder, None, [ClipProblem(problem[0], entry.clip_id, problem[1], entry.source)]
    try:
        frame_files = list_frame_files(folder)
    except ValueError as error:  # cannot be listed (permission denied)
        return folder, None, [ClipProblem("unreadable folder", entry.clip_id, str(error), entry.source)]
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


def resolve_problems(problems, what, total, on_problems, fix_hint) -> None:
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


__all__ = ["FRAME_CHECKS", "check_split", "format_problems", "resolve_problems"]
