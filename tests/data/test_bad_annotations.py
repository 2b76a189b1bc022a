"""Bad annotation files and dataset trees: one clear message (or one line of the problem report) each, before
anything trains. Label numbering decided once per dataset, rows blamed by their own line, clips shared between
train and test, paths that leave the dataset root, empty and non-UTF-8 files, unreadable frames and folders."""

import logging

import pytest
from processing_fixtures import unprivileged, world_readable_directory, write_frame_folder

from dfer.data import (
    EMOTION_LABELS,
    DatasetCheckError,
    load_dfew,
    load_ferv39k,
    read_clip_list,
    read_dfew_split_csv,
)


def dfew_tree(root, splits, folds=(1,), frames=True):
    """The DFEW authors' layout: `splits[split]` = [(clip id, label as written)], the same CSV for every fold."""
    for fold in folds:
        for split, rows in splits.items():
            folder = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)"
            folder.mkdir(parents=True, exist_ok=True)
            text = "video_name,label\n" + "".join(f"{clip},{label}\n" for clip, label in rows)
            (folder / f"set_{fold}.csv").write_text(text)
    if frames:
        for rows in splits.values():
            for clip, _ in rows:
                write_frame_folder(root / "Clip" / "clip_224x224" / clip, 2, size=(4, 4))
    return root


def labels_of(dataset, split):
    return [EMOTION_LABELS[label] for label in dataset[split].with_format(None)["label"]]


# Label numbering -----------------------------------------------------------------------------------------------


def test_zero_based_labels_without_a_zero_in_one_file_are_read_zero_based(tmp_path):
    # Train has a 0, test has none: deciding per file read test as 1-based (Happy -> nothing, Sad -> Happy...).
    root = dfew_tree(tmp_path / "DFEW", {"train": [("00001", 0), ("00002", 3)], "test": [("00003", 1), ("00004", 6)]})
    dataset = load_dfew(root, decode=False)
    assert labels_of(dataset, "train") == ["Happy", "Angry"]
    assert labels_of(dataset, "test") == ["Sad", "Fear"]


def test_the_numbering_is_decided_from_every_fold_of_the_dataset(tmp_path):
    root = tmp_path / "DFEW"
    dfew_tree(root, {"train": [("00001", 0), ("00002", 2)], "test": [("00003", 1)]}, folds=(1,))
    dfew_tree(root, {"train": [("00003", 1), ("00002", 2)], "test": [("00001", 4)]}, folds=(2,))  # no 0, no 7
    dataset = load_dfew(root, fold=2, decode=False)  # fold 1's 0 settles it for fold 2 too
    assert labels_of(dataset, "train") == ["Sad", "Neutral"] and labels_of(dataset, "test") == ["Surprise"]


def test_a_set_with_neither_0_nor_7_is_refused_naming_csv_label_base(tmp_path):
    root = dfew_tree(tmp_path / "DFEW", {"train": [("00001", 1), ("00002", 3)], "test": [("00003", 2)]})
    with pytest.raises(DatasetCheckError, match=r"neither a 0 nor a 7 appears\. Pass csv_label_base=1 or csv_label_base=0"):
        load_dfew(root, decode=False)
    assert labels_of(load_dfew(root, csv_label_base=0, decode=False), "train") == ["Sad", "Angry"]
    assert labels_of(load_dfew(root, csv_label_base=1, decode=False), "train") == ["Happy", "Neutral"]
    with pytest.raises(ValueError, match="`csv_label_base` must be 0, 1 or None"):
        load_dfew(root, csv_label_base=7, decode=False)


