"""Sliding-window timelines (dfer.inference: timeline.py, writers.py): window planning, the streaming pass (right frames in the
right windows, bounded buffers, faces that come and go), clear errors, and the CSV / JSON / PNG writers."""

import csv
import json

import av
import numpy as np
import pytest
import torch
from face_videos import write_face_video
from PIL import Image
from processing_fixtures import write_frame_folder, write_video
from tiny_models import FrameIndexProbe
from tiny_models import tiny_gca_resnet_config as tiny_config

import dfer.modeling  # noqa: F401
from dfer.data.face_samples import write_noise_video
from dfer.inference.timeline import FrameStream, StreamStats, assign_frames, plan_windows, predict_timeline
from dfer.inference.writers import summarize, write_csv, write_json, write_plot
from dfer.modeling import GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor

SIZE = (120, 160)
FACE = 56
LABELS = {0: "Happy", 1: "Sad", 2: "Neutral", 3: "Angry", 4: "Surprise", 5: "Disgust", 6: "Fear"}


def test_a_clip_shorter_than_a_window_is_one_window():
    windows = plan_windows(12, 25.0, 2.0, 1.0)
    assert [(w.start_frame, w.end_frame) for w in windows] == [(0, 12)]
    assert windows[0].start == 0 and windows[0].end == pytest.approx(12 / 25)


def test_windows_slide_by_the_stride_and_reach_the_end():
    windows = plan_windows(100, 10.0, 2.0, 1.5)  # 10 s: starts 0, 1.5, ... 7.5, then one ending at 10 s
    spans = [(w.start_frame, w.end_frame) for w in windows]
    assert spans == [(0, 20), (15, 35), (30, 50), (45, 65), (60, 80), (75, 95), (80, 100)]
    assert plan_windows(100, 10.0, 2.0, 2.0)[-1].end_frame == 100
    assert len(plan_windows(100, 10.0, 2.0, 2.0)) == 5  # exact fit: no extra window
    with pytest.raises(ValueError, match="positive"):
        plan_windows(100, 10.0, 0.0, 1.0)


def test_each_window_reads_the_evaluation_sampler_frames_inside_it():
    windows = plan_windows(90, 30.0, 1.0, 0.5)
    assign_frames(windows, 4, "segment")
    for window in windows:
        assert len(window.frame_indices) == 4
        assert (
            window.start_frame <= min(window.frame_indices) and max(window.frame_indices) < window.end_frame
        )
    assert windows[1].frame_indices == [index + 15 for index in windows[0].frame_indices]


