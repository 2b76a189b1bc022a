import math

import pytest
import torch

from dfer.processing.clip_transforms import (
    AugmentationRecipe,
    ClipAugmentation,
    apply_clip_augmentation,
    rotate_clip,
    sample_clip_augmentation,
    sample_crop_box,
)


@pytest.mark.parametrize("preset", ["ial", "logo_former"])
def test_crop_boxes_respect_the_recipe_ranges(preset):
    recipe = AugmentationRecipe.from_value(preset)
    generator = torch.Generator().manual_seed(0)
    low_area, high_area = recipe.crop_area
    low_ratio, high_ratio = recipe.crop_aspect_ratio
    areas = []
    for _ in range(300):
        top, left, height, width = sample_crop_box(224, 224, recipe, generator)
        assert 0 <= top and top + height <= 224 and 0 <= left and left + width <= 224
        area = height * width / 224**2
        areas.append(area)
        assert low_area - 0.02 <= area <= high_area + 0.02
        ratio = width / height
        assert low_ratio - 0.03 <= ratio <= high_ratio + 0.03
    assert min(areas) < low_area + 0.2 * (high_area - low_area)  # the whole range is used


def test_one_draw_per_clip_is_applied_to_every_frame():
    frame = torch.rand(1, 3, 40, 40)
    clip = frame.expand(8, -1, -1, -1).clone()
    recipe = AugmentationRecipe.from_value("ial")
    for seed in range(5):
        draw = sample_clip_augmentation(40, 40, recipe, torch.Generator().manual_seed(seed))
        out = apply_clip_augmentation(clip, draw, (16, 16))
        assert out.shape == (8, 3, 16, 16)
        assert torch.equal(out, out[:1].expand_as(out))  # identical frames stay identical
        assert 0.0 <= out.min() and out.max() <= 1.0


def test_draws_vary_between_clips_and_repeat_with_a_seed():
    recipe = AugmentationRecipe.from_value("ial")
    draws = {sample_clip_augmentation(112, 112, recipe, torch.Generator().manual_seed(s)) for s in range(20)}
    assert len(draws) > 1
    flips = [d.flip for d in draws]
    assert any(flips) and not all(flips)
    assert all(0.4 <= d.brightness_factor <= 1.6 and abs(d.rotation_degrees) <= 4 for d in draws)
    again = sample_clip_augmentation(112, 112, recipe, torch.Generator().manual_seed(3))
    assert again == sample_clip_augmentation(112, 112, recipe, torch.Generator().manual_seed(3))


def test_flip_brightness_and_crop_act_as_drawn():
    clip = torch.zeros(2, 3, 10, 10)
    clip[..., :, :5] = 0.5  # left half bright
    draw = ClipAugmentation(0, 0, 10, 10, flip=True, brightness_factor=1.5, rotation_degrees=0.0)
    out = apply_clip_augmentation(clip, draw, (10, 10))
    assert torch.allclose(out[..., 5:], torch.full_like(out[..., 5:], 0.75))
    assert torch.all(out[..., :5] == 0)
    crop = ClipAugmentation(0, 5, 10, 5, flip=False, brightness_factor=1.0, rotation_degrees=0.0)
    assert torch.all(apply_clip_augmentation(clip, crop, (4, 4)) == 0)  # only the dark right half


def test_rotation_turns_the_frame_about_its_centre():
    clip = torch.zeros(1, 1, 21, 21)
    clip[..., 10, 15:] = 1.0  # a bar pointing right from the centre
    turned = rotate_clip(clip, 90.0)
    assert torch.allclose(rotate_clip(clip, 0.0), clip, atol=1e-6)
    mass = turned[0, 0]
    rows, cols = torch.meshgrid(torch.arange(21.0), torch.arange(21.0), indexing="ij")
    centre_row = float((mass * rows).sum() / mass.sum())
    centre_col = float((mass * cols).sum() / mass.sum())
    assert math.isclose(centre_col, 10, abs_tol=0.5)
    assert centre_row < 7  # counter-clockwise: the bar now points up


def test_unknown_recipe_fields_are_rejected():
    with pytest.raises(ValueError, match="Unknown augmentation fields"):
        AugmentationRecipe.from_value({"blur": 1.0})
    with pytest.raises(ValueError, match="preset"):
        AugmentationRecipe.from_value("mixup")