def test_a_stray_0_in_a_1_to_7_csv_is_blamed_on_its_own_row(tmp_path):
    rows = [("00001", 7), ("00002", 3), ("00003", 0), ("00004", 7)]  # one bad row: the 0 on line 4
    root = dfew_tree(tmp_path / "DFEW", {"train": rows, "test": [("00005", 1)]})
    with pytest.raises(DatasetCheckError) as error:
        load_dfew(root, decode=False)
    message = str(error.value)
    assert "include both 0 and 7" in message and "csv_label_base=1" in message and "csv_label_base=0" in message
    assert "label 0 in 1 row(s): train(single-labeled)/set_1.csv:4 (clip 00003)" in message
    assert "label 7 in 2 row(s): train(single-labeled)/set_1.csv:2 (clip 00001), train(single-labeled)/set_1.csv:5" in message
    with pytest.raises(DatasetCheckError) as error:
        load_dfew(root, csv_label_base=1, decode=False)
    message = str(error.value)
    assert "label out of range: 1" in message
    assert "00003: label 0, expected 1..7 (train(single-labeled)/set_1.csv:4)" in message
    assert "00001" not in message and "00004" not in message  # the rows labelled 7 are fine
    # One file read on its own follows the same rule and blames the same row.
    with pytest.raises(DatasetCheckError, match=r"set_1\.csv:4 \(clip 00003\)"):
        read_dfew_split_csv(root / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv", [])


# Empty, malformed and non-UTF-8 files --------------------------------------------------------------------------


def test_a_split_csv_with_a_header_and_no_rows(tmp_path):
    root = dfew_tree(tmp_path / "DFEW", {"train": [("00001", 1), ("00002", 7)], "test": []})
    with pytest.raises(DatasetCheckError, match=r"test\(single-labeled\)/set_1\.csv has the header 'video_name,label' but no rows"):
        load_dfew(root, decode=False)


def test_empty_list_files_are_refused_by_name(tmp_path):
    write_frame_folder(tmp_path / "DFEW" / "dataset" / "00001", 2, size=(4, 4))
    (tmp_path / "train.txt").write_text("./dataset/00001 2 0\n")
    (tmp_path / "test.txt").write_text("\n\n")
    with pytest.raises(DatasetCheckError, match=r"test\.txt lists no clips"):
        load_dfew(tmp_path / "DFEW", annotations=(tmp_path / "train.txt", tmp_path / "test.txt"), decode=False)
    setup = tmp_path / "FERV39k" / "4_setups" / "All_scenes"
    setup.mkdir(parents=True)
    (setup / "train_All.csv").write_text("")
    (setup / "test_All.csv").write_text("Action/Sad/0010 Sad\n")
    with pytest.raises(DatasetCheckError, match=r"train_All\.csv lists no clips"):
        load_ferv39k(tmp_path / "FERV39k")


def test_non_utf8_annotation_files_name_the_line(tmp_path):
    (tmp_path / "train.txt").write_bytes(b"./dataset/00001 2 0\n./dataset/caf\xe9 2 1\n")  # Latin-1
    with pytest.raises(DatasetCheckError, match=r"train\.txt:2 is not UTF-8 text \(byte 0xe9\); save the annotation"):
        read_clip_list(tmp_path / "train.txt", [])


def test_numbers_that_are_not_ascii_digits_are_malformed_lines(tmp_path):
    (tmp_path / "list.txt").write_text("./dataset/00001 ² 0\n./dataset/00002 16 ³\n./dataset/00003 16 2\n")
    problems = []
    entries = read_clip_list(tmp_path / "list.txt", problems)
    assert [entry.clip_id for entry in entries] == ["00003"]
    assert [(problem.kind, problem.source) for problem in problems] == [
        ("malformed line", "list.txt:1"),
        ("malformed line", "list.txt:2"),
    ]
    (tmp_path / "set_1.csv").write_text("video_name,label\n00001,²\n٣,1\n00002,7\n")
    problems = []
    assert [entry.clip_id for entry in read_dfew_split_csv(tmp_path / "set_1.csv", problems)] == ["00002"]
    assert [problem.source for problem in problems] == ["set_1.csv:2", "set_1.csv:3"]


def test_unreadable_annotation_file():
    with world_readable_directory() as root:
        (root / "train.txt").write_text("./dataset/00001 2 0\n")
        (root / "train.txt").chmod(0o000)
        with unprivileged(), pytest.raises(DatasetCheckError, match=r"Cannot read the annotation file .*train\.txt: permission denied"):
            read_clip_list(root / "train.txt", [])


# Train and test share a clip ---------------------------------------------------------------------------------


def test_a_clip_in_both_train_and_test_is_a_problem_and_skip_leaves_it_out_of_both(tmp_path, caplog):
    for clip in ("00001", "00002", "00003"):
        write_frame_folder(tmp_path / "DFEW" / "dataset" / clip, 2, size=(4, 4))
    (tmp_path / "train.txt").write_text("./dataset/00001 2 0\n./dataset/00002 2 1\n")
    (tmp_path / "test.txt").write_text("./dataset/00003 2 2\ndataset/00002 2 1\n")  # the same folder, spelt otherwise
    annotations = (tmp_path / "train.txt", tmp_path / "test.txt")
    with pytest.raises(DatasetCheckError) as error:
        load_dfew(tmp_path / "DFEW", annotations=annotations, decode=False)
    assert "clip in two splits: 1" in str(error.value)
    assert "00002: in train (train.txt:2) and in test (test.txt:2)" in str(error.value)
    with caplog.at_level(logging.WARNING):
        dataset = load_dfew(tmp_path / "DFEW", annotations=annotations, on_problems="skip", decode=False)
    assert dataset["train"]["clip_id"] == ["00001"] and dataset["test"]["clip_id"] == ["00003"]
    root = dfew_tree(tmp_path / "authors", {"train": [("00001", 1), ("00002", 7)], "test": [("2", 3)]})
    with pytest.raises(DatasetCheckError, match=r"00002: in train \(train\(single-labeled\)/set_1\.csv:3\) and in test"):
        load_dfew(root, decode=False)  # the CSV id lost its zeros: still the same clip


def test_a_split_left_empty_by_skipping_is_refused(tmp_path):
    write_frame_folder(tmp_path / "DFEW" / "dataset" / "00001", 2, size=(4, 4))
    (tmp_path / "train.txt").write_text("./dataset/00001 2 0\n")
    (tmp_path / "test.txt").write_text("./dataset/00009 2 0\n")  # missing on disk
    with pytest.raises(DatasetCheckError, match=r"no clip of the test split\(s\) is left once the clips with problems"):
        load_dfew(tmp_path / "DFEW", annotations=(tmp_path / "train.txt", tmp_path / "test.txt"), on_problems="skip")


# Nothing leaves the dataset root -------------------------------------------------------------------------------


def test_list_entries_outside_the_root_are_refused_naming_the_line(tmp_path):
    outside = tmp_path / "elsewhere" / "secret"
    write_frame_folder(outside, 2, size=(4, 4))  # a real folder of frames outside the root: never read
    root = tmp_path / "DFEW"
    write_frame_folder(root / "dataset" / "00001", 2, size=(4, 4))
    write_frame_folder(root / "dataset" / "00002", 2, size=(4, 4))
    (tmp_path / "train.txt").write_text(f"./dataset/00001 2 0\n../elsewhere/secret 2 1\n{outside} 2 1\n")
    (tmp_path / "test.txt").write_text("./dataset/00002 2 3\ndataset/../../elsewhere/secret 2 1\ndataset/x/../00002b 2 1\n")
    annotations = (tmp_path / "train.txt", tmp_path / "test.txt")
    with pytest.raises(DatasetCheckError) as error:
        load_dfew(root, annotations=annotations, decode=False)
    message = str(error.value)
    assert "path outside the dataset root: 3" in message
    for source in ("train.txt:2", "train.txt:3", "test.txt:2"):
        assert source in message
    assert "'../elsewhere/secret' is not a folder under the dataset root" in message
    dataset = load_dfew(root, annotations=annotations, on_problems="skip", decode=False)
    assert all(path.startswith(str(root)) for split in dataset.values() for path in split["path"])


def test_ferv39k_paths_outside_the_root_are_refused(tmp_path):
    root = tmp_path / "FERV39k"
    setup = root / "4_setups" / "All_scenes"
    setup.mkdir(parents=True)
    (setup / "train_All.csv").write_text("Action/Sad/0010 Sad\n../../../../etc/Sad Sad\n")
    (setup / "test_All.csv").write_text("/etc/Happy Happy\n")
    write_frame_folder(root / "2_ClipsforFaceCrop" / "Action" / "Sad" / "0010", 2, size=(4, 4))
    with pytest.raises(DatasetCheckError) as error:
        load_ferv39k(root, decode=False)
    assert "path outside the dataset root: 2" in str(error.value)
    assert "train_All.csv:2" in str(error.value) and "test_All.csv:1" in str(error.value)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "FERV39K_train.txt").write_text("2_ClipsforFaceCrop/Action/Sad/0010 2 1\n")
    (lists / "FERV39K_test.txt").write_text("2_ClipsforFaceCrop/../../lists/Happy 2 0\n")
    with pytest.raises(DatasetCheckError, match=r"(?s)path outside the dataset root: 1.*FERV39K_test\.txt:1"):
        load_ferv39k(root, annotations=lists, decode=False)


