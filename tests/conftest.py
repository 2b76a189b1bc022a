"""Fixtures shared across the test folders (helpers without fixtures live in tests/*.py beside this file)."""

import pytest
import torch
from tiny_models import tiny_gca_resnet_config

from dfer.modeling import GcaResNetForVideoClassification
from dfer.processing import DferVideoProcessor


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A saved tiny GCA-ResNet (4 frames of 32 x 32) with its video processor: what `dfer predict` loads."""
    folder = tmp_path_factory.mktemp("tiny_checkpoint")
    torch.manual_seed(0)
    GcaResNetForVideoClassification(tiny_gca_resnet_config()).save_pretrained(folder)
    DferVideoProcessor(num_frames=4, size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder
