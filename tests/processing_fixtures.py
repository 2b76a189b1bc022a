"""Helpers for the processing tests: tiny generated clips whose frames carry their own index, the real
annotation lists (gzipped copies in tests/fixtures/annotations)."""

import builtins
import contextlib
import encodings.utf_8_sig  # noqa: F401  (used inside `unprivileged` blocks, where the stdlib may be unreachable)
import gzip
import os
import shutil
import struct
import tempfile
from pathlib import Path

import av
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
    target = destination / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.decompress((DATA / f"{name}.gz").read_bytes()))
    return target


def annotation_lines(name: str) -> list[str]:
    return gzip.decompress((DATA / f"{name}.gz").read_bytes()).decode().splitlines()


def write_truncated_video(path: Path, num_frames: int, keep_packets: int, mid_packet: bool = False, **options) -> Path:
    """A faststart mp4 (header first, as web videos are) of `num_frames` frames, cut after its first `keep_packets`
    packets, or in the middle of the next one with `mid_packet`: the header still promises `num_frames` frames,
    as in a download that stopped half way."""
    full = write_video(path.with_name(f"{path.stem}.full.mp4"), num_frames, **options)
    with av.open(str(full)) as source, av.open(str(path), "w", options={"movflags": "faststart"}) as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    full.unlink()
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    position, size = packets[keep_packets]
    data = path.read_bytes()
    path.write_bytes(data[: position + (size // 2 if mid_packet else 0)])
    return path


def decodable_frames(path: Path) -> int:
    """Frames FFmpeg outputs from the start before the end or the first decoding error (an independent count)."""
    count = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                count += 1
    except av.FFmpegError:
        pass
    return count


NOBODY = 65534


@contextlib.contextmanager
def unprivileged():
    """Run the block with the permission checks of an ordinary user. As an ordinary user nothing changes; as root
    (which chmod does not bind) the effective user and group become `nobody` for the block, without supplementary
    groups, and root again after it. Only folders made by `world_readable_directory` are reachable meanwhile, and
    nothing may be imported for the first time inside the block (the interpreter may live in a private folder)."""
    if os.geteuid() != 0:
        yield
        return
    groups = os.getgroups()
    os.setgroups([])
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


@contextlib.contextmanager
def world_readable_directory():
    """A fresh folder that an `unprivileged` block can reach (pytest's temporary folders are private to the user
    running the tests), removed afterwards whatever permissions a test took away."""
    folder = Path(tempfile.mkdtemp(prefix="dfer-permissions-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o777)
        shutil.rmtree(folder)


def hide_pillow(monkeypatch) -> None:
    """Make `import PIL` fail for the rest of the test, as on a machine without Pillow."""
    real_import = builtins.__import__

    def no_pillow(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no Pillow")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pillow)


def set_display_rotation(path: Path, clockwise_degrees: int) -> Path:
    """Give an mp4 a display matrix rotating its frames `clockwise_degrees` (90, 180, 270) when shown, as phones
    tag portrait video (`tkhd` box; ffprobe then reports a rotation of -`clockwise_degrees`)."""
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[clockwise_degrees]
    one = 1 << 16
    matrix = (cos * one, sin * one, 0, -sin * one, cos * one, 0, 0, 0, 1 << 30)
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd") + 4
    start = at + 4 + (32 if data[at] == 1 else 20) + 16  # version/flags, times and ids, reserved, layer...volume
    data[start : start + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))
    return path