def test_a_symlinked_clip_folder_is_followed_as_the_root_owner_placed_it(tmp_path):
    """Decision: only the annotation text is held to the root; a symlink inside the root is the dataset owner's
    choice (clip folders on another disk are common) and is read."""
    storage = tmp_path / "big_disk" / "00001"
    write_frame_folder(storage, 3, size=(4, 4))
    root = tmp_path / "DFEW"
    (root / "dataset").mkdir(parents=True)
    (root / "dataset" / "00001").symlink_to(storage)
    write_frame_folder(root / "dataset" / "00002", 2, size=(4, 4))
    (tmp_path / "train.txt").write_text("./dataset/00001 3 0\n")
    (tmp_path / "test.txt").write_text("./dataset/00002 2 1\n")
    dataset = load_dfew(root, annotations=(tmp_path / "train.txt", tmp_path / "test.txt"), decode=False)
    assert dataset["train"]["num_frames"] == [3]


# Unreadable frames and folders -----------------------------------------------------------------------------------


@pytest.mark.parametrize("check_frames", ["header", "decode"])
def test_unreadable_frames_and_folders_are_problems_of_their_clip(check_frames):
    """Real permissions: as root (which chmod does not bind) the check runs as `nobody`."""
    with world_readable_directory() as root:
        for clip in ("00001", "00002", "00003", "00004"):
            write_frame_folder(root / "DFEW" / "dataset" / clip, 3, size=(4, 4))
        (root / "DFEW" / "dataset" / "00002" / "2.jpg").chmod(0o000)
        (root / "DFEW" / "dataset" / "00003").chmod(0o000)  # cannot be listed
        (root / "DFEW" / "dataset" / "00004").chmod(0o444)  # names can be listed, files not opened
        (root / "train.txt").write_text("./dataset/00001 3 0\n")
        (root / "test.txt").write_text("./dataset/00002 3 1\n./dataset/00003 3 1\n./dataset/00004 3 1\n")
        annotations = (root / "train.txt", root / "test.txt")
        with unprivileged(), pytest.raises(DatasetCheckError) as error:
            load_dfew(root / "DFEW", annotations=annotations, check_frames=check_frames, decode=False)
    message = str(error.value)
    assert "3 problem(s) in 3 of 4 clips" in message
    assert "unreadable frame: 2" in message and "00002: 1 file(s): 2.jpg" in message
    assert "00004: 3 file(s): 1.jpg, 2.jpg, 3.jpg" in message  # listed, but no file can be opened
    assert "unreadable folder: 1" in message
    assert "Cannot list the frame folder" in message and "permission denied" in message and "(test.txt:2)" in message
