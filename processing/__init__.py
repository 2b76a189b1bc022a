"""Everything between a file on disk and `pixel_values`: decoding, frame sampling, augmentation, the video
processor, and the DFEW / FERV39k dataset builders."""

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
from .video_processing_dfer import DferVideoProcessor, DferVideoProcessorKwargs, register_video_processor

# The dataset builders import `datasets` (slow to import); they load on first use so that `dfer.modeling`, which
# registers the video processor, stays light.
_DATASET_NAMES = (
    "EMOTION_LABELS",
    "ClipTransform",
    "DatasetCheckError",
    "format_problems",
    "load_dfew",
    "load_ferv39k",
    "read_clip_list",
    "read_dfew_split_csv",
    "read_ferv39k_split_csv",
)


def __getattr__(name):
    if name in _DATASET_NAMES:
        from . import dfer_datasets

        return getattr(dfer_datasets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    *_DATASET_NAMES,
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
    "register_video_processor",
    "resize_clip",
    "sample_clip_augmentation",
    "sample_frame_indices",
]
