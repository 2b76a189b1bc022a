"""A user's raw videos all the way through the commands, offline: `dfer prepare` (face crops + manifest, a faceless
video reported) -> `dfer train` on the manifest (the user's labels) -> `dfer evaluate` -> `dfer predict` on a new
raw video, whose timeline speaks the user's labels."""

import csv
import json

from face_videos import write_face_video
from training_fixtures import TINY_MODELS

from dfer.cli import evaluate, predict, prepare, train
from dfer.data.face_samples import write_noise_video


def test_prepare_train_evaluate_predict_on_raw_videos(tmp_path, capsys):
    raw = tmp_path / "my_videos"
    for split, count in (("train", 3), ("test", 1)):
        for label, tilt in (("calm", 0.0), ("leaning", 25.0)):
            for index in range(count):
                write_face_video(raw / split / label / f"clip{index}.mp4", 0.8, tilt=tilt, seed=index)
    write_noise_video(raw / "train" / "calm" / "no_face.mp4", 0.5)

    clips = tmp_path / "my_clips"
    assert prepare.main([str(raw), "--output_dir", str(clips), "--size", "48", "--no-progress"]) == 1  # one failed
    report = json.loads((clips / "prepare_report.json").read_text())
    assert report["counts"]["prepared"] == 8 and report["counts"]["no_face"] == 1
    with open(clips / "manifest.csv", newline="") as manifest:
        rows = list(csv.DictReader(manifest))
    assert len(rows) == 8 and {row["label"] for row in rows} == {"calm", "leaning"}
    assert not any("no_face" in row["path"] for row in rows)

    model = tmp_path / "model"
    manifest = str(clips / "manifest.csv")
    train_argv = [
        "--model", "gca_resnet", "--recipe", "sample", "--num_frames", "4", "--image_size", "32",
        "--config_overrides", TINY_MODELS["gca_resnet"],
        "--dataset", "manifest", "--data_dir", manifest, "--output_dir", str(model),
        "--num_train_epochs", "1", "--per_device_train_batch_size", "3", "--per_device_eval_batch_size", "2",
        "--report_to", "none", "--use_cpu",
    ]  # fmt: skip
    assert train.main(train_argv) == 0
    config = json.loads((model / "config.json").read_text())
    assert config["id2label"] == {"0": "calm", "1": "leaning"}

    evaluation = tmp_path / "evaluation"
    assert evaluate.main([
        "--checkpoint", str(model), "--dataset", "manifest", "--data_dir", manifest,
        "--output_dir", str(evaluation), "--per_device_eval_batch_size", "2", "--report_to", "none",
    ]) == 0  # fmt: skip
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert metrics["labels"] == ["calm", "leaning"] and metrics["metrics"]["num_clips"] == 2

    new_video = tmp_path / "new.mp4"
    write_face_video(new_video, 2.5, tilt=10.0)
    predictions = tmp_path / "predictions"
    assert predict.main([str(new_video), "--model", str(model), "--output", str(predictions), "--no-progress"]) == 0
    timeline = json.loads((predictions / "new.json").read_text())
    assert timeline["labels"] == ["calm", "leaning"]
    with open(predictions / "new.csv", newline="") as table:
        predicted = {row["label"] for row in csv.DictReader(table)}
    assert predicted and predicted <= {"calm", "leaning"}
    capsys.readouterr()
