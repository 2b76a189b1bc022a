"""A user's own clips (video folders, manifests) and MAFW through `datasets`, with the up-front checks DFEW has;
the processor reading `videofolder` rows, bytes and file objects."""

import io
import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from datasets import Video, load_dataset
from own_data_fixtures import write_mafw_tree, write_video_folder
from processing_fixtures import annotation_file, write_truncated_video

from dfer.data import (
    MAFW_LABELS,
    DatasetCheckError,
    load_mafw,
    load_manifest,
    load_video_folder,
    read_clip_list,
)
from dfer.processing import DferVideoProcessor
from dfer.training.arguments import DataArguments
from dfer.training.run_components import align_labels, load_splits


def small_processor() -> DferVideoProcessor:
    return DferVideoProcessor(num_frames=4, size=16)


def labels_of(dataset) -> list[str]:
    names = dataset.features["label"].names
    return [names[label] for label in dataset.with_format(None)["label"]]


def data_args(dataset: str, data_dir: Path, **options) -> DataArguments:
    return DataArguments(dataset=dataset, data_dir=str(data_dir), check_frames="header", **options)


def test_video_folder_with_split_folders_reads_files_and_frame_folders(tmp_path):
    root = write_video_folder(
        tmp_path / "clips", {"train": {"sad": 3, "happy": 2}, "val": {"sad": 1, "happy": 1}, "test": {"sad": 1, "happy": 2}}
    )
    dataset = load_video_folder(root, video_processor=small_processor())
    assert list(dataset) == ["train", "validation", "test"]  # `val/` is the validation split, as in `datasets`
    assert dataset["train"].features["label"].names == ["happy", "sad"]  # sorted folder names
    assert Counter(labels_of(dataset["train"])) == {"sad": 3, "happy": 2}
    rows = dataset["train"].with_format(None)
    counts = {Path(path).name: frames for path, frames in zip(rows["path"], rows["num_frames"])}
    assert counts["v1.mp4"] == 7 and counts["c0"] == 6  # frame counts come from the disk, per kind of clip
    item = dataset["test"][0]
    assert item["pixel_values"].shape == (4, 3, 16, 16)


def test_video_folder_without_splits_is_train_and_a_test_split_is_held_out(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"a": 5, "b": 5}})
    assert list(load_video_folder(root, decode=False)) == ["train"]
    splits = load_splits(data_args("videofolder", root, test_fraction=0.2), small_processor())
    assert list(splits) == ["train", "test"]
    assert Counter(labels_of(splits["test"])) == {"a": 1, "b": 1}  # stratified
    assert not set(splits["train"]["path"]) & set(splits["test"]["path"])


def test_the_held_out_test_split_does_not_depend_on_the_label_order(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"a": 6, "b": 6, "c": 6}})
    held_out = [
        sorted(load_splits(data_args("videofolder", root, class_names=order), small_processor())["test"]["path"])
        for order in (None, ["c", "b", "a"], ["b", "a", "c"])
    ]
    assert held_out[0] == held_out[1] == held_out[2] and len(held_out[0]) == 3


def test_class_names_that_differ_only_by_case_are_refused(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"Happy": 1, "happy": 1}})
    with pytest.raises(DatasetCheckError, match="'Happy' and 'happy' differ only by case"):
        load_video_folder(root)


def test_class_names_set_the_order_and_unknown_labels_name_their_row(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"train": {"a": 1, "b": 1}, "test": {"a": 1, "b": 1}})
    dataset = load_video_folder(root, class_names=["b", "a"], decode=False)
    assert dataset["train"].features["label"].names == ["b", "a"]
    assert labels_of(dataset["train"]) == ["a", "b"]
    with pytest.raises(DatasetCheckError) as raised:
        load_video_folder(root, class_names=["a"], decode=False)
    assert "unknown label" in str(raised.value) and "'b' is not one of a" in str(raised.value)
    assert str(root / "train" / "b") in str(raised.value)  # the class folder it came from


def test_empty_class_folder_and_mixed_layouts_are_refused_naming_the_folder(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"a": 1}})
    (root / "b").mkdir()
    (root / "b" / "notes.txt").write_text("x")
    with pytest.raises(DatasetCheckError, match=r"class folder 'b' holds no clip \(it holds notes.txt"):
        load_video_folder(root)
    (root / "b" / "notes.txt").unlink()
    (root / "b").rmdir()
    write_video_folder(root, {"train": {"a": 1}})
    with pytest.raises(DatasetCheckError, match="mixes split folders"):
        load_video_folder(root)


