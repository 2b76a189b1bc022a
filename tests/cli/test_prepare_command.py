"""The `dfer prepare` command (dfer.cli.prepare over dfer.data.prepare_clips): the summary and the next command,
exit status 1 when some videos failed, one `error:` line and exit status 2 for bad input, Ctrl-C."""

import pytest
from face_videos import write_face_video
from processing_fixtures import write_video

import dfer.cli.prepare as prepare_command
from dfer.cli import main
from dfer.data.face_samples import write_noise_video


def prepare(source, output, *options) -> int:
    return main(["prepare", str(source), "--output_dir", str(output), *options, "--no-progress"])


def test_prepare_prints_counts_the_manifest_and_the_next_command(tmp_path, capsys):
    write_face_video(tmp_path / "videos" / "happy" / "talk.mp4", 1.0)
    write_face_video(tmp_path / "videos" / "sad" / "other.mp4", 1.0, seed=1)
    output = tmp_path / "prepared"
    manifest = output / "manifest.csv"
    assert prepare(tmp_path / "videos", output, "--size", "48") == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith(
        "dfer prepare: 2 clips prepared, 0 already done, 0 videos without a face, 0 unreadable"
    )
    assert f"  manifest: {manifest} (2 clips, 2 labels)" in lines
    assert (
        lines[-1]
        == f"next: dfer train --dataset manifest --data_dir {manifest} --output_dir outputs/own_data"
    )
    assert captured.err == ""
    # Run again: nothing is redone.
    assert prepare(tmp_path / "videos", output, "--size", "48") == 0
    assert capsys.readouterr().out.startswith("dfer prepare: 0 clips prepared, 2 already done")


def test_failed_videos_are_listed_and_the_exit_status_is_1(tmp_path, capsys):
    clips = tmp_path / "clips"
    write_video(clips / "flat.mp4", 5)
    noise = write_noise_video(clips / "noise.mp4", 0.5)
    garbage = clips / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 50)
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label\nclips/flat.mp4,happy\nclips/noise.mp4,happy\nclips/garbage.mp4,sad\n")
    output = tmp_path / "prepared"
    # Flat colour frames hold no face either: with face cropping only the garbage file is unreadable.
    assert prepare(manifest, output) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(
        "dfer prepare: 0 clips prepared, 0 already done, 2 videos without a face, 1 unreadable"
    )
    assert "next:" not in captured.out
    errors = captured.err.splitlines()
    assert errors[0] == f"dfer prepare: 3 of 3 videos failed (see {output / 'prepare_report.json'}):"
    assert f"  {garbage}: Cannot read video" in captured.err
    assert f"  {noise}: no face found in 15 frames" in captured.err
    assert "Traceback" not in captured.err
    # With face cropping off the flat video is prepared; the garbage file still fails.
    assert prepare(manifest, tmp_path / "whole", "--no-face-crop") == 1
    assert capsys.readouterr().out.startswith(
        "dfer prepare: 2 clips prepared, 0 already done, 0 videos without a face, 1 unreadable"
    )


@pytest.mark.parametrize(
    "source, output, options, message",
    [
        ("missing", "out", [], "missing: no such folder"),
        ("videos", "videos/out", [], "lies inside the input video folder"),
        ("videos", "out", ["--size", "0"], "--size 0: the side of the square frames"),
        ("videos", "out", ["--fps", "-2"], "--fps -2.0: give a positive number"),
        ("videos", "out", ["--num_proc", "0"], "--num_proc 0: give the number"),
        ("notes.txt", "out", [], "a manifest is a .csv (header path,label[,split]) or .jsonl"),
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, capsys, source, output, options, message):
    write_video(tmp_path / "videos" / "happy" / "a.mp4", 2)
    (tmp_path / "notes.txt").write_text("not a manifest")
    before = sorted(tmp_path.rglob("*"))
    assert prepare(tmp_path / source, tmp_path / output, *options) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfer prepare: error: ") and message in lines[0]
    assert captured.out == ""
    assert sorted(tmp_path.rglob("*")) == before


def test_ctrl_c_keeps_finished_clips_and_says_how_to_go_on(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_command, "prepare_clips", interrupted)
    assert prepare(tmp_path, tmp_path / "out") == 130
    hint = "Finished clips are kept: rerun the same command to go on."
    assert capsys.readouterr().err == f"dfer prepare: interrupted. {hint}\n"
