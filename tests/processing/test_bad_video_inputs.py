"""Bad inputs to decoding and the video processor: each gets a correct result or one clear message naming the
input, never a silent wrong result or a traceback from deep inside (16-bit frames, NaN videos, truncated files,
empty files, unreadable files, odd file names, float64 into a float32 model)."""

import logging
import os

import av
import numpy as np
import pytest
import torch
from PIL import Image
from processing_fixtures import (
    decodable_frames,
    decoded_index,
    frame_colour,
    hide_pillow,
    unprivileged,
    world_readable_directory,
    write_frame_folder,
    write_truncated_video,
    write_video,
)
from tiny_models import tiny_gca_resnet_config, tiny_logo_former_config

from dfer.modeling import GcaResNetForVideoClassification, LogoFormerForVideoClassification
from dfer.processing import DferVideoProcessor, sample_frame_indices
from dfer.processing.video_decoding import (
    EncodedVideo,
    VideoDecodeError,
    list_frame_files,
    open_video,
    read_image_file,
)

# 16-bit frames ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("decoder", "suffix"), [("pillow", ".png"), ("pillow", ".tif"), ("pyav", ".png")])
def test_16_bit_gray_frames_are_scaled_not_read_as_white(tmp_path, monkeypatch, decoder, suffix):
    levels = np.array([[0, 16384, 32768, 65535]], np.uint16).repeat(4, axis=0)  # 0, 1/4, 1/2, full
    Image.fromarray(levels).save(tmp_path / f"1{suffix}")
    with Image.open(tmp_path / f"1{suffix}") as image:
        assert image.mode.startswith("I;16")  # what made them white: Pillow's convert("RGB") clips at 255
    if decoder == "pyav":
        hide_pillow(monkeypatch)
    frames = open_video(tmp_path).read([0])
    assert frames.shape == (1, 3, 4, 4) and frames.dtype == torch.uint8
    row = frames[0, :, 0].T.int().tolist()
    assert all(len(set(pixel)) == 1 for pixel in row)  # gray stays gray
    assert [pixel[0] for pixel in row] == pytest.approx([0, 64, 128, 255], abs=1)


def test_16_bit_frames_through_the_processor_keep_their_levels(tmp_path):
    for index in range(4):
        Image.fromarray(np.full((8, 8), 20000 * index, np.uint16)).save(tmp_path / f"{index + 1}.png")
    pixels = DferVideoProcessor(size=8, num_frames=4)(tmp_path, return_tensors="pt")["pixel_values"][0]
    assert pixels.amax(dim=(1, 2, 3)).tolist() == pytest.approx([20000 * i / 65535 for i in range(4)], abs=0.01)


def test_32_bit_frames_of_no_standard_range_are_refused_by_name(tmp_path):
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "1.tif")
    with pytest.raises(ValueError, match=r"1\.tif: 32-bit floating-point pixels have no standard 0-255 range"):
        open_video(tmp_path).read([0])


