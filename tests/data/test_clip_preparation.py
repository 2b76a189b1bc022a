"""`prepare_clips`: raw videos (or frame folders) to JPEG clip folders + a manifest. The layout with and without
splits, the face crop centred on a real face, whole frames with face cropping off, the fps and length limits,
failures reported without stopping the run, resuming (finished clips kept, stale partial folders removed), an
interrupted clip never left under its final name, worker processes giving the same output, bad input refused
before anything is written."""

import json
import subprocess
import sys

import av
import numpy as np
import pytest
from face_videos import write_face_video
from PIL import Image
from processing_fixtures import decoded_index, write_frame_folder, write_video

from dfer.data import clip_preparation
from dfer.data.annotation_files import DatasetCheckError
from dfer.data.clip_preparation import (
    ClipWriter,
    FaceCropPass,
    FrameSource,
    MainFaceFollower,
    crop_face,
    prepare_clips,
)
from dfer.data.face_samples import write_noise_video
from dfer.data.own_dataset import load_manifest
from dfer.data.own_videos import find_video_folder_clips, read_manifest
from dfer.processing.face_crop import FaceCropOptions, crop_square
from dfer.processing.face_detection import load_face_detector

SMALL = 32  # side of the frames in the tests that do not look at faces


def frames_of(folder):
    return sorted(folder.iterdir(), key=lambda path: int(path.stem))


def indices_of(folder) -> list[int]:
    """The source frame index each written frame carries in its colour (`processing_fixtures.frame_colour`)."""
    return [decoded_index(np.asarray(Image.open(path))) for path in frames_of(folder)]


def whole_frames(source, output, **options):
    return prepare_clips(source, output, size=SMALL, face_crop=False, progress=False, **options)


def face_offset(image: np.ndarray) -> tuple[float, float, float]:
    """How far the face found in a crop lies from the crop's centre (x, y), and its side, as fractions of the crop
    side: an independent look with the plain detector (no tracking, no alignment)."""
    boxes = load_face_detector("yunet", rotation_search=False, verify=False).detect(image)
    assert len(boxes), "no face in the crop"
    x0, y0, x1, y1 = boxes[0, :4]
    side = image.shape[0]
    return abs((x0 + x1) / 2 - side / 2) / side, abs((y0 + y1) / 2 - side / 2) / side, (x1 - x0) / side


def assert_faces_centred(folder, squares, frame_width):
    """Every 8th crop shows the face in its middle, at most of its height; the face moved in the video (the
    pasted squares' centres), so a crop that ignored it would not."""
    frames = frames_of(folder)
    assert len(frames) == len(squares)
    for position in range(0, len(frames), 8):
        dx, dy, side = face_offset(np.asarray(Image.open(frames[position])))
        assert dx < 0.08 and dy < 0.08 and 0.5 < side < 0.9
    centres = [x0 + side / 2 for ((x0, _, side),) in squares]
    assert max(abs(centre - frame_width / 2) for centre in centres) > 20


# Layout and manifest ------------------------------------------------------------------------------------------


def test_a_video_folder_with_splits_becomes_a_video_folder_of_jpeg_clips(tmp_path):
    source = tmp_path / "videos"
    write_video(source / "train" / "happy" / "a.mp4", 12)
    write_video(source / "train" / "happy" / "a.avi", 10, codec="mpeg4")  # the same stem as a.mp4
    write_video(source / "validation" / "sad" / "b.mp4", 8)
    write_frame_folder(source / "test" / "sad" / "frames", 6, size=(20, 24))
    output = tmp_path / "prepared"
    report = whole_frames(source, output)
    assert report.counts == {"prepared": 4, "already_done": 0, "no_face": 0, "unreadable": 0}
    expected = {"train/happy/a_avi": 10, "train/happy/a_mp4": 12, "validation/sad/b": 8, "test/sad/frames": 6}
    for relative, count in expected.items():
        frames = frames_of(output / relative)
        assert [path.name for path in frames] == [f"{n:05d}.jpg" for n in range(1, count + 1)]
        with Image.open(frames[0]) as image:
            assert image.format == "JPEG" and image.size == (SMALL, SMALL)
        assert indices_of(output / relative) == list(range(count))
    listed = read_manifest(output / "manifest.csv")
    assert {(str(clip.path.relative_to(output)), clip.label, clip.split) for clip in listed} == {
        ("train/happy/a_mp4", "happy", "train"), ("train/happy/a_avi", "happy", "train"),
        ("validation/sad/b", "sad", "validation"), ("test/sad/frames", "sad", "test"),
    }  # fmt: skip
    # The output folder is a video folder too, with the same clips.
    assert {(clip.path, clip.label, clip.split) for clip in find_video_folder_clips(output)} == {
        (clip.path, clip.label, clip.split) for clip in listed
    }
    # What `dfer train --dataset manifest --data_dir <output_dir>` loads.
    dataset = load_manifest(output, decode=False)
    assert {split: dataset[split].num_rows for split in dataset} == {"train": 2, "validation": 1, "test": 1}
    assert sorted(dataset["train"]["num_frames"]) == [10, 12]


