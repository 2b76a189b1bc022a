"""Small trees of a user's own clips (video folders) and of MAFW (the authors' layout, from the real lists)."""

from collections import Counter
from pathlib import Path

from processing_fixtures import annotation_lines, write_frame_folder, write_video


def write_video_folder(root: Path, layout: dict[str, dict[str, int]], size=(16, 16), num_frames=6) -> Path:
    """`root/<split>/<label>/` (split "" for none) with `count` clips each: frame folders `c<i>` for even i,
    mp4 files `v<i>.mp4` (one frame more) for odd i."""
    for split, classes in layout.items():
        for label, count in classes.items():
            folder = root / split / label if split else root / label
            for index in range(count):
                if index % 2:
                    write_video(folder / f"v{index}.mp4", num_frames + 1, size=size)
                else:
                    write_frame_folder(folder / f"c{index}", num_frames, size=size)
    return root


def write_mafw_tree(root: Path, folds=(1,), train_per_class: int = 2, test_per_class: int = 1, size=(16, 16)) -> Path:
    """A MAFW root with `data/faces/<id>/` frame folders for a few clips per class of each fold's real list, and
    `annotations/set_<k>_{train,test}.txt` listing just those (no newline after the last line, as the real lists)."""
    for fold in folds:
        for split, per_class_wanted in (("train", train_per_class), ("test", test_per_class)):
            kept, per_class = [], Counter()
            for line in annotation_lines(f"mafw/set_{fold}_{split}.txt"):
                folder, _, label = line.split()
                if per_class[label] < per_class_wanted:
                    per_class[label] += 1
                    if not (root / folder).is_dir():
                        write_frame_folder(root / folder, 5, size=size)
                    kept.append(f"{folder} 5 {label}")
            (root / "annotations").mkdir(parents=True, exist_ok=True)
            (root / "annotations" / f"set_{fold}_{split}.txt").write_text("\n".join(kept))
    return root
