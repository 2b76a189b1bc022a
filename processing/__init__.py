"""Everything between a file on disk and `pixel_values`: decoding, frame sampling, augmentation, the video
processor and the per-clip face crop: what a checkpoint carries as its preprocessing. Nothing here imports
`datasets`, matplotlib or the command line (dataset builders live in `dfer.data`, streaming inference in
`dfer.inference`)."""

from .clip_transforms import (
    AUGMENTATION_PRESETS,
    AugmentationRecipe,
    ClipAugmentation,
    apply_clip_augmentation,
    resize_clip,
    sample_clip_augmentation,
)
from .frame_sampling import SAMPLERS, sample_frame_indices
from .video_decoding import EncodedVideo, FrameFolderVideo, list_frame_files, natural_sort_key, open_video
from .video_processing_dfer import DferVideoProcessor, DferVideoProcessorKwargs

__all__ = [
    "AUGMENTATION_PRESETS",
    "AugmentationRecipe",
    "ClipAugmentation",
    "DferVideoProcessor",
    "DferVideoProcessorKwargs",
    "EncodedVideo",
    "FrameFolderVideo",
    "SAMPLERS",
    "apply_clip_augmentation",
    "list_frame_files",
    "natural_sort_key",
    "open_video",
    "resize_clip",
    "sample_clip_augmentation",
    "sample_frame_indices",
]
