"""DFEW / FERV39k builders on small frame trees that mirror the real annotation lists (tests/fixtures/annotations)."""

import logging
from collections import Counter

import pytest
import torch
from processing_fixtures import annotation_file, annotation_lines, write_frame_folder

from dfer.data import (
    EMOTION_LABELS,
    DatasetCheckError,
    load_dfew,
    load_ferv39k,
    read_clip_list,
    read_dfew_split_csv,
)
from dfer.processing import DferVideoProcessor

DFEW_FOLD_SIZES = {1: (9356, 2341), 2: (9356, 2341), 3: (9357, 2340), 4: (9358, 2339), 5: (9361, 2336)}
DFEW_CLASS_TOTALS = {
    "Happy": 2445,
    "Sad": 1894,
    "Neutral": 2669,
    "Angry": 2173,
    "Surprise": 1469,
    "Disgust": 145,
    "Fear": 902,
}


def small_processor() -> DferVideoProcessor:
    return DferVideoProcessor(size=8, num_frames=4)


def test_real_dfew_lists_give_the_published_fold_sizes_and_class_totals(tmp_path):
    problems = []
    tests = {
        fold: read_clip_list(annotation_file(f"set_{fold}_test.txt", tmp_path), problems)
        for fold in range(1, 6)
    }
    train_1 = read_clip_list(annotation_file("set_1_train.txt", tmp_path), problems)
    assert problems == []
    assert (len(train_1), len(tests[1])) == DFEW_FOLD_SIZES[1]
    all_clips = [entry for fold in tests.values() for entry in fold]
    ids = [entry.clip_id for entry in all_clips]
    assert len(ids) == len(set(ids)) == 11697  # test folds are disjoint and cover every clip
    for fold, entries in tests.items():
        assert 11697 - len(entries) == DFEW_FOLD_SIZES[fold][0]
    assert set(ids) - {entry.clip_id for entry in tests[1]} == {entry.clip_id for entry in train_1}
    totals = Counter(EMOTION_LABELS[entry.label] for entry in all_clips)
    assert totals == DFEW_CLASS_TOTALS
    short = (
        sum(entry.listed_num_frames < 16 for entry in train_1),
        sum(e.listed_num_frames < 16 for e in tests[1]),
    )
    assert short == (11, 3)


def test_real_dfew_csv_is_read_with_its_label_base_and_agrees_with_the_lists(tmp_path):
    problems = []
    csv_entries = read_dfew_split_csv(annotation_file("train_set_1.csv", tmp_path), problems)
    list_entries = read_clip_list(annotation_file("set_1_train.txt", tmp_path), problems)
    assert problems == [] and len(csv_entries) == 9356
    # This redistribution numbers labels 0..6 (the authors use 1..7): detected from the file, labels agree.
    assert {e.clip_id: e.label for e in csv_entries} == {e.clip_id: e.label for e in list_entries}
    one_based = tmp_path / "set_1.csv"
    one_based.write_text(
        "video_name,label\n" + "".join(f"{e.clip_id},{e.label + 1}\n" for e in csv_entries[:50])
    )
    assert [e.label for e in read_dfew_split_csv(one_based, problems)] == [e.label for e in csv_entries[:50]]


def test_real_ferv39k_lists_have_their_sizes_and_labels_match_the_class_folders(tmp_path):
    annotations = tmp_path / "lists"
    for name in ("FERV39K_train.txt", "FERV39K_test.txt"):
        annotation_file(name, annotations)
    with pytest.raises(DatasetCheckError) as error:  # no frames on disk: every clip is reported, by count
        load_ferv39k(tmp_path / "root", annotations=annotations, check_frames="none")
    message = str(error.value)
    assert "38935 problem(s) in 38935 of 38935 clips" in message
    assert "missing folder: 38935" in message and "label disagrees" not in message


def build_tree(root, lines, frames_of=lambda listed: listed):
    for line in lines:
        folder, listed, _ = line.split()
        write_frame_folder(root / folder, frames_of(int(listed)), size=(4, 4))


def test_load_dfew_list_format_builds_lazy_splits(tmp_path):
    train_lines, test_lines = annotation_lines("set_1_train.txt")[:4], annotation_lines("set_1_test.txt")[:3]
    build_tree(tmp_path / "DFEW", train_lines + test_lines)
    (tmp_path / "set_1_train.txt").write_text("\r\n".join(train_lines) + "\r\n")  # CRLF, as some copies have
    (tmp_path / "set_1_test.txt").write_text("\n".join(test_lines))
    dataset = load_dfew(tmp_path / "DFEW", fold=1, annotations=tmp_path, video_processor=small_processor())
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 4, "test": 3}
    assert dataset["train"].features["label"].names == list(EMOTION_LABELS)
    raw = dataset["test"].with_format(None)[:]
    assert raw["clip_id"] == [line.split()[0].split("/")[-1] for line in test_lines]
    assert raw["num_frames"] == [int(line.split()[1]) for line in test_lines]
    assert raw["label"] == [int(line.split()[2]) for line in test_lines]
    item = dataset["train"][0]
    assert item["pixel_values"].shape == (4, 3, 8, 8) and item["labels"] == int(train_lines[0].split()[2])
    assert torch.equal(
        dataset["test"][1]["pixel_values"], dataset["test"][1]["pixel_values"]
    )  # deterministic


