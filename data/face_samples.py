"""Synthetic "talking head" videos for tests, demos and the `dfer predict` benchmark.

`photo_frames` / `write_photo_video` move real face photographs (tilted, several people) over a background: what
the face detector is tested on. The drawn faces below exercise the expression side (they unfold an expression).

A drawn face from `sample_dataset.render_face` (its expressions unfold over time, it blinks, it is noisy) is
pasted onto a larger textured background and moves around it like a person talking to a camera. The videos are
what face detection, tracking and the timeline must handle: a face that is small compared with the frame, that
moves, and, in `write_noise_video`, no face at all.
"""

import dataclasses
import os
from pathlib import Path

import av
import numpy as np

from .sample_dataset import ClipPlan, plan_clip, render_face

# (label, seed) pairs of `talking_head_plan` (60-frame clips) whose drawn face OpenCV's frontal-face Haar cascade finds in
# every frame checked at face sides of 40, 64 and 96 px: Happy, Neutral, Happy, Fear, Disgust. Many other drawn
# faces are missed in some or all frames (the cascade was trained on photographs), so tests stick to these.
DETECTABLE_FACES = ((0, 1), (2, 1), (0, 2), (6, 1), (5, 4))
# Each face plays one expression clip of this many frames, then the next face takes over.
SEGMENT_FRAMES = 60
TALKING_HEAD_FACE_SCALE = 0.7


def talking_head_plan(label: int, seed: int) -> ClipPlan:
    """The expression clip of one (label, seed) pair, its face drawn at a fixed share of its square (the
    sample dataset's own framing varies) so that the pasted square is a predictable face-plus-margin region."""
    plan = plan_clip(label, np.random.default_rng([seed, label]), (SEGMENT_FRAMES, SEGMENT_FRAMES), 0.0)
    return dataclasses.replace(plan, face_scale=TALKING_HEAD_FACE_SCALE, center=(0.5, 0.5), drift=(0.0, 0.0))


