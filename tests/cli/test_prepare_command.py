"""The `dfer prepare` command (dfer.cli.prepare over dfer.data.prepare_clips): the summary and the next command,
exit status 1 when some videos failed or a dead worker stopped the run, one `error:` line and exit status 2 for
bad input (before anything is written) and for a full disk (with the finished clips listed), Ctrl-C."""

import errno
import os

import pytest
from face_videos import write_face_video
from processing_fixtures import write_video

import dfer.cli.prepare as prepare_command
from dfer.cli import main
from dfer.data.clip_preparation import WORKER_DIED, ClipResult, ClipWriter, OutputWriteError, PrepareReport
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
        ("videos", "out", ["--fps", "nan"], "--fps nan: give a positive number"),
        ("videos", "out", ["--size", "100000"], "--size 100000: the side of the square frames"),
        ("videos", "out", ["--margin", "inf"], "--margin inf: the margin around the face box"),
        ("videos", "out", ["--max_seconds", "1e308"], "--max_seconds 1e+308: give a positive number"),
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


def test_a_full_disk_is_one_error_line_and_the_finished_clips_are_listed(tmp_path, capsys, monkeypatch):
    write_video(tmp_path / "videos" / "happy" / "a.mp4", 3)
    write_video(tmp_path / "videos" / "happy" / "b.mp4", 3)
    real_write = ClipWriter.write

    def no_space_for_b(writer, image):
        if writer.destination.name == "b":
            raise OutputWriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(writer.partial / "00001.jpg"))
        real_write(writer, image)

    monkeypatch.setattr(ClipWriter, "write", no_space_for_b)
    output = tmp_path / "prepared"
    assert prepare(tmp_path / "videos", output, "--no-face-crop") == 2
    error = capsys.readouterr().err
    assert error.startswith("dfer prepare: error: [Errno 28] No space left on device: ")
    assert error.endswith(". Clips finished so far are kept; rerun to go on.\n") and "Traceback" not in error
    assert (output / "manifest.csv").read_text().splitlines() == ["path,label", "happy/a,happy"]


@pytest.mark.parametrize("with_its_clip", [True, False], ids=["while preparing", "between clips"])
def test_a_run_stopped_by_a_dead_worker_says_so_and_exits_with_1(
    tmp_path, capsys, monkeypatch, with_its_clip
):
    done = ClipResult(str(tmp_path / "short.mp4"), "happy", None, "prepared", "happy/short", 4)
    died = ClipResult(str(tmp_path / "long.mp4"), "happy", None, "failed", reason=WORKER_DIED)
    where = f"while preparing {died.video}" if with_its_clip else "between two clips"
    stopped = f"a worker process died (killed, or out of memory) {where}; the run stopped"
    clips = [done, died] if with_its_clip else [done]
    report = PrepareReport(str(tmp_path), tmp_path / "out", {}, clips, finished=False, stopped=stopped)
    monkeypatch.setattr(prepare_command, "prepare_clips", lambda *args, **kwargs: report)
    assert prepare(tmp_path, tmp_path / "out") == 1
    captured = capsys.readouterr()
    failed = ", 1 failed otherwise" if with_its_clip else ""
    assert captured.out.startswith(
        f"dfer prepare: 1 clip prepared, 0 already done, 0 videos without a face, 0 unreadable{failed} ("
    )
    assert (f"  {died.video}: {WORKER_DIED}" in captured.err) is with_its_clip
    assert captured.err.endswith(
        f"dfer prepare: {stopped}. Clips finished so far are kept; rerun to go on.\n"
    )