def test_every_window_is_classified_on_its_own_frames_in_order(tmp_path):
    path = write_video(tmp_path / "indexed.mp4", 100, size=(48, 64), rate=25)
    probe = FrameIndexProbe(num_frames=4)
    processor = DferVideoProcessor(num_frames=4, size=16)
    timeline = predict_timeline(
        path, probe, processor, window_seconds=1.0, stride_seconds=0.6, face_crop=False, batch_size=3
    )
    windows = plan_windows(100, 25.0, 1.0, 0.6)
    assign_frames(windows, 4, "segment")
    assert probe.clips == [window.frame_indices for window in windows]
    assert [(row.start, row.end) for row in timeline.windows] == [(w.start, w.end) for w in windows]
    expected = torch.arange(7.0).softmax(-1)
    assert all(
        row.label == "Fear" and row.confidence == pytest.approx(float(expected[6]))
        for row in timeline.windows
    )
    assert timeline.fps == 25.0 and timeline.num_frames == 100


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return GcaResNetForVideoClassification(
        tiny_config(id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    ).eval()


@pytest.fixture(scope="module")
def processor():
    return DferVideoProcessor(num_frames=4, size={"height": 32, "width": 32})


def test_timeline_of_a_talking_head(tmp_path, tiny_model, processor):
    path = tmp_path / "talk.mp4"
    write_face_video(path, 3.0)
    stats = StreamStats()
    timeline = predict_timeline(
        path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5, stats=stats
    )
    assert len(timeline.windows) == 5 and timeline.duration == pytest.approx(3.0)
    for row in timeline.windows:
        assert list(row.probabilities) == list(LABELS.values())
        assert sum(row.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert row.label == max(row.probabilities, key=row.probabilities.get)
        assert row.face_found and row.face_fraction == 1.0
    assert stats.detections_run == 30  # every 0.1 s, not every frame
    assert "face found in 5 of 5 windows" in summarize(timeline)


def test_a_single_short_clip_is_one_window(tmp_path, tiny_model, processor):
    path = tmp_path / "short.mp4"
    write_face_video(path, 0.4)
    timeline = predict_timeline(path, tiny_model, processor)
    assert len(timeline.windows) == 1
    assert timeline.windows[0].end == pytest.approx(0.4) and timeline.windows[0].face_found


def test_windows_where_the_face_is_hidden_are_flagged_not_dropped(tmp_path, tiny_model, processor):
    path = tmp_path / "hidden.mp4"
    write_face_video(path, 4.0, face_visible=lambda i: not 45 <= i < 90)
    timeline = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)
    # Windows of 1 s every 0.5 s, each read through 4 frames; the face is hidden from 1.5 s to 3.0 s.
    fractions = [row.face_fraction for row in timeline.windows]
    assert fractions == [1.0, 1.0, 0.5, 0.0, 0.0, 0.5, 1.0]
    assert [row.face_found for row in timeline.windows] == [f >= 0.5 for f in fractions]
    for row in timeline.windows:
        if row.face_found:
            assert sum(row.probabilities.values()) == pytest.approx(1.0, abs=1e-5) and row.label
        else:  # nothing is claimed about a face that was not seen
            assert row.label == "" and row.confidence is None and row.probabilities is None


def test_on_window_reports_every_row_as_it_is_decided_with_the_crops_read(tmp_path, tiny_model, processor):
    path = tmp_path / "hidden.mp4"
    write_face_video(path, 4.0, face_visible=lambda i: not 45 <= i < 90)
    reported = []
    timeline = predict_timeline(
        path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5, on_window=reported.append
    )
    assert sorted(result.position for result in reported) == list(range(7))
    assert {result.total for result in reported} == {7}
    for result in reported:
        assert result.row == timeline.windows[result.position]
        if result.row.face_found:  # the crops the model read: 4 frames at the processor's 32 x 32
            assert result.crops.shape == (4, 32, 32, 3) and result.crops.dtype == np.uint8
        else:
            assert result.crops is None
    assert sum(result.row.face_found for result in reported) == 5


def test_an_opened_stream_is_used_as_it_is(tmp_path, tiny_model, processor, monkeypatch):
    path = tmp_path / "talk.mp4"
    write_face_video(path, 2.0)
    from_path = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)
    stream = FrameStream(path)
    monkeypatch.setattr("dfer.inference.timeline.open_video", lambda *a: pytest.fail("opened again"))
    from_stream = predict_timeline(stream, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)
    assert from_stream.windows == from_path.windows and from_stream.video == str(path)


def test_an_exception_raised_by_on_window_stops_the_pass(tmp_path, tiny_model, processor):
    path = tmp_path / "talk.mp4"
    write_face_video(path, 3.0)
    calls = []

    def stop(result):
        calls.append(result)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5, on_window=stop)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="faces='main'"):
        predict_timeline(path, tiny_model, processor, faces="all", on_window=stop)


def test_memory_stays_bounded_on_longer_videos(tmp_path, tiny_model, processor):
    peaks = []
    for seconds in (6.0, 12.0):
        path = tmp_path / f"long{seconds:g}.mp4"
        write_face_video(path, seconds)
        stats = StreamStats()
        timeline = predict_timeline(path, tiny_model, processor, 1.0, 1.0, history_seconds=2.0, stats=stats)
        assert len(timeline.windows) == round(seconds)
        peaks.append((stats.max_pending_frames, stats.max_cached_crops, stats.max_detection_history))
    assert peaks[0] == peaks[1]  # twice as long, same buffers
    pending, crops, history = peaks[1]
    # Lookahead: 0.5 s gap + 3 x 0.2 s smoothing + one detection step = 36 frames, at most 4 sampled frames per
    # second of 30 frames -> 5-6 pending; crops of at most two windows; detections (one every 3 frames) over
    # at most 2 s of history + the lookahead + one window (60 + 36 + 30 frames).
    assert pending <= 6 and crops <= 8 and history <= (60 + 36 + 30) // 3 + 1


