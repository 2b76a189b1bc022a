"""GCA-ResNet configuration (Li et al., "Intensity-Aware Loss for Dynamic Facial Expression Recognition
in the Wild", AAAI 2023)."""

from transformers import PreTrainedConfig

# The package's label order (DFEW's own order; its CSVs number the same classes 1..7). Defined here again, not
# imported, so that this folder stays self-contained for `trust_remote_code` loading.
# Copied from dfer.data.labels.EMOTION_LABELS with EMOTION_LABELS->DFEW_LABELS
DFEW_LABELS = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")


def _default_id2label() -> dict[int, str]:
    return dict(enumerate(DFEW_LABELS))


class GcaResNetConfig(PreTrainedConfig):
    r"""
    Configuration of a GCA-ResNet video classifier. The defaults build the network released with the IAL paper
    (official `GenerateModel`, 18,936,775 parameters once its unused tensors are dropped).

    Args:
        num_channels (`int`, defaults to 3): channels of each input frame.
        image_size (`int`, defaults to 112): height and width of each input frame.
        num_frames (`int`, defaults to 16): frames per clip, T (any T >= 2).
        stem_hidden_size (`int`, defaults to 64): channels of the two-convolution stem.
        hidden_sizes (`list[int]`, defaults to `[64, 128, 256]`): channels of the spatial stages.
        depths (`list[int]`, defaults to `[1, 1, 1]`): basic blocks per spatial stage.
        gca_stages (`list[bool]`, defaults to `[False, True, True]`): which spatial stages carry a Global
            Convolution-Attention block (and so an auxiliary classifier).
        gca_reduction (`int`, defaults to 16): channel reduction ratio of the GCA excitation.
        gca_epsilon (`float`, defaults to 1e-5): added inside the square root of the frame/clip weight product.
        dynamic_num_blocks (`int`, defaults to 3): basic blocks of the dynamic (frame difference) branch.
        dsf_num_hidden_layers, dsf_num_attention_heads, dsf_attention_head_size, dsf_intermediate_size:
            the transformer of the static branch of the dynamic-static fusion module (defaults 2, 4, 32, 256).
        temporal_num_hidden_layers, temporal_num_attention_heads, temporal_attention_head_size,
        temporal_intermediate_size: the temporal transformer over the fused frame features (defaults 2, 4, 32,
            512). Its width is the flattened fusion map, `hidden_sizes[-1] * fusion_map_size**2` (4096).
        hidden_act (`str`, defaults to `"gelu_pytorch_tanh"`): activation of the transformer MLPs.
        hidden_dropout_prob (`float`, defaults to 0.0): dropout after the attention output and MLP layers.
        attention_probs_dropout_prob (`float`, defaults to 0.0): dropout on attention probabilities.
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of the transformer LayerNorms.
        batch_norm_eps (`float`, defaults to 1e-5): epsilon of the BatchNorms.
        position_embedding_std (`float`, defaults to 1.0): standard deviation of the learned position
            embeddings at initialisation (the official code draws them from a standard normal).
    """

    model_type = "gca_resnet"

    num_channels: int = 3
    image_size: int = 112
    num_frames: int = 16
    stem_hidden_size: int = 64
    hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256)
    depths: list[int] | tuple[int, ...] = (1, 1, 1)
    gca_stages: list[bool] | tuple[bool, ...] = (False, True, True)
    gca_reduction: int = 16
    gca_epsilon: float = 1e-5
    dynamic_num_blocks: int = 3
    dsf_num_hidden_layers: int = 2
    dsf_num_attention_heads: int = 4
    dsf_attention_head_size: int = 32
    dsf_intermediate_size: int = 256
    temporal_num_hidden_layers: int = 2
    temporal_num_attention_heads: int = 4
    temporal_attention_head_size: int = 32
    temporal_intermediate_size: int = 512
    hidden_act: str = "gelu_pytorch_tanh"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-5
    batch_norm_eps: float = 1e-5
    position_embedding_std: float = 1.0

    def __post_init__(self, **kwargs):
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = _default_id2label()
        self.hidden_sizes = list(self.hidden_sizes)
        self.depths = list(self.depths)
        self.gca_stages = [bool(flag) for flag in self.gca_stages]
        super().__post_init__(**kwargs)
        # Keep the reverse map in step with the labels (the base class only builds it from `num_labels`).
        if self.id2label is not None and (self.label2id is None or set(self.label2id) != set(self.id2label.values())):
            self.label2id = {label: index for index, label in self.id2label.items()}
        self.validate_architecture()

    def validate_architecture(self):
        if not len(self.hidden_sizes) == len(self.depths) == len(self.gca_stages):
            raise ValueError(
                "`hidden_sizes`, `depths` and `gca_stages` need one entry per spatial stage, got "
                f"{len(self.hidden_sizes)}, {len(self.depths)} and {len(self.gca_stages)}."
            )
        if self.num_frames < 2:
            raise ValueError(f"`num_frames` must be at least 2 (frame differences need two), got {self.num_frames}.")
        if self.image_size < 32:
            raise ValueError(f"`image_size` must be at least 32 pixels, got {self.image_size}.")

    @property
    def stage_map_sizes(self) -> list[int]:
        """Side of the feature map after each spatial stage (112 -> 28, 14, 7)."""
        # Stem: stride-2 conv then stride-2 max pool; stages after the first halve the map.
        size = _halved(_halved(self.image_size))
        sizes = []
        for stage_index in range(len(self.hidden_sizes)):
            if stage_index > 0:
                size = _halved(size)
            sizes.append(size)
        return sizes

    @property
    def fusion_map_size(self) -> int:
        """Side of the dynamic-static fusion map (7 -> 4): both branches open with a stride-2 3x3 conv."""
        return _halved(self.stage_map_sizes[-1])

    @property
    def temporal_hidden_size(self) -> int:
        """Width of one fused frame token: the fusion map flattened channel-major (256 * 4 * 4 = 4096)."""
        return self.hidden_sizes[-1] * self.fusion_map_size**2

    @property
    def num_hidden_layers(self) -> int:
        # `output_hidden_states` indexing in transformers counts layers through this name.
        return self.temporal_num_hidden_layers


def _halved(size: int) -> int:
    """Output side of a kernel-3, stride-2, padding-1 convolution or pooling."""
    return (size - 1) // 2 + 1


__all__ = ["GcaResNetConfig", "DFEW_LABELS"]