def test_unreadable_video_and_video_without_a_decodable_frame_are_reported_before_training(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"a": 2, "b": 2}})
    (root / "a" / "broken.mp4").write_bytes(b"not a video at all" * 10)
    write_truncated_video(root / "b" / "cut.mp4", 10, keep_packets=0)
    with pytest.raises(DatasetCheckError) as raised:
        load_video_folder(root)
    report = str(raised.value)
    assert "unreadable video: 1" in report and "broken.mp4" in report
    assert "no decodable frame: 1" in report and "cut.mp4" in report
    skipped = load_video_folder(root, on_problems="skip", decode=False)
    assert len(skipped["train"]) == 4


def test_csv_and_jsonl_manifests(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"happy": 2, "sad": 2}})
    (root / "list.csv").write_text(
        "path,label,split\nhappy/v1.mp4,happy,train\nsad/v1.mp4,sad,train\nhappy/c0,happy,test\n"
        "sad/c0,sad,test\n"
    )
    dataset = load_manifest(root / "list.csv", video_processor=small_processor())
    assert list(dataset) == ["train", "test"]
    assert labels_of(dataset["test"]) == ["happy", "sad"]
    assert dataset["test"][1]["pixel_values"].shape == (4, 3, 16, 16)

    outside = tmp_path / "elsewhere" / "manifest.jsonl"
    outside.parent.mkdir()
    lines = [{"path": str(root / "happy" / "v1.mp4"), "label": "happy"}, {"path": "../clips/sad/c0", "label": "sad"}]
    outside.write_text("".join(json.dumps(line) + "\n" for line in lines))
    dataset = load_manifest(outside.parent, decode=False)  # a folder: its manifest.jsonl
    assert list(dataset) == ["train"] and labels_of(dataset["train"]) == ["happy", "sad"]


def test_manifest_header_case_and_json_arrays(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"a": 1, "b": 1}})
    (root / "m.csv").write_text("Path, Label\na/c0,a\nb/c0,b\n")
    assert labels_of(load_manifest(root / "m.csv", decode=False)["train"]) == ["a", "b"]
    (root / "m.json").write_text(json.dumps([{"path": "a/c0", "label": "a"}, {"path": "b/c0", "label": "b"}]))
    assert labels_of(load_manifest(root / "m.json", decode=False)["train"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.csv", "file,label\na.mp4,x\n", "has no 'path' column"),
        ("m.csv", "path,label,split\na.mp4,x,holdout\n", "split 'holdout' is not one of"),
        ("m.csv", "path,label\na.mp4,\n", r"m.csv:2 has an empty label"),
        ("m.jsonl", '{"path": "a.mp4"}\n', r"m.jsonl:1 has no 'label' key"),
        ("m.jsonl", "path,label\n", r"m.jsonl:1 is not a JSON object"),
        ("m.csv", "path,label\nx/c0,a\n", "missing folder"),
        ("m.csv", "path,label\nx.mp4,a\n", r"missing video: 1, e.g.\n    x.mp4"),
        ("m.txt", "path,label\n", "a manifest is a .csv"),
        ("m.csv", "path,label,split\na.mp4,x,train\nb.mp4,y,\n", "some rows name a split"),
    ],
)
def test_bad_manifests_name_the_file_and_the_fix(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(DatasetCheckError, match=message):
        load_manifest(tmp_path / name)


def test_missing_clip_in_a_manifest_is_a_problem_naming_its_line(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"": {"a": 1}})
    (root / "m.csv").write_text("path,label\na/c0,a\nmissing.mp4,a\n")
    with pytest.raises(DatasetCheckError, match=r"missing.mp4.*\(m.csv:3\)"):
        load_manifest(root / "m.csv")


def test_too_small_validation_split_is_one_clear_message(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"train": {"a": 3, "b": 3, "c": 1}, "test": {"a": 1, "b": 1, "c": 1}})
    arguments = data_args("videofolder", root, model_selection="validation", validation_fraction=0.1)
    with pytest.raises(ValueError, match=r"validation split held out of train is too small.*c \(1 clip\)"):
        load_splits(arguments, small_processor())
    write_video_folder(root, {"train": {"c": 3}})
    arguments.validation_fraction = 0.333
    splits = load_splits(arguments, small_processor())
    assert Counter(labels_of(splits["validation"])) == {"a": 1, "b": 1, "c": 1}


def test_the_datas_own_validation_split_is_used_for_model_selection(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"train": {"a": 2, "b": 2}, "validation": {"a": 1, "b": 1}, "test": {"a": 1, "b": 1}})
    splits = load_splits(data_args("videofolder", root, model_selection="validation"), small_processor())
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [4, 2, 2]