def test_frame_folders_use_the_given_frame_rate(tmp_path, tiny_model, processor):
    write_frame_folder(tmp_path / "frames", 20, size=(32, 32))
    timeline = predict_timeline(tmp_path / "frames", tiny_model, processor, face_crop=False, fps=10)
    assert timeline.fps == 10 and timeline.duration == 2.0 and len(timeline.windows) == 1


def test_clear_errors_for_missing_unreadable_and_audio_only_videos(tmp_path, tiny_model, processor):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        predict_timeline(tmp_path / "missing.mp4", tiny_model, processor)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(ValueError, match=r"Cannot read video .*garbage\.mp4"):
        predict_timeline(garbage, tiny_model, processor)
    audio = tmp_path / "audio.wav"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
    with pytest.raises(ValueError, match=r"audio\.wav has no video stream"):
        predict_timeline(audio, tiny_model, processor)


def test_a_faceless_video_gets_no_expression_at_all(tmp_path, tiny_model, processor):
    noise = write_noise_video(tmp_path / "noise.mp4", 2.0, SIZE)
    timeline = predict_timeline(noise, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)
    assert len(timeline.windows) == 3 and timeline.face_windows() == (0, 3)
    assert all(row.label == "" and row.probabilities is None for row in timeline.windows)
    assert timeline.label_shares() == {}
    summary = summarize(timeline)
    assert "no face found in any of the 3 windows" in summary and "expressions" not in summary


def test_writers(tmp_path, tiny_model, processor):
    path = tmp_path / "talk.mp4"
    write_face_video(path, 2.0)
    timeline = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)

    with write_csv(timeline, tmp_path / "out" / "talk.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "start",
        "end",
        "track_id",
        "label",
        "confidence",
        "face_found",
        "face_fraction",
        *LABELS.values(),
    ]
    assert len(rows) == len(timeline.windows) == 3
    for row, window in zip(rows, timeline.windows):
        assert float(row["start"]) == pytest.approx(window.start) and row["label"] == window.label
        assert row["face_found"] == "1"
        assert sum(float(row[label]) for label in LABELS.values()) == pytest.approx(1.0, abs=1e-4)

    data = json.loads(write_json(timeline, tmp_path / "out" / "talk.json").read_text())
    assert data["labels"] == list(LABELS.values()) and data["duration"] == pytest.approx(2.0)
    assert data["windows"][1]["probabilities"] == timeline.windows[1].probabilities
    assert sum(data["label_shares"].values()) == pytest.approx(1.0)

    png = write_plot(timeline, tmp_path / "out" / "talk.png")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 300
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["talk.csv", "talk.json", "talk.png"]


def test_a_tilted_moving_real_face_is_found_in_every_window(tmp_path, tiny_model, processor):
    path = tmp_path / "tilted.mp4"
    write_face_video(path, 3.0, tilt=40.0)
    timeline = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)
    assert timeline.face_windows() == (5, 5)


def test_a_face_seen_on_one_detection_only_is_not_a_face(tmp_path, tiny_model, processor):
    path = tmp_path / "flash.mp4"
    # The face shows on frames 15-17 only: one detection attempt (every 3 frames) sees it.
    write_face_video(path, 2.0, face_visible=lambda index: 15 <= index < 18)
    stats = StreamStats()
    timeline = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5, stats=stats)
    assert stats.frames_with_face == 1
    assert timeline.face_windows() == (0, 3) and timeline.label_shares() == {}