# Arrays --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_float_video_with_nan_or_inf_is_refused_naming_the_input(bad):
    video = np.full((8, 6, 6, 3), 0.5, np.float32)
    video[3, 2, 2, 1] = bad
    processor = DferVideoProcessor(size=6, num_frames=8)
    with pytest.raises(ValueError, match=r"video array of shape \(8, 6, 6, 3\) \(float32\) holds 1 NaN or infinite"):
        processor(video)
    good = np.full((8, 6, 6, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"\(video 1 of the batch\) holds 1 NaN"):
        processor([good, video])
    with pytest.raises(ValueError, match="NaN"):
        processor(torch.from_numpy(video).permute(0, 3, 1, 2))  # tensors too


def test_other_arrays_that_are_not_pixels_are_refused():
    processor = DferVideoProcessor(size=6, num_frames=4)
    with pytest.raises(ValueError, match=r"Integer videos must hold pixel values 0-255 .*\[0, 1000\]"):
        processor(np.linspace(0, 1000, 4 * 6 * 6 * 3).astype(np.int64).reshape(4, 6, 6, 3))
    assert processor(np.full((4, 6, 6, 3), 255, np.int64))["pixel_values"].max() == 1.0  # 0-255 in int64 is fine
    with pytest.raises(TypeError, match="must hold real numbers"):
        processor(np.array([["a"] * 3] * 4, dtype=object).reshape(4, 1, 1, 3))
    with pytest.raises(ValueError, match="have no pixels"):
        processor(np.zeros((4, 0, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="must all have one shape"):
        processor([np.zeros((6, 6, 3), np.uint8), np.zeros((7, 6, 3), np.uint8)])


@pytest.mark.parametrize(
    "build",
    [
        lambda: GcaResNetForVideoClassification(tiny_gca_resnet_config()),
        lambda: LogoFormerForVideoClassification(tiny_logo_former_config()),
    ],
    ids=["gca_resnet", "logo_former"],
)
def test_float64_pixel_values_into_a_float32_model_say_so(build):
    torch.manual_seed(0)
    model = build().eval()
    config = model.config
    pixel_values = torch.rand(1, config.num_frames, 3, config.image_size, config.image_size, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"are torch\.float64 but the model's weights are torch\.float32.*\.to\("):
        model(pixel_values)
    with torch.no_grad():
        expected = model(pixel_values.float()).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts for the layers: no refusal
            assert model(pixel_values.float()).logits.shape == expected.shape
        model.double()
        assert model(pixel_values).logits.dtype == torch.float64  # matching dtypes still work


# Truncated and empty video files -----------------------------------------------------------------------------


@pytest.mark.parametrize("mid_packet", [False, True], ids=["cut-between-packets", "cut-inside-a-packet"])
def test_truncated_faststart_mp4_is_sampled_over_the_frames_that_exist(tmp_path, caplog, mid_packet):
    path = write_truncated_video(tmp_path / "half.mp4", 60, keep_packets=30, mid_packet=mid_packet, gop=10)
    real = decodable_frames(path)
    assert open_video(path).num_frames == 60 and 10 < real < 60  # the header still promises 60
    processor = DferVideoProcessor(size=16, num_frames=16)
    with caplog.at_level(logging.WARNING):
        pixels = processor(str(path), return_tensors="pt")["pixel_values"][0]
    # The frames the evaluation sampler picks over the real count: no frame stands in for a missing one.
    assert [decoded_index(frame) for frame in pixels] == sample_frame_indices(real, 16)
    assert f"declares 60 frames but only {real} can be decoded" in caplog.text and "half.mp4" in caplog.text


def test_truncated_long_video_read_by_seeking_is_resampled_too(tmp_path):
    path = write_truncated_video(tmp_path / "long.mp4", 300, keep_packets=150, gop=20)
    real = decodable_frames(path)
    processor = DferVideoProcessor(size=8, num_frames=16)
    pixels = processor(str(path), return_tensors="pt")["pixel_values"][0]
    expected = sample_frame_indices(real, 16)
    assert expected[-1] + 1 > EncodedVideo.SEQUENTIAL_FRAMES_PER_WANTED * 16  # the seeking path
    assert [decoded_index(frame) for frame in pixels] == expected


def test_truncated_video_flags_and_counts_its_real_frames(tmp_path):
    path = write_truncated_video(tmp_path / "half.mp4", 60, keep_packets=20, mid_packet=True)
    source = EncodedVideo(path)
    with pytest.raises(VideoDecodeError, match="Cannot decode video .*half.mp4"):  # the cut packet
        source.read(list(range(0, 60, 4)))
    assert source.count_decodable_frames() == decodable_frames(path) == source.num_frames
    assert source.declared_num_frames == 60 and source.decode_failure
    clean = EncodedVideo(write_truncated_video(tmp_path / "clean.mp4", 60, keep_packets=20))
    clean.read([5, 59])
    assert clean.fewer_frames_than_declared  # the last frame stood in: the caller is told


def test_training_reads_of_a_truncated_video_never_repeat_a_missing_frame(tmp_path):
    path = write_truncated_video(tmp_path / "half.mp4", 60, keep_packets=25, gop=10)
    real = decodable_frames(path)
    processor = DferVideoProcessor(size=8, num_frames=8, training=True, do_augment=False)
    for seed in range(3):
        indices = [decoded_index(f) for f in processor(str(path), seed=seed, return_tensors="pt")["pixel_values"][0]]
        assert max(indices) < real and len(set(indices)) == 8


def test_zero_byte_and_headerless_videos_name_the_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mp4: the file is empty \(0 bytes\)"):
        open_video(tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match=r"empty\.mp4: the file is empty"):
        DferVideoProcessor()(str(tmp_path / "empty.mp4"))


def test_a_folder_without_images_and_folders_named_like_images(tmp_path):
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"No frame images .* in .*nothing; point to a folder of frames"):
        DferVideoProcessor()(str(tmp_path / "nothing"))
    write_frame_folder(tmp_path / "clip", 3)
    (tmp_path / "clip" / "10.jpg").mkdir()  # a folder with an image's name is not a frame
    assert [os.path.basename(path) for path in list_frame_files(tmp_path / "clip")] == ["1.jpg", "2.jpg", "3.jpg"]
    with pytest.raises(ValueError, match=r"Cannot list the frame folder .*1\.jpg"):
        list_frame_files(tmp_path / "clip" / "1.jpg")  # a file, not a folder


# File names and permissions -----------------------------------------------------------------------------------


def test_frame_and_video_names_that_are_not_utf8_are_read(tmp_path, monkeypatch):
    folder = tmp_path / os.fsdecode(b"clip-\xe9")  # Latin-1 bytes, as old archives have
    names = [os.fsdecode(b"\xff%d.png" % (index + 1)) for index in range(3)]
    write_frame_folder(folder, 3, names=names)
    assert [decoded_index(f) for f in open_video(folder).read([0, 1, 2])] == [0, 1, 2]
    video = write_video(tmp_path / os.fsdecode(b"v\xfe.mp4"), 12)
    assert [decoded_index(f) for f in open_video(video).read([3, 11])] == [3, 11]
    hide_pillow(monkeypatch)
    assert [decoded_index(f) for f in open_video(folder).read([2])] == [2]


def test_unreadable_frames_folders_and_videos_get_one_message_each(monkeypatch):
    """Real permissions: as root (which chmod does not bind) the reads run as `nobody`."""
    processor = DferVideoProcessor(size=8, num_frames=4)
    messages = {}
    with world_readable_directory() as root:
        write_frame_folder(root / "frames", 4)
        (root / "frames" / "3.jpg").chmod(0o000)
        write_frame_folder(root / "closed", 2)
        (root / "closed").chmod(0o000)
        write_video(root / "video.mp4", 8).chmod(0o000)
        Image.fromarray(np.full((4, 4, 3), frame_colour(0), np.uint8)).save(root / "frame.png")
        (root / "frame.png").chmod(0o000)
        with unprivileged():
            for what in ("frames", "closed", "video.mp4"):
                with pytest.raises(ValueError) as error:
                    processor(str(root / what))
                messages[what] = str(error.value).replace(str(root) + "/", "")
            hide_pillow(monkeypatch)
            with pytest.raises(ValueError) as error:
                read_image_file(str(root / "frame.png"))
            messages["pyav"] = str(error.value).replace(str(root) + "/", "")
    reason = "permission denied (make it readable by this user)."
    assert messages["frames"] == f"Cannot read frame image frames/3.jpg: {reason}"
    assert messages["closed"] == f"Cannot list the frame folder closed: {reason}"
    assert messages["video.mp4"] == f"Cannot read video video.mp4: {reason}"
    assert messages["pyav"] == f"Cannot read frame image frame.png: {reason}"


def test_decoding_errors_in_the_middle_of_a_read_are_value_errors(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.mp4", 10)

    def failing_decode(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    source = EncodedVideo(path)
    monkeypatch.setattr(av.container.InputContainer, "decode", failing_decode)
    with pytest.raises(VideoDecodeError, match=r"Cannot decode video .*clip\.mp4: .*Invalid data"):
        source.read([1, 2])
