"""Tiny configurations of both models, shared by every test that needs a real model (seconds on a 2-core CPU), and
a stand-in model that records which frames it was given."""

import torch
from processing_fixtures import decoded_index

from dfer.modeling import GcaResNetConfig, LogoFormerConfig

# 32x32 frames; GCA-ResNet: maps 8 -> 4 -> 2, fusion map 1x1, temporal width 32.
TINY_GCA_RESNET = dict(
    image_size=32,
    num_frames=4,
    stem_hidden_size=8,
    hidden_sizes=[8, 16, 32],
    gca_reduction=4,
    dynamic_num_blocks=2,
    dsf_num_attention_heads=2,
    dsf_attention_head_size=8,
    dsf_intermediate_size=16,
    temporal_num_attention_heads=2,
    temporal_attention_head_size=8,
    temporal_intermediate_size=16,
)
# 32x32 frames -> 2x2 token map; T = 5 with a (2, 2, 1) window needs padding in time.
TINY_LOGO_FORMER = dict(
    image_size=32,
    num_frames=5,
    stem_hidden_size=8,
    stem_stage_hidden_sizes=[8, 16, 16],
    stem_stage_depths=[1, 1, 1],
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    window_size=[2, 2, 1],
)


def tiny_gca_resnet_config(**overrides) -> GcaResNetConfig:
    return GcaResNetConfig(**{**TINY_GCA_RESNET, **overrides})


def tiny_logo_former_config(**overrides) -> LogoFormerConfig:
    return LogoFormerConfig(**{**TINY_LOGO_FORMER, **overrides})


def as_config_overrides(sizes: dict) -> str:
    """The sizes as `dfer train`'s --config_overrides (image_size and num_frames have their own flags)."""
    skip = {"image_size", "num_frames"}
    return ",".join(
        f"{key}={str(value).replace(' ', '')}" for key, value in sizes.items() if key not in skip
    )


class FrameIndexProbe(torch.nn.Module):
    """Stands in for a model: records which frames each clip holds (the test videos encode the frame index in
    their colour) and answers with fixed logits."""

    def __init__(self, num_frames):
        super().__init__()
        self.config = tiny_gca_resnet_config(num_frames=num_frames)
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.clips = []

    def forward(self, pixel_values):
        for clip in pixel_values:
            self.clips.append([decoded_index(frame.numpy()) for frame in clip])
        logits = torch.arange(7, dtype=torch.float32).repeat(len(pixel_values), 1)
        return type("Output", (), {"logits": logits})()
