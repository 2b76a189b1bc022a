"""The demo's streaming analysis (dfer.demo.analysis) and its model picker (dfer.demo.models), without Gradio:
snapshots that fill in while windows finish, the checks that come first, stopping when the visitor leaves."""

import shutil
import threading
import time

import numpy as np
import pytest
import torch
from face_videos import write_face_video

import dfer.modeling  # noqa: F401
from dfer.data.face_samples import write_noise_video
from dfer.demo import (
    AnalysisError,
    AnalysisSnapshot,
    DemoOptions,
    ModelCache,
    analyse_video,
    find_checkpoints,
    model_choices,
)
from dfer.demo.analysis import MAX_FACE_STRIP
from dfer.inference import CheckpointLoadError, WindowPrediction, WindowResult


def run(video, loaded, **options):
    model, processor = loaded
    settings = {"window_seconds": 1.0, "stride_seconds": 0.5} | options.pop("settings", {})
    return list(
        analyse_video(video, model, processor, model_name="tiny", options=DemoOptions(**settings), **options)
    )


def test_snapshots_fill_in_as_windows_finish_and_end_with_the_timeline(tmp_path, loaded, slow_windows):
    video = tmp_path / "talk.mp4"
    write_face_video(video, 4.0)
    snapshots = []
    model, processor = loaded
    for snapshot in analyse_video(
        video, model, processor, model_name="tiny", options=DemoOptions(1.0, 0.5), update_seconds=0
    ):
        snapshots.append((snapshot.done, snapshot.total, snapshot.finished))
    assert snapshots[0] == (0, 0, False)  # at once, before any window
    assert snapshots[-1] == (7, 7, True)
    done = [count for count, _, finished in snapshots if not finished]
    assert done == sorted(done) and any(0 < count < 7 for count in done)  # shown before the end
    final = snapshot.timeline
    assert [snapshot.rows[position] for position in range(7)] == final.windows
    assert all(row.face_found for row in final.windows)
    strip = snapshot.face_strip()
    assert len(strip) == 7 and [row.start for _, row in strip] == sorted(row.start for _, row in strip)
    assert strip[0][0].shape == (32, 32, 3)


def test_the_face_strip_keeps_one_crop_per_stretch_of_a_long_video(tmp_path, loaded):
    video = tmp_path / "long.mp4"
    write_face_video(video, 8.0)
    final = run(video, loaded, settings={"window_seconds": 0.4, "stride_seconds": 0.1})[-1]
    assert final.total > 2 * MAX_FACE_STRIP
    strip = final.face_strip()
    assert MAX_FACE_STRIP // 2 <= len(strip) <= MAX_FACE_STRIP
    assert strip[0][1].start == 0.0 and strip[-1][1].end > 6.0  # spread over the whole video


def test_a_faceless_video_is_analysed_and_says_so(tmp_path, loaded):
    video = write_noise_video(tmp_path / "noise.mp4", 2.0)
    final = run(video, loaded)[-1]
    assert final.finished and final.timeline.face_windows()[0] == 0
    assert final.face_strip() == []


@pytest.mark.parametrize("content", [b"", b"\x00not a video" * 50])
def test_an_unreadable_upload_is_named_by_its_name_not_the_servers_path(tmp_path, loaded, content):
    video = tmp_path / "uploads" / "a1b2c3" / "holiday.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(content)
    with pytest.raises(AnalysisError, match="holiday.mp4") as caught:
        run(video, loaded)
    assert str(video.parent) not in str(caught.value) and "Upload a video file" in str(caught.value)


def test_a_video_over_the_length_limit_is_refused_before_any_work(tmp_path, loaded, monkeypatch):
    video = tmp_path / "talk.mp4"
    write_face_video(video, 3.0)
    monkeypatch.setattr("dfer.demo.analysis.predict_timeline", lambda *a, **k: pytest.fail("analysed anyway"))
    with pytest.raises(AnalysisError, match=r"talk.mp4 is 3 s long; this demo takes videos of up to 2.5 s"):
        run(video, loaded, max_seconds=2.5)
    with pytest.raises(AnalysisError, match="must be positive"):
        run(video, loaded, settings={"stride_seconds": 0.0})


def test_closing_the_snapshots_returns_at_once_and_stops_the_pass(tmp_path, loaded, slow_windows):
    video = tmp_path / "long.mp4"
    write_face_video(video, 12.0)
    model, processor = loaded
    snapshots = analyse_video(
        video, model, processor, model_name="tiny", options=DemoOptions(0.4, 0.1), update_seconds=0
    )
    for snapshot in snapshots:
        if snapshot.done:
            break
    started = time.monotonic()
    snapshots.close()  # what the page does when its visitor leaves (on Gradio's event loop: it must not wait)
    assert time.monotonic() - started < 0.5
    # The next analysis's pass waits for the stopped one to end, then runs to the end.
    short = tmp_path / "short.mp4"
    write_face_video(short, 1.0)
    assert run(short, loaded)[-1].finished
    deadline = time.monotonic() + 30  # the pass ends at its next window
    while any(thread.name.startswith("dfer-demo") for thread in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(thread.name.startswith("dfer-demo") for thread in threading.enumerate())
    assert snapshot.done < snapshot.total


def test_a_second_pass_over_a_truncated_video_starts_the_snapshot_afresh():
    snapshot = AnalysisSnapshot("v.mp4", "m", ["Happy"], 30.0, 90, DemoOptions())
    row = WindowPrediction(0.0, 1.0, "Happy", 1.0, {"Happy": 1.0}, True, 1.0)
    crops = np.zeros((4, 8, 8, 3), np.uint8)
    for position in range(3):
        snapshot.add(WindowResult(position, 3, row, crops))
    assert snapshot.done == 3 and len(snapshot.face_strip()) == 3
    snapshot.add(WindowResult(0, 3, row, crops, attempt=1))  # the same number of windows, planned again
    assert snapshot.done == 1 and len(snapshot.face_strip()) == 1
    assert not np.shares_memory(snapshot.face_strip()[0][0], crops)  # the strip keeps a frame, not the clip


def test_the_model_picker_lists_checkpoint_folders(tmp_path, tiny_checkpoint):
    for name in ("run-a", "nested/run-b/checkpoint-10"):
        shutil.copytree(tiny_checkpoint, tmp_path / "models" / name)
    (tmp_path / "models" / "not-a-checkpoint").mkdir()
    (tmp_path / "models" / ".hidden").mkdir()
    shutil.copytree(tiny_checkpoint, tmp_path / "models" / ".hidden" / "run")
    found = find_checkpoints(tmp_path / "models")
    assert found == [str(tmp_path / "models" / "nested/run-b/checkpoint-10"), str(tmp_path / "models" / "run-a")]
    # --model first; with no models folder, the checkpoints beside --model.
    beside = str(tmp_path / "models" / "run-a")
    assert model_choices(beside, None) == [beside, found[0]]
    assert model_choices("someone/repo", tmp_path / "models") == ["someone/repo", *found]
    assert model_choices(beside, tmp_path / "models") == [beside, found[0]]


def test_the_model_cache_loads_once_and_names_what_it_cannot_load(tmp_path, tiny_checkpoint):
    cache = ModelCache(torch.device("cpu"), size=1)
    first = cache.get(str(tiny_checkpoint))
    assert cache.get(str(tiny_checkpoint)) is first
    with pytest.raises(CheckpointLoadError, match="empty"):
        cache.get(str(tmp_path / "empty"))
    assert cache.get(str(tiny_checkpoint)) is first  # a failed load does not evict