def test_a_video_folder_without_splits_has_no_split_level_or_column(tmp_path):
    source = tmp_path / "videos"
    write_video(source / "happy" / "x.mp4", 5)
    write_video(source / "sad" / "y.mp4", 4)
    output = tmp_path / "prepared"
    whole_frames(source, output)
    assert (output / "manifest.csv").read_text().splitlines() == ["path,label", "happy/x,happy", "sad/y,sad"]
    assert [(clip.label, clip.split) for clip in read_manifest(output / "manifest.csv")] == [
        ("happy", None),
        ("sad", None),
    ]
    assert len(frames_of(output / "sad" / "y")) == 4


def test_a_manifest_source_keeps_its_rows_labels_and_splits(tmp_path):
    write_video(tmp_path / "clips" / "one.mp4", 6)
    write_video(tmp_path / "clips" / "two.mp4", 6)
    manifest = tmp_path / "list.jsonl"
    rows = [
        {"path": "clips/one.mp4", "label": "Angry", "split": "train"},
        {"path": "clips/two.mp4", "label": "Calm", "split": "test"},
    ]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "prepared"
    whole_frames(manifest, output)
    assert (output / "manifest.csv").read_text().splitlines() == [
        "path,label,split", "train/Angry/one,Angry,train", "test/Calm/two,Calm,test"
    ]  # fmt: skip


# Frames: face crop, whole frames, limits ------------------------------------------------------------------------


def test_face_crops_are_centred_on_the_face_of_a_video(tmp_path):
    squares = write_face_video(tmp_path / "videos" / "happy" / "talk.mp4", 1.5)
    report = prepare_clips(tmp_path / "videos", tmp_path / "out", size=96, progress=False)
    (clip,) = report.clips
    assert clip.outcome == "prepared" and clip.frames == 45 and clip.frames_without_face == 0
    assert_faces_centred(tmp_path / "out" / "happy" / "talk", squares, frame_width=320)


def test_face_crops_are_centred_on_the_face_of_a_frame_folder(tmp_path):
    video = tmp_path / "talk.mp4"
    squares = write_face_video(video, 1.0)
    folder = tmp_path / "frames" / "happy" / "talk"
    folder.mkdir(parents=True)
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            frame.to_image().save(folder / f"{index + 1}.jpg", quality=95)
    prepare_clips(tmp_path / "frames", tmp_path / "out", size=96, progress=False)
    assert_faces_centred(tmp_path / "out" / "happy" / "talk", squares, frame_width=320)


def test_without_face_crop_whole_frames_are_resized(tmp_path):
    write_video(tmp_path / "videos" / "happy" / "flat.mp4", 10, size=(48, 64))
    report = prepare_clips(tmp_path / "videos", tmp_path / "out", size=40, face_crop=False, progress=False)
    frames = frames_of(tmp_path / "out" / "happy" / "flat")
    assert report.settings["face_crop"] is False and len(frames) == 10
    assert np.asarray(Image.open(frames[0])).shape == (40, 40, 3)


def test_fps_keeps_frames_evenly_and_max_seconds_stops_early(tmp_path):
    write_video(tmp_path / "videos" / "happy" / "long.mp4", 50, rate=25)
    whole_frames(tmp_path / "videos", tmp_path / "out", fps=10, max_seconds=1.2)
    # 1.2 s of 25 fps = frames 0-29; at 10 of 25 frames per second, frame i is kept when i * 10 // 25 steps up.
    assert indices_of(tmp_path / "out" / "happy" / "long") == [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28]
    whole_frames(tmp_path / "videos", tmp_path / "all")
    assert len(frames_of(tmp_path / "all" / "happy" / "long")) == 50


