"""JPEG frames through simplejpeg (when installed) give the Pillow path's pixels bit for bit, at every reduced
scale Pillow's draft mode would pick, and files simplejpeg declines still load (or fail) through Pillow."""

import numpy as np
import pytest
from PIL import Image

from dfer.processing import video_decoding
from dfer.processing.video_decoding import read_image_file

simplejpeg = pytest.importorskip("simplejpeg")


def camera_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus sensor-like noise: JPEG content with real high and low frequencies."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    base = np.stack([rows * 255 / height, columns * 255 / width, (rows + columns) * 127 / (height + width)], -1)
    return np.clip(base + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


def pillow_path(path, output_size=None, min_size=None) -> np.ndarray:
    return video_decoding._read_image_with_pillow(str(path), output_size, min_size)


@pytest.mark.parametrize(
    "height, width, output_size, min_size",
    [
        (224, 224, (112, 112), None),  # DFEW: exactly half scale
        (224, 224, None, None),  # full size
        (225, 223, (112, 112), None),  # Pillow keeps full scale for 223 // 112 = 1, then resizes
        (480, 640, (112, 112), None),  # quarter scale, then a resize
        (720, 1280, None, (112, 112)),  # shrunk towards a minimum size, aspect kept
        (60, 80, (112, 112), None),  # enlarged
        (227, 229, (56, 56), None),  # odd sides at quarter scale: libjpeg rounds the scaled size up
        (451, 333, (56, 40), None),  # eighth scale, odd sides, then a resize
    ],
)
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:2:2", "4:4:4"])
def test_simplejpeg_gives_the_pillow_paths_pixels(tmp_path, height, width, output_size, min_size, subsampling):
    path = tmp_path / "frame.jpg"
    Image.fromarray(camera_like(height, width)).save(path, quality=90, subsampling=subsampling)
    fast = video_decoding._read_jpeg_with_simplejpeg(str(path), output_size, min_size)
    assert fast is not None and fast.dtype == np.uint8
    np.testing.assert_array_equal(fast, pillow_path(path, output_size, min_size))
    np.testing.assert_array_equal(read_image_file(str(path), output_size, min_size), fast)


def test_grayscale_and_progressive_jpegs_match_too(tmp_path):
    gray, progressive = tmp_path / "gray.jpg", tmp_path / "progressive.jpg"
    Image.fromarray(camera_like(224, 224)[..., 0]).save(gray, quality=90)
    Image.fromarray(camera_like(224, 224, seed=1)).save(progressive, quality=90, progressive=True)
    for path in (gray, progressive):
        fast = video_decoding._read_jpeg_with_simplejpeg(str(path), (112, 112), None)
        assert fast is not None and fast.shape == (112, 112, 3)
        np.testing.assert_array_equal(fast, pillow_path(path, (112, 112)))


def test_files_simplejpeg_declines_go_through_pillow(tmp_path):
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(camera_like(64, 64)).convert("CMYK").save(cmyk, quality=90)
    assert video_decoding._read_jpeg_with_simplejpeg(str(cmyk), (32, 32), None) is None
    assert read_image_file(str(cmyk), (32, 32)).shape == (32, 32, 3)  # Pillow converts it

    truncated = tmp_path / "truncated.jpg"
    Image.fromarray(camera_like(224, 224)).save(truncated, quality=90)
    truncated.write_bytes(truncated.read_bytes()[:3000])
    assert video_decoding._read_jpeg_with_simplejpeg(str(truncated), (112, 112), None) is None
    with pytest.raises(ValueError, match=r"Cannot read frame image .*truncated\.jpg"):
        read_image_file(str(truncated), (112, 112))

    png_named_jpg = tmp_path / "really_a_png.jpg"
    Image.fromarray(camera_like(40, 40)).save(png_named_jpg, format="PNG")
    assert video_decoding._read_jpeg_with_simplejpeg(str(png_named_jpg), None, None) is None
    np.testing.assert_array_equal(read_image_file(str(png_named_jpg)), camera_like(40, 40))


def test_without_simplejpeg_the_pillow_path_reads_jpegs(tmp_path, monkeypatch):
    import sys

    path = tmp_path / "frame.jpg"
    Image.fromarray(camera_like(224, 224)).save(path, quality=90)
    expected = read_image_file(str(path), (112, 112))
    monkeypatch.setitem(sys.modules, "simplejpeg", None)
    assert video_decoding._read_jpeg_with_simplejpeg(str(path), (112, 112), None) is None
    np.testing.assert_array_equal(read_image_file(str(path), (112, 112)), expected)