def test_every_person_gets_a_timeline_with_faces_all(tmp_path, tiny_model, processor):
    path = tmp_path / "two.mp4"
    # Two people side by side (the second is the mirrored portrait).
    write_face_video(path, 3.0, size=(180, 400), face_size=120, people=2)
    main_only = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)
    both = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5, faces="all")
    assert len(main_only.windows) == 5 and main_only.track_ids == []
    assert both.track_ids == [0, 1] and len(both.windows) == 10
    for person in (0, 1):
        rows = [row for row in both.windows if row.track_id == person]
        assert [row.start for row in rows] == [row.start for row in main_only.windows]
        assert all(row.face_found and sum(row.probabilities.values()) == pytest.approx(1, abs=1e-5) for row in rows)
    # The two people are different crops, so their probabilities differ.
    first, second = ([row.probabilities for row in both.windows if row.track_id == p] for p in (0, 1))
    assert any(a != b for a, b in zip(first, second))
    assert "2 people" in summarize(both)

    with write_csv(both, tmp_path / "two.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["track_id"] for row in rows] == ["0"] * 5 + ["1"] * 5
    one_panel = write_plot(main_only, tmp_path / "one.png")
    two_panels = write_plot(both, tmp_path / "two.png")
    with Image.open(one_panel) as one, Image.open(two_panels) as two:
        assert two.height > 1.5 * one.height  # one panel per person


def test_windows_without_a_face_leave_a_gap_in_the_plot(tmp_path, tiny_model, processor, monkeypatch):
    from matplotlib.axes import Axes

    path = tmp_path / "hidden.mp4"
    write_face_video(path, 4.0, face_visible=lambda i: not 45 <= i < 90)
    timeline = predict_timeline(path, tiny_model, processor, window_seconds=1.0, stride_seconds=0.5)
    plotted = []
    original = Axes.plot
    monkeypatch.setattr(Axes, "plot", lambda self, x, y, *a, **k: plotted.append(np.asarray(y)) or original(self, x, y, *a, **k))
    write_plot(timeline, tmp_path / "hidden.png")
    found = np.array([row.face_found for row in timeline.windows])
    assert (~found).any() and found.any()
    for values in plotted:  # no value is drawn for a face-free window, so the line breaks there
        assert np.isnan(values[~found]).all() and not np.isnan(values[found]).any()


def test_aligned_crops_over_a_tilted_video(tmp_path, tiny_model, processor):
    from dfer.processing.face_crop import FaceCropOptions

    path = tmp_path / "tilted.mp4"
    write_face_video(path, 2.0, tilt=30.0)
    timeline = predict_timeline(path, tiny_model, processor, 1.0, 0.5)  # aligned: the default
    plain = predict_timeline(path, tiny_model, processor, 1.0, 0.5, face_options=FaceCropOptions(align=False))
    assert timeline.face_windows() == plain.face_windows() == (3, 3)
    # Turned crops are other pixels, so the model's output moves.
    assert any(a.probabilities != b.probabilities for a, b in zip(timeline.windows, plain.windows))


def test_boxes_fit_the_shrunk_frames_of_a_1080p_video(tmp_path, tiny_model, processor):
    from face_videos import astronaut

    from dfer.data.face_samples import photo_frames
    from dfer.processing.face_crop import FaceCropOptions

    # Frames kept for cropping are shrunk to a 720 px shorter side; boxes must be in those pixels too.
    folder = tmp_path / "hd"
    folder.mkdir()
    squares = []
    for index, (frame, (square,)) in enumerate(photo_frames(12, [astronaut()], (1080, 1920), face_size=500)):
        Image.fromarray(frame).save(folder / f"{index}.png")
        squares.append(square)
    options = FaceCropOptions(align=False)
    crops = []
    original = predict_timeline.__globals__["crop_square"]

    def recording(frame, box, margin, size):
        crops.append((frame.shape, np.asarray(box)))
        return original(frame, box, margin, size)

    predict_timeline.__globals__["crop_square"] = recording
    try:
        timeline = predict_timeline(folder, tiny_model, processor, 0.4, 0.4, face_options=options)
    finally:
        predict_timeline.__globals__["crop_square"] = original
    assert timeline.face_windows()[0] == len(timeline.windows)
    scale = 720 / 1080
    for shape, box in crops:
        assert shape[:2] == (720, 1280)
        x0, y0, side = squares[0]
        assert abs(box[0] - (x0 + side / 2) * scale) < 0.15 * side * scale  # the face's centre, not 1.5x off
