"""Which frames of a clip to read: the segment (IAL), segment-pairs (Former-DFER / LOGO-Former) and uniform
samplers.

A sampler only turns a frame count into frame indices; it never touches pixels, so decoders can read exactly
the frames it picks. Randomness comes from torch (optionally a `torch.Generator`): DataLoader workers are
seeded differently by torch, whereas numpy's global state is copied unchanged into every worker.

This file is copied next to checkpoints (the video processor imports it), so it imports only torch.
"""

import torch

SAMPLERS = ("segment", "segment_pairs", "uniform")

# Consecutive frames taken per segment by each sampler.
FRAMES_PER_SEGMENT = {"segment": 1, "segment_pairs": 2, "uniform": 1}


def sample_frame_indices(
    num_available: int,
    num_frames: int = 16,
    sampler: str = "segment",
    training: bool = False,
    generator: torch.Generator | None = None,
) -> list[int]:
    """Indices (ascending, possibly repeated) of the `num_frames` frames to read from a clip of `num_available`.

    Clips shorter than `num_frames` are spread over all slots in order (every frame used, repeats where
    needed), identically in training and evaluation, instead of repeating frame 0 or dropping the clip.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"Unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}.")
    if num_available < 1:
        raise ValueError("Cannot sample frames from a clip with no frames.")
    if num_frames < 1:
        raise ValueError(f"`num_frames` must be positive, got {num_frames}.")
    if num_available < num_frames:
        return spread_indices(num_available, num_frames)
    if sampler == "uniform":
        return uniform_indices(num_available, num_frames, training, generator)
    frames_per_segment = FRAMES_PER_SEGMENT[sampler]
    if num_frames % frames_per_segment:
        raise ValueError(
            f"The {sampler!r} sampler takes {frames_per_segment} frames per segment, so `num_frames` must be a "
            f"multiple of {frames_per_segment}; got {num_frames}."
        )
    return segment_indices(
        num_available, num_frames // frames_per_segment, frames_per_segment, training, generator
    )


def spread_indices(num_available: int, num_frames: int) -> list[int]:
    """`num_frames` slots filled with the available frames in order: frame i covers an equal share of slots."""
    return [slot * num_available // num_frames for slot in range(num_frames)]


def segment_indices(
    num_available: int,
    num_segments: int,
    frames_per_segment: int,
    training: bool,
    generator: torch.Generator | None = None,
) -> list[int]:
    """Split the clip into `num_segments` equal segments and read `frames_per_segment` consecutive frames from
    each: a random start in training, the segment centre in evaluation.

    With one frame per segment this is IAL's sampler (train `k*floor(n/S) + randint(floor(n/S))`, eval
    `int(tick/2 + tick*k)` with `tick = n/S`); with two it is the Former-DFER / LOGO-Former one. Starts are
    placed over the `n - L + 1` positions where a run of L frames fits; indices past the end are clamped.
    """
    num_starts = num_available - frames_per_segment + 1
    if training:
        segment_length = num_starts // num_segments
        if segment_length > 0:
            offsets = torch.randint(segment_length, (num_segments,), generator=generator).tolist()
            starts = [segment * segment_length + offset for segment, offset in enumerate(offsets)]
        else:
            # Fewer start positions than segments (only possible for runs longer than one frame): evenly spread.
            starts = spread_indices(max(num_starts, 1), num_segments)
    else:
        tick = max(num_starts, 1) / num_segments
        starts = [int(tick / 2 + tick * segment) for segment in range(num_segments)]
    last = num_available - 1
    return [min(start + step, last) for start in starts for step in range(frames_per_segment)]


def uniform_indices(
    num_available: int, num_frames: int, training: bool, generator: torch.Generator | None = None
) -> list[int]:
    """`num_frames` evenly spaced frames over the whole clip; in training the whole grid is shifted by one random
    phase (the spacing stays even), in evaluation each frame sits at the centre of its interval."""
    phase = torch.rand((), generator=generator).item() if training else 0.5
    step = num_available / num_frames
    return [min(int((slot + phase) * step), num_available - 1) for slot in range(num_frames)]


__all__ = [
    "FRAMES_PER_SEGMENT",
    "SAMPLERS",
    "sample_frame_indices",
    "segment_indices",
    "spread_indices",
    "uniform_indices",
]
