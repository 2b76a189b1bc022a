"""A small synthetic DFER dataset in the DFEW authors' layout, for the quick start, tests and demos.

Each clip is a procedurally drawn face whose expression unfolds over time: it starts neutral, rises to a peak
and may fade again. The peak intensity varies per clip and some clips reach only a weak peak, where the target
expression is hard to tell from its nearest rival; this is the situation the Intensity-Aware Loss was designed
for. Head position, size, skin tone, background, lighting, blinking and sensor noise vary as nuisances.

Everything is deterministic from one seed. The layout is what `load_dfew` reads:

    <root>/Clip/clip_224x224/<5-digit id>/1.jpg ... n.jpg
    <root>/EmoLabel_DataSplit/train(single-labeled)/set_1.csv ... set_5.csv   (video_name,label with labels 1..7)
    <root>/EmoLabel_DataSplit/test(single-labeled)/set_1.csv  ... set_5.csv
"""

import csv
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .labels import EMOTION_LABELS

# Facial action targets of each class at full intensity (0 = neutral face). Loosely after FACS prototypes:
# smile = AU12, frown = AU15, inner brow raise = AU1, brow lower = AU4, upper lid raise = AU5, jaw drop = AU26,
# lip stretch = AU20, nose wrinkle / upper lip raise = AU9/AU10.
EXPRESSION_ACTIONS: dict[str, dict[str, float]] = {
    "Happy": {"mouth_curve": 1.0, "mouth_width": 0.35, "eye_open": -0.45, "cheek_raise": 1.0},
    "Sad": {"mouth_curve": -0.9, "inner_brow_raise": 1.0, "eye_open": -0.35, "mouth_width": -0.15},
    "Neutral": {},
    "Angry": {"brow_lower": 1.0, "inner_brow_lower": 1.0, "mouth_width": -0.35, "lip_press": 1.0},
    "Surprise": {"brow_raise": 1.0, "eye_open": 0.9, "mouth_open": 1.0, "mouth_width": -0.3},
    "Disgust": {"nose_wrinkle": 1.0, "upper_lip_raise": 1.0, "brow_lower": 0.45, "mouth_curve": -0.35},
    "Fear": {
        "brow_raise": 0.6,
        "inner_brow_raise": 0.8,
        "eye_open": 0.8,
        "mouth_open": 0.35,
        "mouth_width": 0.55,
    },
}
PARAMETERS_NAME = "sample_dataset.json"
ACTIONS = sorted({name for actions in EXPRESSION_ACTIONS.values() for name in actions})


@dataclass
class ClipPlan:
    """Everything random about one clip, drawn up front so that rendering is a pure function of it."""

    label: int
    num_frames: int
    peak_intensity: float
    onset: float  # fraction of the clip where the expression starts to rise
    apex: float  # fraction where it reaches its peak
    offset: float | None  # fraction where it starts to fade, or None if it holds to the end
    skin: tuple[int, int, int]
    background: tuple[int, int, int]
    center: tuple[float, float]
    drift: tuple[float, float]
    face_scale: float
    tilt: float
    brightness: float
    blink_frames: frozenset[int]
    idle_actions: dict[str, float]
    noise_seed: int


def plan_clip(
    label: int, rng: np.random.Generator, frames_range: tuple[int, int], weak_fraction: float
) -> ClipPlan:
    num_frames = int(rng.integers(frames_range[0], frames_range[1] + 1))
    weak = rng.random() < weak_fraction
    peak = float(rng.uniform(0.35, 0.55) if weak else rng.uniform(0.65, 1.0))
    onset = float(rng.uniform(0.0, 0.35))
    apex = float(min(onset + rng.uniform(0.2, 0.45), 0.95))
    offset = float(rng.uniform(apex, 1.0)) if rng.random() < 0.4 else None
    skin_tone = rng.uniform(0.5, 1.0)
    skin = tuple(
        int(c) for c in np.array([235, 195, 165]) * skin_tone + np.array([20, 15, 10]) * (1 - skin_tone)
    )
    background = tuple(int(c) for c in rng.integers(30, 225, size=3))
    blinks = frozenset(int(i) for i in np.flatnonzero(rng.random(num_frames) < 0.06))
    # Small involuntary movements so that a neutral face is not a still image.
    idle = {name: float(rng.normal(0, 0.08)) for name in ACTIONS}
    return ClipPlan(
        label=label,
        num_frames=num_frames,
        peak_intensity=peak,
        onset=onset,
        apex=apex,
        offset=offset,
        skin=skin,
        background=background,
        center=(float(rng.uniform(0.45, 0.55)), float(rng.uniform(0.48, 0.56))),
        drift=(float(rng.normal(0, 0.02)), float(rng.normal(0, 0.02))),
        face_scale=float(rng.uniform(0.82, 0.98)),
        tilt=float(rng.normal(0, 6)),
        brightness=float(rng.uniform(0.75, 1.2)),
        blink_frames=blinks,
        idle_actions=idle,
        noise_seed=int(rng.integers(2**31)),
    )


