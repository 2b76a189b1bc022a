"""Timelines and their files under bad conditions: a truncated video, a symlink planted where a temporary file
used to be written, a disk that fills up while writing, an output folder that cannot be used."""

import errno
import logging
import os
import stat

import pytest
from processing_fixtures import (
    decodable_frames,
    unprivileged,
    world_readable_directory,
    write_truncated_video,
)
from tiny_models import FrameIndexProbe

import dfer.modeling  # noqa: F401
from dfer.inference import OutputFolderError, check_output_folder, predict_videos
from dfer.inference import predict as predict_module
from dfer.inference.timeline import Timeline, WindowPrediction, assign_frames, plan_windows, predict_timeline
from dfer.inference.writers import write_csv, write_json, write_plot
from dfer.processing import DferVideoProcessor

LABELS = ["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]


def small_timeline(video="clip.mp4") -> Timeline:
    probabilities = {label: 1 / 7 for label in LABELS}
    rows = [WindowPrediction(0.0, 1.0, "Happy", 1 / 7, probabilities, True, 1.0)]
    return Timeline(video, "model", 25.0, 25, 1.0, 1.0, LABELS, rows)


def test_a_truncated_video_is_planned_over_the_frames_that_exist(tmp_path, caplog):
    path = write_truncated_video(tmp_path / "cut.mp4", 100, keep_packets=50, mid_packet=True, gop=10)
    real = decodable_frames(path)
    assert 10 < real < 100
    probe = FrameIndexProbe(num_frames=4)
    with caplog.at_level(logging.WARNING):
        timeline = predict_timeline(
            path, probe, DferVideoProcessor(num_frames=4, size=16), 1.0, 0.5, face_crop=False, batch_size=2
        )
    windows = plan_windows(real, 25.0, 1.0, 0.5)
    assign_frames(windows, 4, "segment")
    assert timeline.num_frames == real and timeline.duration == pytest.approx(real / 25)
    assert [(row.start, row.end) for row in timeline.windows] == [(w.start, w.end) for w in windows]
    # The second (re-planned) pass classifies only frames that exist, none repeated for a missing one.
    assert probe.clips[-len(windows) :] == [window.frame_indices for window in windows]
    assert f"declares 100 frames but only {real} can be decoded" in caplog.text


def test_a_planted_symlink_at_the_old_temporary_name_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    output = tmp_path / "out"
    output.mkdir()
    for name in ("talk.csv", "talk.json", "talk.png"):
        (output / f".{name}.partial").symlink_to(victim)  # where writers used to write first
    write_csv(small_timeline(), output / "talk.csv")
    write_json(small_timeline(), output / "talk.json")
    write_plot(small_timeline(), output / "talk.png")
    assert victim.read_text() == "precious\n"
    for name in ("talk.csv", "talk.json", "talk.png"):
        assert (output / name).is_file() and not (output / name).is_symlink()
        assert (output / f".{name}.partial").is_symlink()  # left as it was, not followed
    assert sorted(p.name for p in output.iterdir() if not p.name.startswith(".")) == ["talk.csv", "talk.json", "talk.png"]
    assert len(list(output.iterdir())) == 6  # no temporary file left behind


def test_a_symlink_at_the_output_name_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "talk.csv").symlink_to(victim)
    write_csv(small_timeline(), tmp_path / "talk.csv")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "talk.csv").is_symlink() and "start,end,track_id,label" in (tmp_path / "talk.csv").read_text()


def test_written_files_get_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_json(small_timeline(), tmp_path / "talk.json")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp alone would give 0o600


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary_one(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_plot(small_timeline(), tmp_path / "talk.png")
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_up_is_reported_for_that_video(tmp_path, tiny_checkpoint, monkeypatch):
    from dfer.data.face_samples import write_noise_video

    video = write_noise_video(tmp_path / "clip.mp4", 0.5, (60, 80))

    def full_disk(timeline, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(predict_module, "write_json", full_disk)
    results = predict_videos([video], str(tiny_checkpoint), output_dir=tmp_path / "out", face_crop=False, progress=False)
    assert results[0].error == f"cannot write {tmp_path / 'out' / 'clip.json'}: No space left on device"
    assert results[0].timeline is not None and [path.name for path in results[0].written] == ["clip.csv"]


def test_output_folders_that_cannot_be_used_are_refused_before_the_model_loads(tmp_path, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(predict_module, "load_checkpoint", no_loading)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputFolderError, match=r"the output folder .*file\.txt is a file"):
        predict_videos(["video.mp4"], "model", output_dir=tmp_path / "file.txt")
    with pytest.raises(OutputFolderError, match=r"file\.txt/sub is inside .*file\.txt, which is a file"):
        predict_videos(["video.mp4"], "model", output_dir=tmp_path / "file.txt" / "sub")
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with world_readable_directory() as root:
        (root / "locked").mkdir()
        (root / "locked").chmod(0o555)
        with unprivileged():
            with pytest.raises(OutputFolderError, match=r"cannot write in the output folder .*locked: permission denied"):
                predict_videos(["video.mp4"], "model", output_dir=root / "locked")
            with pytest.raises(OutputFolderError, match=r"cannot write in .*locked, where the output folder .*locked/out"):
                predict_videos(["video.mp4"], "model", output_dir=root / "locked" / "out")
        assert list((root / "locked").iterdir()) == []
