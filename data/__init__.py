"""Where clips come from: the DFEW, FERV39k and MAFW dataset builders and a user's own clips (video folders,
manifests), as `datasets.DatasetDict`s checked against the disk before anything trains; their annotation readers
and checks, the label sets, and the synthetic sample data."""

from .annotation_files import (
    ClipEntry,
    ClipProblem,
    DatasetCheckError,
    read_clip_list,
    read_dfew_split_csv,
    read_ferv39k_split_csv,
)
from .builders import DFEW_FOLDS, MAFW_FOLDS, ClipTransform, load_dfew, load_ferv39k, load_mafw
from .clip_checks import FRAME_CHECKS, check_split, format_problems
from .clip_preparation import PrepareReport, prepare_clips
from .labels import EMOTION_LABELS, MAFW_LABELS
from .own_dataset import load_manifest, load_video_folder
from .sample_dataset import generate_sample_dataset

__all__ = [
    "DFEW_FOLDS",
    "EMOTION_LABELS",
    "MAFW_FOLDS",
    "MAFW_LABELS",
    "FRAME_CHECKS",
    "ClipEntry",
    "ClipProblem",
    "ClipTransform",
    "PrepareReport",
    "DatasetCheckError",
    "check_split",
    "format_problems",
    "generate_sample_dataset",
    "load_dfew",
    "load_ferv39k",
    "load_mafw",
    "load_manifest",
    "load_video_folder",
    "prepare_clips",
    "read_clip_list",
    "read_dfew_split_csv",
    "read_ferv39k_split_csv",
]