def test_load_dfew_authors_layout_with_16_frame_clips(tmp_path):
    root = tmp_path / "DFEW"
    split_folder = root / "EmoLabel_DataSplit"
    clips = {
        "train": [("2522", 1), ("00044", 7)],
        "test": [("00001", 3)],
    }  # ids lost their zeros; labels 1..7
    for split, rows in clips.items():
        (split_folder / f"{split}(single-labeled)").mkdir(parents=True)
        text = "video_name,label\n" + "".join(f"{clip},{label}\n" for clip, label in rows)
        (split_folder / f"{split}(single-labeled)" / "set_2.csv").write_text(text)
        for clip, _ in rows:
            write_frame_folder(root / "Clip" / "clip_224x224_16f" / clip.zfill(5), 16, size=(4, 4))
    dataset = load_dfew(root, fold=2, clip_folder="clip_224x224_16f", decode=False)
    train = dataset["train"][:]
    assert train["clip_id"] == ["02522", "00044"] and train["num_frames"] == [16, 16]
    assert [EMOTION_LABELS[label] for label in train["label"]] == ["Happy", "Fear"]


def test_every_problem_is_reported_at_once_then_skip_counts_them(tmp_path, caplog):
    lines = annotation_lines("set_1_test.txt")
    short = next(
        line for line in lines if line.startswith("./dataset/01254 ")
    )  # listed 12; other folds say 16
    good, missing, corrupt, bad_label = lines[0], lines[1], lines[2], lines[3]
    train_good = lines[5]  # a clip of its own: one listed in train and test is a problem too (tested below)
    root = tmp_path / "DFEW"
    build_tree(root, [good, corrupt, bad_label, train_good])
    build_tree(root, [short], frames_of=lambda listed: 16)  # the disk has 16 frames
    corrupt_folder = root / corrupt.split()[0]
    (corrupt_folder / "3.jpg").write_bytes(b"")
    label_line = " ".join(bad_label.split()[:2] + ["9"])
    test_text = "\n".join([good, missing, corrupt, label_line, short, "./dataset/99999 twelve 1"])
    (tmp_path / "test.txt").write_text(test_text)
    (tmp_path / "train.txt").write_text(train_good)
    annotations = (tmp_path / "train.txt", tmp_path / "test.txt")

    with pytest.raises(DatasetCheckError) as error:
        load_dfew(root, annotations=annotations, decode=False)
    message = str(error.value)
    for expected in (
        "missing folder: 1",
        "unreadable frame: 1",
        "frame count mismatch: 1",
        "list says 12, disk has 16",
        "label out of range: 1",
        "label 9, expected 0..6",
        "malformed line: 1",
        "test.txt:2",
        "on_problems='skip'",
    ):
        assert expected in message, expected

    with caplog.at_level(logging.WARNING):
        dataset = load_dfew(root, annotations=annotations, on_problems="skip", decode=False)
    assert len(dataset["test"]) == 1 and len(dataset["train"]) == 1
    assert "Skipped 5 clip(s)" in caplog.text
    relaxed = load_dfew(
        root, annotations=annotations, on_problems="skip", check_listed_counts=False, decode=False
    )
    assert 16 in relaxed["test"]["num_frames"]  # the disk count is kept when lists describe other frames


def test_load_ferv39k_authors_layout_and_list_labels_checked_against_folders(tmp_path):
    root = tmp_path / "FERV39k"
    setup = root / "4_setups" / "All_scenes"
    setup.mkdir(parents=True)
    (setup / "train_All.csv").write_text("Action/Sad/0010 Sad\nSchool/Fear/0003 Fear\n")
    (setup / "test_All.csv").write_text("Talkshow/Happy/0042 Happy\n")
    for clip, frames in (("Action/Sad/0010", 9), ("School/Fear/0003", 20), ("Talkshow/Happy/0042", 12)):
        write_frame_folder(
            root / "2_ClipsforFaceCrop" / clip,
            frames,
            size=(4, 4),
            names=[f"{i:02d}.jpg" for i in range(frames)],
        )
    dataset = load_ferv39k(root, video_processor=small_processor())
    assert [EMOTION_LABELS[label] for label in dataset["train"].with_format(None)["label"]] == ["Sad", "Fear"]
    assert dataset["train"].with_format(None)["num_frames"] == [9, 20]
    assert dataset["test"][0]["pixel_values"].shape == (4, 3, 8, 8)

    lists = tmp_path / "lists"
    lists.mkdir()
    # An alphabetical tool would call Sad 5; the folder name says Sad (1 in the package's order).
    (lists / "FERV39K_train.txt").write_text("2_ClipsforFaceCrop/Action/Sad/0010 9 5\n")
    (lists / "FERV39K_test.txt").write_text("2_ClipsforFaceCrop/Talkshow/Happy/0042 12 0\n")
    with pytest.raises(DatasetCheckError, match="label disagrees with path: 1"):
        load_ferv39k(root, annotations=lists)
