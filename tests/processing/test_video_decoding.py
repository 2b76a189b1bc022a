
import numpy as np
import pytest
import torch
from PIL import Image
from processing_fixtures import (
    decoded_index,
    hide_pillow,
    set_display_rotation,
    write_frame_folder,
    write_video,
)

from dfer.data.face_samples import encode_video
from dfer.inference.timeline import FrameStream
from dfer.processing import video_decoding
from dfer.processing.video_decoding import EncodedVideo, list_frame_files, natural_sort_key, open_video


def test_natural_order_puts_2_before_10(tmp_path):
    names = ["10.jpg", "2.jpg", "1.jpg", "img_10.png", "img_9.png", ".hidden.jpg", "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    ordered = [path.rsplit("/", 1)[-1] for path in list_frame_files(tmp_path)]
    assert ordered == ["1.jpg", "2.jpg", "10.jpg", "img_9.png", "img_10.png"]
    assert sorted(["b10", "b2", "a"], key=natural_sort_key) == ["a", "b2", "b10"]


def test_frame_folder_reads_only_requested_frames_in_natural_order(tmp_path):
    write_frame_folder(tmp_path, 16, size=(20, 24))  # 1.jpg ... 16.jpg: a string sort would scramble them
    source = open_video(tmp_path)
    assert source.num_frames == 16
    frames = source.read([0, 9, 9, 15])
    assert frames.shape == (4, 3, 20, 24) and frames.dtype == torch.uint8
    assert [decoded_index(frame.numpy()) for frame in frames] == [0, 9, 9, 15]
    resized = source.read([1], output_size=(7, 5))
    assert resized.shape == (1, 3, 7, 5)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P"])
def test_grayscale_alpha_and_palette_frames_become_rgb(tmp_path, mode):
    image = Image.fromarray(np.full((9, 13, 3), 120, np.uint8)).convert(mode)
    image.save(tmp_path / "1.png")
    frames = open_video(tmp_path).read([0])
    assert frames.shape == (1, 3, 9, 13)
    assert abs(int(frames.float().mean()) - 120) <= 2


def test_frames_of_different_sizes_take_the_first_frames_size(tmp_path):
    Image.new("RGB", (11, 7), (10, 20, 30)).save(tmp_path / "1.png")
    Image.new("RGB", (22, 15), (10, 20, 30)).save(tmp_path / "2.png")
    assert open_video(tmp_path).read([0, 1]).shape == (2, 3, 7, 11)


def test_frames_read_with_pyav_when_pillow_is_missing(tmp_path, monkeypatch):
    write_frame_folder(tmp_path, 4, size=(10, 10))
    hide_pillow(monkeypatch)
    frames = open_video(tmp_path).read([3, 1], output_size=(6, 6))
    assert frames.shape == (2, 3, 6, 6)
    assert [decoded_index(frame.numpy()) for frame in frames] == [3, 1]


def test_corrupt_frame_names_the_file(tmp_path):
    write_frame_folder(tmp_path, 2)
    (tmp_path / "3.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="3.jpg"):
        open_video(tmp_path).read([2])


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".mp4", "libx264"), (".avi", "mpeg4"), (".mkv", "libx264"), (".webm", "libvpx-vp9")],
)
def test_video_files_return_the_exact_requested_frames(tmp_path, suffix, codec):
    path = write_video(tmp_path / f"clip{suffix}", 40, codec=codec, gop=10)
    source = open_video(path)
    assert source.num_frames == 40
    wanted = [1, 2, 13, 27, 27, 39]
    frames = source.read(wanted, output_size=(16, 16))
    assert frames.shape == (6, 3, 16, 16)
    assert [decoded_index(frame.numpy()) for frame in frames] == wanted


def test_video_decoding_seeks_and_converts_only_kept_frames(tmp_path, monkeypatch):
    path = write_video(tmp_path / "long.mp4", 120, gop=10)
    converted = []
    original = EncodedVideo._convert

    def counting(frame, *args):
        converted.append(frame.pts)
        return original(frame, *args)

    monkeypatch.setattr(EncodedVideo, "_convert", staticmethod(counting))
    source = EncodedVideo(path)
    decoded = []
    real_seek = EncodedVideo._seek

    def recording_seek(container, stream, time):
        frames = real_seek(container, stream, time)
        return (decoded.append(frame.pts) or frame for frame in frames)

    monkeypatch.setattr(EncodedVideo, "_seek", staticmethod(recording_seek))
    frames = source.read([5, 115])
    assert [decoded_index(frame.numpy()) for frame in frames] == [5, 115]
    assert len(converted) == 2  # only the kept frames become RGB arrays
    assert len(decoded) <= 2 * 10 + 2  # two keyframe-to-target runs, not the 120-frame video


def test_corrupt_video_names_the_file(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="broken.mp4"):
        open_video(path)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        open_video(tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    ("shape", "layout", "frame_size"),
    [
        ((5, 9, 11, 3), None, (9, 11)),
        ((5, 3, 9, 11), None, (9, 11)),
        ((5, 9, 11), None, (9, 11)),
        ((5, 9, 11, 4), None, (9, 11)),
        ((5, 3, 9, 3), "channels_first", (9, 3)),
    ],
)
def test_arrays_in_common_layouts(shape, layout, frame_size):
    array = np.arange(np.prod(shape), dtype=np.int64).reshape(shape) % 256
    frames = video_decoding.ArrayVideo(array.astype(np.uint8), layout).read([0, 4])
    assert frames.shape == (2, 3, *frame_size)


def test_list_of_frames_and_tensors_are_videos():
    frames = [np.full((6, 7), i, np.uint8) for i in range(3)]
    assert open_video(frames).read([2]).shape == (1, 3, 6, 7)
    assert open_video(torch.zeros(4, 3, 6, 7)).read([1, 1]).shape == (2, 3, 6, 7)
    with pytest.raises(TypeError, match="Cannot read a video"):
        open_video(42)


@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_a_rotated_video_is_read_upright_by_the_processor_and_predicts_frame_stream(tmp_path, clockwise):
    """Phones store portrait video as landscape frames plus a display rotation: frames must reach the model (and
    the face detector) as every player shows them."""
    from dfer.processing import DferVideoProcessor

    upright = np.zeros((64, 48, 3), np.uint8)
    upright[:16, :, 0] = 255  # a red band along the top of the picture as shown
    stored = np.ascontiguousarray(np.rot90(upright, clockwise // 90))  # what the camera wrote
    path = tmp_path / "phone.mp4"
    encode_video(path, [stored] * 4, fps=25, codec="libx264", options={"qp": "0"})
    set_display_rotation(path, clockwise)

    frames = open_video(path).read([0, 3])  # (T, 3, H, W), at the size shown
    assert frames.shape == (2, 3, 64, 48)
    assert frames[0, 0, :12].float().mean() > 200 and frames[0, 0, -40:].float().mean() < 30
    clip = DferVideoProcessor(num_frames=2, size=32, do_augment=False)(str(path))["pixel_values"][0]
    assert clip[0, 0, :6].mean() > clip[0, 0, -16:].mean() + 0.5
    ((_, frame),) = FrameStream(path).frames([0])
    assert (frame.height, frame.width) == (64, 48)
    assert frame.rgb(32, 24)[:6, :, 0].mean() > 200 and frame.gray(64, 48).shape == (64, 48)