def _background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth colour gradient with a few soft blobs: texture without anything face-like."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 200, size=3).astype(np.float32)
    image = base + 40 * np.stack([x / width, y / height, 1 - x / width], axis=-1)
    for _ in range(6):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(0.05, 0.2) * width
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
        image += blob[..., None] * rng.uniform(-50, 50, size=3).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def talking_head_frames(
    num_frames: int,
    size: tuple[int, int] = (720, 1280),
    face_size: int | None = None,
    faces: tuple[tuple[int, int], ...] = DETECTABLE_FACES[:2],
    seed: int = 0,
    face_visible=None,
):
    """Yield `num_frames` uint8 RGB frames (H, W, 3) of a face moving over a background, with its position.

    Yields (frame, (x0, y0, side)) where the square (x0, y0, side) is where the face image was pasted, or None
    when the face is hidden. `faces` are (label, seed) pairs of `sample_dataset.plan_clip`; the face switches to
    the next pair every `SEGMENT_FRAMES` frames. `face_visible(index) -> bool` hides the face on some frames.
    """
    height, width = size
    rng = np.random.default_rng(seed)
    background = _background(height, width, rng)
    side = face_size or round(0.45 * height)
    plans = [talking_head_plan(label, plan_seed) for label, plan_seed in faces]
    phase = rng.uniform(0, 2 * np.pi, size=2)
    for index in range(num_frames):
        frame = background.copy()
        # Slow sway plus a small nod, as a speaker moves.
        t = index / 30.0
        cx = width / 2 + 0.18 * (width - side) * np.sin(0.5 * t + phase[0])
        cy = height / 2 + 0.12 * (height - side) * np.sin(0.9 * t + phase[1])
        x0 = int(np.clip(round(cx - side / 2), 0, width - side))
        y0 = int(np.clip(round(cy - side / 2), 0, height - side))
        position = None
        if face_visible is None or face_visible(index):
            plan = plans[(index // SEGMENT_FRAMES) % len(plans)]
            face = np.asarray(render_face(plan, index % SEGMENT_FRAMES, side))
            frame[y0 : y0 + side, x0 : x0 + side] = face
            position = (x0, y0, side)
        yield frame, position


def photo_frames(
    num_frames: int,
    photos,
    size: tuple[int, int] = (360, 640),
    face_size: int | None = None,
    tilt: float = 0.0,
    seed: int = 0,
    face_visible=None,
):
    """Yield `num_frames` uint8 RGB frames (H, W, 3) in which real face photographs move like speakers, with the
    squares (x0, y0, side) where each was pasted.

    `photos` are square uint8 RGB photographs centred on a face (tests use the astronaut portrait that
    scikit-image ships, `tests/fixtures/faces/`). Each person sways and nods in their own vertical band of the
    frame (one band per photo) and is pasted rotated in plane by `tilt` degrees plus a slow 5-degree sway, so
    that detection meets tilted, moving real faces. `face_visible(index) -> bool` hides every face on some frames
    (their squares are then None).
    """
    import cv2

    height, width = size
    rng = np.random.default_rng(seed)
    background = _background(height, width, rng)
    band = width // len(photos)
    side = face_size or min(round(0.6 * height), band - 8)
    phases = rng.uniform(0, 2 * np.pi, size=(len(photos), 3))
    resized = [cv2.resize(np.asarray(photo), (side, side), interpolation=cv2.INTER_AREA) for photo in photos]
    for index in range(num_frames):
        frame = background.copy()
        t = index / 30.0
        squares = []
        for person, (photo, phase) in enumerate(zip(resized, phases)):
            if face_visible is not None and not face_visible(index):
                squares.append(None)
                continue
            cx = band * (person + 0.5) + 0.2 * (band - side) * np.sin(0.5 * t + phase[0])
            cy = height / 2 + 0.15 * (height - side) * np.sin(0.9 * t + phase[1])
            x0 = int(np.clip(round(cx - side / 2), 0, width - side))
            y0 = int(np.clip(round(cy - side / 2), 0, height - side))
            angle = tilt + 5.0 * np.sin(0.7 * t + phase[2])
            rotation = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
            frame[y0 : y0 + side, x0 : x0 + side] = cv2.warpAffine(
                photo, rotation, (side, side), borderMode=cv2.BORDER_REFLECT
            )
            squares.append((x0, y0, side))
        yield frame, squares


def write_photo_video(
    path: str | os.PathLike,
    seconds: float,
    photos,
    size: tuple[int, int] = (360, 640),
    fps: int = 30,
    face_size: int | None = None,
    tilt: float = 0.0,
    seed: int = 0,
    face_visible=None,
    preset: str = "veryfast",
) -> list:
    """Write an H.264 video of `photo_frames` and return the squares of every frame (a list per frame)."""
    frames = photo_frames(round(seconds * fps), photos, size, face_size, tilt, seed=seed, face_visible=face_visible)
    return _encode_with_positions(path, frames, fps, preset)


def encode_video(
    path: str | os.PathLike, frames, fps: int = 30, codec: str = "libx264", options=None
) -> Path:
    """Encode uint8 RGB frames (any iterable) with PyAV; H.264 in yuv420p by default, as cameras produce."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = None
    with av.open(str(path), "w") as container:
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps, options=dict(options or {}))
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError("No frames to encode.")
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_talking_head_video(
    path: str | os.PathLike,
    seconds: float,
    size: tuple[int, int] = (720, 1280),
    fps: int = 30,
    face_size: int | None = None,
    faces: tuple[tuple[int, int], ...] = DETECTABLE_FACES[:2],
    seed: int = 0,
    face_visible=None,
    preset: str = "veryfast",
) -> list:
    """Write an H.264 talking-head video and return the face square (x0, y0, side) or None of every frame."""
    frames = talking_head_frames(round(seconds * fps), size, face_size, faces, seed=seed, face_visible=face_visible)
    return _encode_with_positions(path, frames, fps, preset)


def _encode_with_positions(path, frames_and_positions, fps: int, preset: str) -> list:
    """Encode the frames of (frame, where the faces are) pairs as H.264 and return the positions, frame by
    frame, collected as the frames stream through the encoder."""
    positions = []

    def frames():
        for frame, position in frames_and_positions:
            positions.append(position)
            yield frame

    encode_video(path, frames(), fps, options={"preset": preset, "crf": "23"})
    return positions


def write_noise_video(
    path: str | os.PathLike, seconds: float, size=(120, 160), fps: int = 30, seed: int = 0
) -> Path:
    """A video of blurred random noise: no face anywhere."""
    rng = np.random.default_rng(seed)
    height, width = size

    def frames():
        for _ in range(round(seconds * fps)):
            small = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
            yield np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)[:height, :width]

    return encode_video(path, frames(), fps, options={"preset": "ultrafast"})


__all__ = [
    "DETECTABLE_FACES",
    "encode_video",
    "photo_frames",
    "talking_head_frames",
    "write_noise_video",
    "write_photo_video",
    "write_talking_head_video",
]