def test_the_crop_on_part_of_the_frame_is_the_crop_of_the_whole_frame():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)
    frame = np.asarray(Image.fromarray(frame).resize((640, 360)))  # some structure, not only noise
    for _ in range(60):
        box = (rng.uniform(-60, 700), rng.uniform(-60, 420), rng.uniform(10, 500), rng.uniform(-40, 40))
        expected, cropped = crop_square(frame, box, 0.2, (48, 48)), crop_face(frame, box, 0.2, 48)
        difference = np.abs(expected.astype(int) - cropped)
        # Only the warp's fixed-point rounding of other (shifted) coordinates: a few pixels of the high-contrast
        # texture differ, by a few levels.
        assert (difference > 0).mean() < 0.005 and difference.max() <= 8


def test_frames_wait_for_their_box_in_a_bounded_window(tmp_path):
    video = tmp_path / "talk.mp4"
    write_face_video(video, 4.0)
    source = FrameSource(video, 30.0, None)
    options = FaceCropOptions(full_frame_seconds=2.0)
    follower = MainFaceFollower(options, options.load_detector(), source.rate, source.num_frames, 0.2)
    with ClipWriter(tmp_path / "clip", 90) as writer:
        crops = FaceCropPass(follower, writer, options.margin, 32)
        for index, frame in source:
            crops.add(index, frame, keep=True)
        crops.finish()
        assert writer.frames == 120
    assert crops.most_waiting <= follower.lookahead + follower.detect_step < 60
    assert not (tmp_path / "clip").exists()  # not finished: the partial folder is gone, no clip appeared


# Failures -------------------------------------------------------------------------------------------------------


def test_faceless_and_unreadable_videos_are_reported_and_the_run_goes_on(tmp_path):
    source = tmp_path / "videos"
    write_face_video(source / "happy" / "talk.mp4", 1.0)
    write_noise_video(source / "happy" / "noise.mp4", 1.0)
    (source / "sad").mkdir()
    (source / "sad" / "garbage.mp4").write_bytes(b"\x00not a video" * 50)
    output = tmp_path / "out"
    report = prepare_clips(source, output, size=64, progress=False)
    assert report.counts == {"prepared": 1, "already_done": 0, "no_face": 1, "unreadable": 1}
    written = json.loads((output / "prepare_report.json").read_text())
    assert written["counts"] == report.counts and written["finished"] is True
    failures = {failure["video"]: failure for failure in written["failures"]}
    assert failures[str(source / "happy" / "noise.mp4")]["outcome"] == "no_face"
    assert "no face found in 30 frames" in failures[str(source / "happy" / "noise.mp4")]["reason"]
    assert failures[str(source / "sad" / "garbage.mp4")]["outcome"] == "unreadable"
    assert "Cannot read video" in failures[str(source / "sad" / "garbage.mp4")]["reason"]
    # Nothing of the failed videos is left, not even the class folder that only they filled.
    assert sorted(path.name for path in output.iterdir()) == ["happy", "manifest.csv", "prepare_report.json"]
    assert [path.name for path in (output / "happy").iterdir()] == ["talk"]
    assert [clip.label for clip in find_video_folder_clips(output)] == ["happy"]


# Resuming -------------------------------------------------------------------------------------------------------


def a_dead_process_id() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_rerun_keeps_finished_clips_removes_stale_partials_and_redoes_the_rest(tmp_path, monkeypatch):
    source = tmp_path / "videos"
    write_video(source / "happy" / "a.mp4", 6)
    write_video(source / "happy" / "b.mp4", 7)
    output = tmp_path / "out"
    whole_frames(source, output)
    kept = {path: path.stat().st_mtime_ns for path in (output / "happy" / "a").iterdir()}
    # A killed run: clip b half written under its partial name, its final folder never made.
    (output / "happy" / "b").rename(output / "happy" / f".b.partial-{a_dead_process_id()}")
    prepared = []
    real_prepare_clip = clip_preparation.prepare_clip
    monkeypatch.setattr(
        clip_preparation,
        "prepare_clip",
        lambda job, settings: prepared.append(job.relative) or real_prepare_clip(job, settings),
    )
    report = whole_frames(source, output)
    assert prepared == ["happy/b"]
    assert {clip.output: clip.outcome for clip in report.clips} == {
        "happy/a": "already_done",
        "happy/b": "prepared",
    }
    assert {clip.output: clip.frames for clip in report.clips} == {"happy/a": 6, "happy/b": 7}
    assert {path: path.stat().st_mtime_ns for path in (output / "happy" / "a").iterdir()} == kept
    assert sorted(path.name for path in (output / "happy").iterdir()) == [
        "a",
        "b",
    ]  # the partial folder is gone
    assert [clip.path.name for clip in read_manifest(output / "manifest.csv")] == ["a", "b"]


