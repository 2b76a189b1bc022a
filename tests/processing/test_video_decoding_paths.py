"""The two ways `EncodedVideo` reads frames (one pass from the start for short clips, keyframe seeking for long
videos) and where its frame count comes from (container header, or an index pass when the header has none)."""

import pickle

import av
import numpy as np
import pytest
import torch
from av.video.reformatter import VideoReformatter
from PIL import Image
from processing_fixtures import decoded_index, frame_colour, write_frame_folder, write_video

from dfer.processing.video_decoding import EncodedVideo, open_video

CODECS = [(".mp4", "libx264"), (".avi", "mpeg4"), (".mkv", "libx264"), (".webm", "libvpx-vp9")]


def _header_frames(path) -> int:
    with av.open(str(path)) as container:
        return container.streams.video[0].frames


def _forbid_indexing(monkeypatch):
    def fail(self):
        raise AssertionError("indexed the packets")

    monkeypatch.setattr(EncodedVideo, "_index_packets", fail)


def test_header_frame_count_avoids_the_index_pass(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.mp4", 48, gop=12)
    assert _header_frames(path) == 48
    _forbid_indexing(monkeypatch)
    source = EncodedVideo(path)
    assert source.num_frames == 48
    wanted = [*range(1, 48, 3), 4, 0]  # the segment sampler's 16 frames (+ repeats): one pass, no index
    frames = source.read(wanted, output_size=(12, 16))
    assert frames.shape == (18, 3, 12, 16) and frames.dtype == torch.uint8 and frames.is_contiguous()
    assert [decoded_index(frame.numpy()) for frame in frames] == wanted


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
def test_stream_without_frame_count_is_indexed(tmp_path, monkeypatch, suffix):
    codec = "libvpx-vp9" if suffix == ".webm" else "libx264"
    path = write_video(tmp_path / f"clip{suffix}", 30, codec=codec, gop=8)
    assert _header_frames(path) == 0  # the container states no count: this is the fallback being tested
    indexed = []
    real_index = EncodedVideo._index_packets

    def recording(self):
        indexed.append(self.path)
        return real_index(self)

    monkeypatch.setattr(EncodedVideo, "_index_packets", recording)
    source = open_video(path)
    assert source.num_frames == 30 and len(indexed) == 1
    wanted = [0, 3, 17, 29, 29]
    assert [decoded_index(frame.numpy()) for frame in source.read(wanted)] == wanted
    assert len(indexed) == 1  # indexed once, at opening


@pytest.mark.parametrize(("suffix", "codec"), CODECS)
def test_seeking_and_sequential_decoding_give_identical_frames(tmp_path, suffix, codec):
    path = write_video(tmp_path / f"long{suffix}", 150, codec=codec, gop=40)
    wanted = [0, 1, 39, 40, 41, 79, 80, 100, 100, 149, 7]
    sequential, seeking = EncodedVideo(path), EncodedVideo(path)
    sequential.SEQUENTIAL_FRAMES_PER_WANTED = 10**6  # always one pass from the start
    seeking.SEQUENTIAL_FRAMES_PER_WANTED = 0  # always index + seek
    by_pass = sequential.read(wanted, output_size=(24, 32))
    by_seek = seeking.read(wanted, output_size=(24, 32))
    assert seeking._frame_times is not None  # the seek path really ran
    assert torch.equal(by_pass, by_seek)
    assert [decoded_index(frame.numpy()) for frame in by_seek] == wanted


def test_long_video_sparse_read_seeks_instead_of_decoding_everything(tmp_path, monkeypatch):
    path = write_video(tmp_path / "long.mp4", 300, gop=20)
    decoded = []
    real_seek = EncodedVideo._seek

    def recording_seek(container, stream, time):
        return (decoded.append(frame.pts) or frame for frame in real_seek(container, stream, time))

    monkeypatch.setattr(EncodedVideo, "_seek", staticmethod(recording_seek))
    wanted = list(range(9, 300, 19))  # 16 frames spread over 300: sparse, so seek
    frames = EncodedVideo(path).read(wanted, output_size=(8, 8))
    assert [decoded_index(frame.numpy()) for frame in frames] == wanted
    assert 0 < len(decoded) <= 16 * 20 * 0.75  # keyframe-to-target runs only, well short of the 290 frames


def test_header_count_above_decodable_frames_repeats_the_last_frame(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 20, gop=5)
    for sequential in (True, False):
        source = EncodedVideo(path)
        source._frame_count = 24  # a header that overstates the count
        source.SEQUENTIAL_FRAMES_PER_WANTED = 10**6 if sequential else 0
        frames = source.read([2, 19, 22, 23])
        assert [decoded_index(frame.numpy()) for frame in frames] == [2, 19, 19, 19]


def test_file_kept_open_until_the_first_read_then_reopened(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 10)
    source = EncodedVideo(path)
    copy = pickle.loads(pickle.dumps(source))  # DataLoader workers may receive opened sources
    assert copy._container is None and copy.num_frames == 10
    first = source.read([3, 8])
    assert source._container is None  # the first read consumed (and closed) the file opened at construction
    assert torch.equal(source.read([3, 8]), first)
    assert torch.equal(copy.read([3, 8]), first)
    unread = EncodedVideo(path)
    unread.close()
    assert torch.equal(unread.read([3, 8]), first)


def test_reused_converter_matches_a_fresh_conversion(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 3, size=(48, 64))
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    reformatter = VideoReformatter()
    for size in ((24, 32), (17, 23), (48, 64)):
        fresh = EncodedVideo._convert(frame, size, None)
        reused = EncodedVideo._convert(frame, size, None, reformatter)
        assert reused.shape == (*size, 3)
        np.testing.assert_array_equal(reused, fresh)


def test_frame_folder_frames_are_contiguous_chw(tmp_path):
    write_frame_folder(tmp_path, 4, size=(10, 12))
    frames = open_video(tmp_path).read([3, 0])
    assert frames.shape == (2, 3, 10, 12) and frames.is_contiguous()
    assert [decoded_index(frame.numpy()) for frame in frames] == [3, 0]


def test_frame_named_jpg_that_is_not_a_jpeg_is_still_read(tmp_path):
    write_frame_folder(tmp_path, 3, size=(10, 12))
    Image.fromarray(np.full((10, 12, 3), frame_colour(1), np.uint8)).save(tmp_path / "2.jpg", format="PNG")
    frames = open_video(tmp_path).read([0, 1, 2], output_size=(5, 6))
    assert frames.shape == (3, 3, 5, 6)
    assert [decoded_index(frame.numpy()) for frame in frames] == [0, 1, 2]


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grayscale_and_cmyk_jpeg_frames_become_rgb(tmp_path, mode):
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).convert(mode).save(tmp_path / "1.jpg")
    frames = open_video(tmp_path).read([0], output_size=(8, 8))
    assert frames.shape == (1, 3, 8, 8) and frames.is_contiguous()
    assert abs(float(frames.float().mean()) - 120) <= 3
