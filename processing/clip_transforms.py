"""Pixel operations on a whole clip (T, 3, H, W) in torch: resize, and the recipes' train-time augmentation.

Augmentation draws its random parameters once per clip and applies them to every frame, so the motion between
frames, which is the signal of a dynamic expression, is left intact. The two presets are the published recipes:

- IAL (GCA-ResNet): random sized crop, area U(0.85, 1), aspect U(3/5, 5/3) with width and height swapped with
  probability 0.5; horizontal flip p 0.5; brightness factor U(0.4, 1.6); rotation U(-4, 4) degrees.
- LOGO-Former lineage: torchvision-style random resized crop, area U(0.08, 1), aspect log-uniform in
  (3/4, 4/3); horizontal flip p 0.5.

This file is copied next to checkpoints (the video processor imports it), so it imports only torch.
"""

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F

IAL_AUGMENTATION = {
    "crop_area": (0.85, 1.0),
    "crop_aspect_ratio": (3 / 5, 5 / 3),
    "crop_aspect_log_uniform": False,
    "crop_swap_probability": 0.5,
    "flip_probability": 0.5,
    "brightness": 0.6,
    "rotation_degrees": 4.0,
}
LOGO_FORMER_AUGMENTATION = {
    "crop_area": (0.08, 1.0),
    "crop_aspect_ratio": (3 / 4, 4 / 3),
    "crop_aspect_log_uniform": True,
    "crop_swap_probability": 0.0,
    "flip_probability": 0.5,
    "brightness": 0.0,
    "rotation_degrees": 0.0,
}
AUGMENTATION_PRESETS = {"ial": IAL_AUGMENTATION, "logo_former": LOGO_FORMER_AUGMENTATION}


@dataclass(frozen=True)
class AugmentationRecipe:
    """Ranges of the train-time augmentation. A range of None / a zero strength turns a step off."""

    crop_area: tuple[float, float] | None = (0.85, 1.0)
    crop_aspect_ratio: tuple[float, float] = (3 / 5, 5 / 3)
    crop_aspect_log_uniform: bool = False
    crop_swap_probability: float = 0.5
    flip_probability: float = 0.5
    brightness: float = 0.6
    rotation_degrees: float = 4.0

    @classmethod
    def from_value(cls, value: "AugmentationRecipe | dict | str | None") -> "AugmentationRecipe":
        """A recipe from a preset name ('ial', 'logo_former'), a dict of fields, or a recipe."""
        if isinstance(value, cls):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            if value not in AUGMENTATION_PRESETS:
                raise ValueError(
                    f"Unknown augmentation preset {value!r}; choose one of {list(AUGMENTATION_PRESETS)}."
                )
            value = AUGMENTATION_PRESETS[value]
        known = {field.name for field in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"Unknown augmentation fields {sorted(unknown)}; known fields: {sorted(known)}.")
        converted = {key: tuple(item) if isinstance(item, list) else item for key, item in value.items()}
        return cls(**converted)

    def to_dict(self) -> dict:
        return {key: list(item) if isinstance(item, tuple) else item for key, item in asdict(self).items()}


@dataclass(frozen=True)
class ClipAugmentation:
    """One random draw, applied identically to every frame of a clip."""

    crop_top: int
    crop_left: int
    crop_height: int
    crop_width: int
    flip: bool
    brightness_factor: float
    rotation_degrees: float


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def sample_clip_augmentation(
    height: int, width: int, recipe: AugmentationRecipe, generator: torch.Generator | None = None
) -> ClipAugmentation:
    """Draw crop box, flip, brightness and angle for a clip whose frames are `height` x `width`."""
    top, left, crop_height, crop_width = sample_crop_box(height, width, recipe, generator)
    flip = torch.rand((), generator=generator).item() < recipe.flip_probability
    brightness = (
        _uniform(max(0.0, 1 - recipe.brightness), 1 + recipe.brightness, generator)
        if recipe.brightness
        else 1.0
    )
    angle = (
        _uniform(-recipe.rotation_degrees, recipe.rotation_degrees, generator)
        if recipe.rotation_degrees
        else 0.0
    )
    return ClipAugmentation(top, left, crop_height, crop_width, flip, brightness, angle)


def sample_crop_box(
    height: int, width: int, recipe: AugmentationRecipe, generator: torch.Generator | None = None
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop with the recipe's area fraction and aspect ratio.

    Up to ten draws are tried; when none fits, the largest centred crop with a clamped aspect ratio is used
    (torchvision's fallback), so the call never fails.
    """
    if recipe.crop_area is None:
        return 0, 0, height, width
    area = height * width
    low_ratio, high_ratio = recipe.crop_aspect_ratio
    for _ in range(10):
        target_area = area * _uniform(*recipe.crop_area, generator)
        if recipe.crop_aspect_log_uniform:
            ratio = math.exp(_uniform(math.log(low_ratio), math.log(high_ratio), generator))
        else:
            ratio = _uniform(low_ratio, high_ratio, generator)
        crop_width = round(math.sqrt(target_area * ratio))
        crop_height = round(math.sqrt(target_area / ratio))
        if (
            recipe.crop_swap_probability
            and torch.rand((), generator=generator).item() < recipe.crop_swap_probability
        ):
            crop_width, crop_height = crop_height, crop_width
        if 0 < crop_width <= width and 0 < crop_height <= height:
            top = torch.randint(height - crop_height + 1, (), generator=generator).item()
            left = torch.randint(width - crop_width + 1, (), generator=generator).item()
            return top, left, crop_height, crop_width
    in_ratio = width / height
    if in_ratio < low_ratio:
        crop_width, crop_height = width, round(width / low_ratio)
    elif in_ratio > high_ratio:
        crop_height, crop_width = height, round(height * high_ratio)
    else:
        crop_height, crop_width = height, width
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def resize_clip(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a float clip (T, C, H, W) to `size`, antialiased when shrinking (as PIL does)."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    shrinking = frames.shape[-2] > size[0] or frames.shape[-1] > size[1]
    return F.interpolate(frames, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrinking)


def apply_clip_augmentation(
    frames: torch.Tensor, augmentation: ClipAugmentation, output_size: tuple[int, int]
) -> torch.Tensor:
    """Crop, resize to `output_size`, flip, rotate and brighten a float clip (T, C, H, W) with values in [0, 1]."""
    top, left = augmentation.crop_top, augmentation.crop_left
    frames = frames[..., top : top + augmentation.crop_height, left : left + augmentation.crop_width]
    frames = resize_clip(frames, output_size)
    if augmentation.flip:
        frames = frames.flip(-1)
    if augmentation.rotation_degrees:
        frames = rotate_clip(frames, augmentation.rotation_degrees)
    if augmentation.brightness_factor != 1.0:
        frames = (frames * augmentation.brightness_factor).clamp_(0.0, 1.0)
    return frames


def rotate_clip(frames: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate every frame counter-clockwise by `degrees` about its centre; corners outside are filled with 0."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    height, width = frames.shape[-2:]
    # affine_grid works in normalised coordinates, where x and y have different pixel scales on non-square frames.
    theta = torch.tensor(
        [[cos, -sin * height / width, 0.0], [sin * width / height, cos, 0.0]], dtype=frames.dtype
    ).expand(frames.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


__all__ = [
    "AUGMENTATION_PRESETS",
    "AugmentationRecipe",
    "ClipAugmentation",
    "IAL_AUGMENTATION",
    "LOGO_FORMER_AUGMENTATION",
    "apply_clip_augmentation",
    "resize_clip",
    "rotate_clip",
    "sample_clip_augmentation",
    "sample_crop_box",
]