def test_an_interrupted_clip_is_never_left_under_its_final_name(tmp_path, monkeypatch):
    source = tmp_path / "videos"
    write_video(source / "happy" / "a.mp4", 4)
    write_video(source / "happy" / "b.mp4", 9)
    output = tmp_path / "out"
    real_write = ClipWriter.write

    def write_then_stop(self, image):
        if self.destination.name == "b" and self.frames == 3:
            raise KeyboardInterrupt  # Ctrl-C (or a stopped worker) in the middle of clip b
        real_write(self, image)

    monkeypatch.setattr(ClipWriter, "write", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        whole_frames(source, output)
    assert sorted(path.name for path in (output / "happy").iterdir()) == ["a"]  # no b, no partial b
    assert json.loads((output / "prepare_report.json").read_text())["finished"] is False
    assert [clip.path.name for clip in read_manifest(output / "manifest.csv")] == ["a"]
    monkeypatch.setattr(ClipWriter, "write", real_write)
    report = whole_frames(source, output)
    assert report.counts["already_done"] == 1 and report.counts["prepared"] == 1
    assert len(frames_of(output / "happy" / "b")) == 9


def test_a_rerun_with_other_settings_is_refused(tmp_path):
    write_video(tmp_path / "videos" / "happy" / "a.mp4", 3)
    whole_frames(tmp_path / "videos", tmp_path / "out")
    with pytest.raises(ValueError, match=r"other settings \(size 32 -> 48.*choose another --output_dir"):
        prepare_clips(tmp_path / "videos", tmp_path / "out", size=48, face_crop=False, progress=False)


# Worker processes ---------------------------------------------------------------------------------------------


def test_two_worker_processes_write_what_one_process_writes(tmp_path):
    source = tmp_path / "videos"
    write_face_video(source / "happy" / "one.mp4", 1.0)
    write_face_video(source / "sad" / "two.mp4", 1.0, seed=1)
    write_noise_video(source / "sad" / "noise.mp4", 0.5)
    alone = prepare_clips(source, tmp_path / "one", size=48, progress=False)
    together = prepare_clips(source, tmp_path / "two", size=48, num_proc=2, progress=False)
    assert [clip.outcome for clip in together.clips] == [clip.outcome for clip in alone.clips]
    assert together.counts == {"prepared": 2, "already_done": 0, "no_face": 1, "unreadable": 0}
    files = sorted(path.relative_to(tmp_path / "one") for path in (tmp_path / "one").rglob("*.jpg"))
    assert files == sorted(path.relative_to(tmp_path / "two") for path in (tmp_path / "two").rglob("*.jpg"))
    assert all(
        (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes() for file in files
    )
    assert (tmp_path / "one" / "manifest.csv").read_text() == (tmp_path / "two" / "manifest.csv").read_text()


# Bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing source", r"no such folder"),
        (
            "output inside the input",
            r"lies inside the input video folder .*choose an --output_dir outside it",
        ),
        ("output is a file", r"is a file or lies inside one"),
        ("size", r"--size 8: the side of the square frames is a whole number of pixels from 16 to 1024"),
        ("fps", r"--fps 0.0: give a positive number of frames per second"),
        ("max_seconds", r"--max_seconds -1.0: give a positive number of seconds"),
        ("label", r"list.csv:2: the label 'a/b' is not a folder name"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, case, message):
    source = tmp_path / "videos"
    write_video(source / "happy" / "a.mp4", 2)
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "list.csv").write_text("path,label\nvideos/happy/a.mp4,a/b\n")
    output = tmp_path / "out"
    arguments = {
        "missing source": (tmp_path / "nothing", output, {}),
        "output inside the input": (source, source / "prepared", {}),
        "output is a file": (source, tmp_path / "taken" / "out", {}),
        "size": (source, output, {"size": 8}),
        "fps": (source, output, {"fps": 0.0}),
        "max_seconds": (source, output, {"max_seconds": -1.0}),
        "label": (tmp_path / "list.csv", output, {}),
    }[case]
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises((ValueError, DatasetCheckError), match=message):
        prepare_clips(arguments[0], arguments[1], face_crop=False, progress=False, **arguments[2])
    assert sorted(tmp_path.rglob("*")) == before
