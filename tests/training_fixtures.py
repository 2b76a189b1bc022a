"""Tiny end-to-end training runs on a tiny generated sample dataset (seconds on a 2-core CPU)."""

import json
from pathlib import Path

from tiny_models import TINY_GCA_RESNET, TINY_LOGO_FORMER, as_config_overrides, tiny_gca_resnet_config

from dfer.cli import train
from dfer.modeling import GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor

SAMPLE_CLIPS_PER_CLASS = 3  # 21 clips: fold 1 trains on 14 and tests on 7 (one per class)

TINY_MODELS = {"gca_resnet": as_config_overrides(TINY_GCA_RESNET), "logo_former": as_config_overrides(TINY_LOGO_FORMER)}


def tiny_run_argv(data_dir: Path, output_dir: Path, model: str = "gca_resnet", *extra: str) -> list[str]:
    """Arguments of `dfer train` for a tiny run of `model` with its paper recipe's objective."""
    return [
        "--model", model,
        "--dataset", "sample",
        "--data_dir", str(data_dir),
        "--sample_clips_per_class", str(SAMPLE_CLIPS_PER_CLASS),
        "--output_dir", str(output_dir),
        "--num_frames", "4",
        "--image_size", "32",
        "--config_overrides", TINY_MODELS[model],
        "--num_train_epochs", "2",
        "--per_device_train_batch_size", "4",
        "--per_device_eval_batch_size", "4",
        "--learning_rate", "0.001",
        "--report_to", "none",
        "--logging_steps", "1",
        "--use_cpu",
        "--seed", "3",
        *extra,
    ]  # fmt: skip


def run_training(argv: list[str]) -> dict:
    assert train.main(argv) == 0
    output_dir = Path(argv[argv.index("--output_dir") + 1])
    return json.loads((output_dir / "metrics.json").read_text())


def write_model_folder(folder: Path) -> Path:
    """A loadable checkpoint folder (tiny GCA-ResNet + its video processor), as `save_pretrained` writes it."""
    config = tiny_gca_resnet_config()
    GcaResNetForVideoClassification(config).eval().save_pretrained(folder)
    DferVideoProcessor(size=config.image_size, num_frames=config.num_frames).save_pretrained(folder)
    return folder


def cut_short(path: Path) -> None:
    """Keep the first half of a file, as a disk that filled up (or a kill) while writing it leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
