"""Helpers for the processing tests: tiny generated clips whose frames carry their own index, the real
annotation lists (gzipped copies in tests/fixtures/annotations)."""

import gzip
from pathlib import Path

import numpy as np
from PIL import Image

from dfer.data.face_samples import encode_video

DATA = Path(__file__).parent / "fixtures" / "annotations"


def frame_colour(index: int) -> tuple[int, int, int]:
    """Flat RGB colour that encodes a frame index in steps of 10 (lossy coding plus scaling move it by up to +-4)."""
    return 28 + 10 * (index % 22), 28 + 10 * (index // 22), 128


def decoded_index(frame: np.ndarray) -> int:
    """Inverse of `frame_colour` for a decoded frame, (3, H, W) or (H, W, 3), in [0, 1] or [0, 255]."""
    frame = np.asarray(frame, dtype=np.float64)
    channels = frame.reshape(3, -1) if frame.shape[0] == 3 else frame.reshape(-1, 3).T
    red, green = channels[0].mean(), channels[1].mean()
    if frame.max() <= 1.0:
        red, green = red * 255, green * 255
    return round((red - 28) / 10) + 22 * round((green - 28) / 10)


def write_frame_folder(folder: Path, num_frames: int, size=(8, 8), suffix=".jpg", names=None) -> list[Path]:
    """Flat frames (colour `frame_colour(i)`) named 1.jpg, 2.jpg... (not zero-padded, like DFEW's 16f clips) or `names`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(num_frames):
        name = names[index] if names else f"{index + 1}{suffix}"
        image = Image.fromarray(np.full((*size, 3), frame_colour(index), np.uint8))
        image.save(folder / name)
        paths.append(folder / name)
    return paths


def write_video(path: Path, num_frames: int, size=(48, 64), codec="libx264", rate=25, gop=None) -> Path:
    """A video whose frame i is flat `frame_colour(i)`; `gop` sets the keyframe interval."""
    # Near-lossless settings: the frames must keep the colour that encodes their index.
    options = {
        "libx264": {"qp": "0"},
        "libvpx-vp9": {"lossless": "1"},
        "mpeg4": {"qmin": "1", "qmax": "2"},
    }.get(codec, {})
    if gop:
        options["g"] = str(gop)
    frames = (np.full((*size, 3), frame_colour(index), np.uint8) for index in range(num_frames))
    return encode_video(path, frames, fps=rate, codec=codec, options=options)


def annotation_file(name: str, destination: Path) -> Path:
    """Decompress a copied real annotation file (tests/fixtures/annotations/<name>.gz) into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / name
    target.write_bytes(gzip.decompress((DATA / f"{name}.gz").read_bytes()))
    return target


def annotation_lines(name: str) -> list[str]:
    return gzip.decompress((DATA / f"{name}.gz").read_bytes()).decode().splitlines()