def test_align_labels_maps_by_name_into_a_checkpoints_order(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"train": {"a": 1, "b": 1}, "test": {"a": 1, "b": 1}})
    splits = load_video_folder(root, decode=False)
    aligned = align_labels(splits, ["b", "c", "a"], "--checkpoint ckpt")
    assert aligned["train"].features["label"].names == ["b", "c", "a"]
    assert labels_of(aligned["train"]) == ["a", "b"]
    with pytest.raises(ValueError, match="trained for the labels a; the dataset also has b"):
        align_labels(splits, ["a"], "--checkpoint ckpt")
    # Names match ignoring case: a DFEW-style checkpoint's "A" is the folder "a".
    assert labels_of(align_labels(splits, ["B", "A"], "--checkpoint ckpt")["train"]) == ["A", "B"]


def test_mafw_lists_are_read_with_eleven_classes(tmp_path):
    """The real 5-fold lists: the fold sizes the data README gives, disjoint test folds covering 9,172 clips."""
    sizes, tests = [], set()
    for fold in range(1, 6):
        train = read_clip_list(annotation_file(f"mafw/set_{fold}_train.txt", tmp_path), [], num_labels=len(MAFW_LABELS))
        test = read_clip_list(annotation_file(f"mafw/set_{fold}_test.txt", tmp_path), [], num_labels=len(MAFW_LABELS))
        sizes.append((len(train), len(test)))
        assert not tests & {entry.clip_id for entry in test}
        tests |= {entry.clip_id for entry in test}
    assert sizes == [(7333, 1839), (7335, 1837), (7339, 1833), (7340, 1832), (7341, 1831)]
    assert len(tests) == 9172
    labels = {entry.label for entry in read_clip_list(tmp_path / "mafw" / "set_1_test.txt", [], num_labels=11)}
    assert labels == set(range(11))


def test_mafw_tree_in_the_authors_layout_loads_as_a_fold(tmp_path):
    """A MAFW root (`data/faces/<id>/`) holding a few clips per class of the real fold-2 lists."""
    root = write_mafw_tree(tmp_path / "MAFW", folds=(2,))
    dataset = load_mafw(root, fold=2, video_processor=small_processor())
    assert dataset["train"].features["label"].names == list(MAFW_LABELS)
    assert len(dataset["train"]) == 22 and len(dataset["test"]) == 11
    assert set(labels_of(dataset["test"])) == set(MAFW_LABELS)
    assert dataset["test"][0]["pixel_values"].shape == (4, 3, 16, 16)
    with pytest.raises(FileNotFoundError, match="No MAFW list files for fold 3"):
        load_mafw(root, fold=3)


def test_mafw_lists_with_dfer_clip_names_and_absolute_paths(tmp_path):
    """DFER-CLIP's own files: `MAFW_set_<k>_<split>.txt`, paths of the machine they were made on."""
    root = write_mafw_tree(tmp_path / "MAFW", folds=(1,))
    for split in ("train", "test"):
        listed = (root / "annotations" / f"set_1_{split}.txt").read_text().splitlines()
        moved = [f"/data/someone/datasets/MAFW/{line}" for line in listed]
        (root / "annotations" / f"MAFW_set_1_{split}.txt").write_text("\n".join(moved))
        (root / "annotations" / f"set_1_{split}.txt").unlink()
    dataset = load_mafw(root, fold=1, decode=False)
    assert len(dataset["train"]) == 22 and dataset["train"][0]["path"].startswith(str(root / "data" / "faces"))


def test_processor_reads_videofolder_rows_bytes_and_file_objects(tmp_path):
    root = write_video_folder(tmp_path / "clips", {"train": {"a": 2, "b": 2}})
    rows = load_dataset("videofolder", data_dir=str(root), split="train").cast_column("video", Video(decode=False))
    processor = small_processor()
    path = root / "train" / "a" / "v1.mp4"
    expected = processor(str(path))["pixel_values"][0]
    row = next(row["video"] for row in rows if row["video"]["path"].endswith("a/v1.mp4"))
    assert row["bytes"] is None  # a row of a file on disk: read by its path
    data = path.read_bytes()
    for video in (row, {"path": "upload.mp4", "bytes": data}, data, io.BytesIO(data), path.open("rb")):
        assert torch.equal(processor(video)["pixel_values"][0], expected)
    batch = processor([row, {"path": None, "bytes": data}])["pixel_values"]
    assert batch.shape == (2, 4, 3, 16, 16)
    with pytest.raises(ValueError, match="Cannot read video upload.mp4"):
        processor({"path": "upload.mp4", "bytes": b"\x00" * 64})