def intensity_at(plan: ClipPlan, frame_index: int) -> float:
    """Expression intensity of one frame: neutral, smooth rise to the peak, hold, optional fade."""
    t = frame_index / max(plan.num_frames - 1, 1)
    if t <= plan.onset:
        return 0.0
    if t < plan.apex:
        x = (t - plan.onset) / (plan.apex - plan.onset)
        return plan.peak_intensity * x * x * (3 - 2 * x)
    if plan.offset is not None and t > plan.offset:
        x = (t - plan.offset) / max(1 - plan.offset, 1e-6)
        return plan.peak_intensity * (1 - 0.6 * x)
    return plan.peak_intensity


def render_face(plan: ClipPlan, frame_index: int, size: int) -> Image.Image:
    """Draw one frame (RGB, size x size)."""
    intensity = intensity_at(plan, frame_index)
    target = EXPRESSION_ACTIONS[EMOTION_LABELS[plan.label]]
    actions = {name: plan.idle_actions[name] + intensity * target.get(name, 0.0) for name in ACTIONS}
    if frame_index in plan.blink_frames:
        actions["eye_open"] = -1.0

    canvas = size
    image = Image.new("RGB", (canvas, canvas), plan.background)
    draw = ImageDraw.Draw(image)
    progress = frame_index / max(plan.num_frames - 1, 1)
    cx = (plan.center[0] + plan.drift[0] * progress) * canvas
    cy = (plan.center[1] + plan.drift[1] * progress) * canvas
    r = plan.face_scale * canvas / 2
    draw.ellipse([cx - 0.78 * r, cy - r, cx + 0.78 * r, cy + r], fill=plan.skin)
    dark = (40, 30, 30)
    width = max(2, round(r * 0.06))

    def point(x: float, y: float) -> tuple[float, float]:
        return cx + x * r, cy + y * r

    # Eyes: height follows eye_open; cheeks raised by a smile narrow them from below.
    eye_height = max(0.02, 0.09 * (1 + actions["eye_open"]) - 0.03 * max(actions["cheek_raise"], 0))
    for side in (-1, 1):
        ex, ey = point(0.33 * side, -0.18)
        draw.ellipse(
            [ex - 0.14 * r, ey - eye_height * r, ex + 0.14 * r, ey + eye_height * r], fill=(250, 250, 250)
        )
        pupil = min(0.06, eye_height) * r
        draw.ellipse([ex - pupil, ey - pupil, ex + pupil, ey + pupil], fill=dark)

    # Brows: overall height (raise / lower) and the inner end's height (sad/fear up, angry down).
    brow_y = -0.42 - 0.14 * actions["brow_raise"] + 0.09 * actions["brow_lower"]
    inner_shift = -0.12 * actions["inner_brow_raise"] + 0.12 * actions["inner_brow_lower"]
    for side in (-1, 1):
        outer = point(0.5 * side, brow_y)
        inner = point(0.14 * side, brow_y + inner_shift)
        draw.line([outer, inner], fill=dark, width=width + 1)

    # Nose, with wrinkle lines for disgust.
    draw.line([point(0, -0.15), point(-0.05, 0.15), point(0.05, 0.17)], fill=(120, 80, 70), width=width)
    wrinkle = actions["nose_wrinkle"]
    if wrinkle > 0.15:
        for offset in (-0.04, 0.02):
            draw.line(
                [point(-0.12, 0.02 + offset), point(0.12, 0.02 + offset)], fill=(150, 90, 80), width=width
            )

    # Mouth: corners bend with mouth_curve, width with mouth_width, an open oval with mouth_open; the upper
    # lip rises on one side for disgust; pressed lips are thick and straight.
    mouth_y = 0.5
    half_width = 0.3 * (1 + 0.6 * actions["mouth_width"])
    corner_y = mouth_y - 0.2 * actions["mouth_curve"]
    lip_raise = 0.12 * actions["upper_lip_raise"]
    opening = 0.22 * max(actions["mouth_open"], 0)
    lip_color = (150, 50, 60)
    if opening > 0.03:
        draw.ellipse(
            [*point(-half_width * 0.8, mouth_y - opening / 2), *point(half_width * 0.8, mouth_y + opening)],
            fill=(60, 20, 25),
            outline=lip_color,
            width=width,
        )
    else:
        middle = mouth_y + 0.06 * actions["mouth_curve"]
        upper = [
            point(-half_width, corner_y),
            point(0, middle - lip_raise * 0.5),
            point(half_width, corner_y - lip_raise),
        ]
        draw.line(upper, fill=lip_color, width=width + int(2 * max(actions["lip_press"], 0)), joint="curve")

    image = image.rotate(plan.tilt, resample=Image.BILINEAR, fillcolor=plan.background)
    image = image.filter(ImageFilter.GaussianBlur(0.5))
    pixels = np.asarray(image, dtype=np.float32) * plan.brightness
    noise = np.random.default_rng(plan.noise_seed + frame_index).integers(-8, 9, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def _write_clip(job: tuple[Path, int, int, int, tuple[int, int], float, int]) -> None:
    folder, label, index, seed, frames_range, weak_fraction, image_size = job
    plan = plan_clip(label, np.random.default_rng([seed, index]), frames_range, weak_fraction)
    folder.mkdir(parents=True, exist_ok=True)
    for frame_index in range(plan.num_frames):
        render_face(plan, frame_index, image_size).save(folder / f"{frame_index + 1}.jpg", quality=90)


def generate_sample_dataset(
    root: str | os.PathLike,
    clips_per_class: int = 100,
    frames_range: tuple[int, int] = (16, 24),
    image_size: int = 112,
    weak_fraction: float = 0.25,
    num_folds: int = 5,
    seed: int = 0,
    num_workers: int | None = None,
) -> Path:
    """Write the dataset under `root` (DFEW layout, `num_folds` disjoint test folds) and return `root`.

    A finished dataset with the same parameters is left as it is, so the call is cheap to repeat; one made with
    other parameters is an error rather than silently reused.
    """
    root = Path(root)
    parameters = {
        "clips_per_class": clips_per_class,
        "frames_range": list(frames_range),
        "image_size": image_size,
        "weak_fraction": weak_fraction,
        "num_folds": num_folds,
        "seed": seed,
    }
    record = root / PARAMETERS_NAME
    split_folder = root / "EmoLabel_DataSplit"
    if (split_folder / "test(single-labeled)" / f"set_{num_folds}.csv").is_file() and record.is_file():
        existing = json.loads(record.read_text())
        if existing != parameters:
            raise ValueError(
                f"{root} holds a sample dataset generated with {existing}, not {parameters}: delete the folder "
                "or choose another one."
            )
        return root
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(EMOTION_LABELS)), clips_per_class)
    rng.shuffle(labels)
    clip_folder = root / "Clip" / "clip_224x224"
    jobs = [
        (clip_folder / f"{index + 1:05d}", int(label), index, seed, tuple(frames_range), weak_fraction, image_size)
        for index, label in enumerate(labels)
    ]
    # Rendering is CPU-bound and independent per clip; each clip's randomness comes from (seed, index) alone,
    # so the result does not depend on the number of workers.
    with ProcessPoolExecutor(max_workers=num_workers or os.cpu_count()) as pool:
        list(pool.map(_write_clip, jobs, chunksize=8))

    # Folds: stratified round-robin, so every fold has every class in the same proportion.
    fold_of_clip = np.empty(len(labels), dtype=int)
    for label in range(len(EMOTION_LABELS)):
        members = np.flatnonzero(labels == label)
        fold_of_clip[members] = np.arange(len(members)) % num_folds
    for fold in range(num_folds):
        for split, selected in (("train", fold_of_clip != fold), ("test", fold_of_clip == fold)):
            path = split_folder / f"{split}(single-labeled)" / f"set_{fold + 1}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["video_name", "label"])
                for index in np.flatnonzero(selected):
                    writer.writerow([f"{index + 1:05d}", int(labels[index]) + 1])
    record.write_text(json.dumps(parameters, indent=1) + "\n")
    return root


__all__ = ["EXPRESSION_ACTIONS", "generate_sample_dataset", "intensity_at", "plan_clip", "render_face"]
