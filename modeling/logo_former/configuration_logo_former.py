"""LOGO-Former configuration (Ma, Sun, Li, "LOGO-Former: Local-Global Spatio-Temporal Transformer for Dynamic
Facial Expression Recognition", ICASSP 2023, arXiv 2305.03343).

No official implementation is public. The paper's abstract fixes the *ideas* (attention restricted to local
spatio-temporal windows, a global attention in which every token queries one feature per window, a compact-loss
regulariser); every number below is a reconstruction from the authors' code lineage (their STT model, the
DualFormer-style global attention it borrows) and is therefore a config value, not a published fact.
"""

from transformers import PreTrainedConfig

# The package's label order (DFEW's own order). Defined here again, not imported, so that this folder stays
# self-contained for `trust_remote_code` loading.
# Copied from dfer.data.labels.EMOTION_LABELS with EMOTION_LABELS->LOGO_FORMER_LABELS
LOGO_FORMER_LABELS = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")


# Copied from dfer.modeling.gca_resnet.configuration_gca_resnet._default_id2label with DFEW_LABELS->LOGO_FORMER_LABELS
def _default_id2label() -> dict[int, str]:
    return dict(enumerate(LOGO_FORMER_LABELS))


class LogoFormerConfig(PreTrainedConfig):
    r"""
    Configuration of a LOGO-Former video classifier. The defaults build the reconstruction described in the
    package's `logo_former.md` spec: a ResNet-18 stem up to layer3, a 1x1 token embedding to 512 dims, 4 pre-norm
    blocks of local window attention + global window-summary attention + MLP, and a linear head over the mean
    token.

    Args:
        num_channels (`int`, defaults to 3): channels of each input frame.
        image_size (`int`, defaults to 112): height and width of each input frame.
        num_frames (`int`, defaults to 16): frames per clip, T. The temporal position table has T rows, so a
            checkpoint accepts exactly this many frames.
        stem_hidden_size (`int`, defaults to 64): channels of the stem's 7x7 stride-2 convolution.
        stem_stage_hidden_sizes (`list[int]`, defaults to `[64, 128, 256]`): channels of ResNet-18's layer1..3.
        stem_stage_depths (`list[int]`, defaults to `[2, 2, 2]`): basic blocks per stem stage.
        hidden_size (`int`, defaults to 512): width C of the tokens (1x1 convolution from the stem's channels).
        num_hidden_layers (`int`, defaults to 4): local-global blocks, L.
        num_attention_heads (`int`, defaults to 8): heads of both the local and the global attention.
        window_size (`list[int]`, defaults to `[2, 7, 7]`): (t_w, h_w, w_w), the 3-D window of the T x h x w token
            grid. A window that does not divide the grid is handled by padding the grid and masking the padding.
        intermediate_size (`int`, defaults to 2048): hidden width of the MLP (4C).
        hidden_act (`str`, defaults to `"gelu"`): activation of the MLP.
        qkv_bias (`bool`, defaults to `True`): whether the query/key/value projections have a bias.
        summary_bias (`bool`, defaults to `True`): whether the depthwise window-summary convolution has a bias.
        attention_probs_dropout_prob (`float`, defaults to 0.2): dropout on attention probabilities.
        hidden_dropout_prob (`float`, defaults to 0.2): dropout after each attention output projection.
        mlp_dropout_prob (`float`, defaults to 0.2): dropout after each MLP linear.
        drop_path_rate (`float`, defaults to 0.1): stochastic depth of the last block; block i uses
            `drop_path_rate * i / (L - 1)` (linear from 0).
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of the LayerNorms.
        batch_norm_eps (`float`, defaults to 1e-5): epsilon of the stem's BatchNorms.
        initializer_range (`float`, defaults to 0.02): standard deviation of the truncated-normal initialisation of
            linear layers and position embeddings.
    """

    model_type = "logo_former"

    num_channels: int = 3
    image_size: int = 112
    num_frames: int = 16
    stem_hidden_size: int = 64
    stem_stage_hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256)
    stem_stage_depths: list[int] | tuple[int, ...] = (2, 2, 2)
    hidden_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    window_size: list[int] | tuple[int, ...] = (2, 7, 7)
    intermediate_size: int = 2048
    hidden_act: str = "gelu"
    qkv_bias: bool = True
    summary_bias: bool = True
    attention_probs_dropout_prob: float = 0.2
    hidden_dropout_prob: float = 0.2
    mlp_dropout_prob: float = 0.2
    drop_path_rate: float = 0.1
    layer_norm_eps: float = 1e-5
    batch_norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        # `id2label` is a field of the base config (set before this runs); `num_labels` arrives in kwargs.
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = _default_id2label()
        self.stem_stage_hidden_sizes = list(self.stem_stage_hidden_sizes)
        self.stem_stage_depths = list(self.stem_stage_depths)
        self.window_size = [int(size) for size in self.window_size]
        super().__post_init__(**kwargs)
        # Keep the reverse map in step with the labels (the base class only builds it from `num_labels`).
        if self.id2label is not None and (
            self.label2id is None or set(self.label2id) != set(self.id2label.values())
        ):
            self.label2id = {label: index for index, label in self.id2label.items()}
        self.validate_architecture()

    def validate_architecture(self):
        if len(self.stem_stage_hidden_sizes) != len(self.stem_stage_depths):
            raise ValueError(
                "`stem_stage_hidden_sizes` and `stem_stage_depths` need one entry per stem stage, got "
                f"{len(self.stem_stage_hidden_sizes)} and {len(self.stem_stage_depths)}."
            )
        if len(self.window_size) != 3 or min(self.window_size) < 1:
            raise ValueError(
                f"`window_size` must be three positive sizes (time, height, width), got {self.window_size}."
            )
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.num_frames < 1:
            raise ValueError(f"`num_frames` must be at least 1, got {self.num_frames}.")
        if self.image_size < 16:
            raise ValueError(f"`image_size` must be at least 16 pixels, got {self.image_size}.")

    @property
    def stem_map_size(self) -> int:
        """Side of the stem's output map (112 -> 56 -> 28 -> 28 -> 14 -> 7)."""
        # 7x7 stride-2 conv, then 3x3 stride-2 max pool; every stage after the first halves the map.
        size = _halved(_halved(self.image_size))
        for _ in self.stem_stage_hidden_sizes[1:]:
            size = _halved(size)
        return size

    @property
    def token_grid_size(self) -> tuple[int, int, int]:
        """(T, h, w) of the token grid: (16, 7, 7) = 784 tokens by default."""
        return (self.num_frames, self.stem_map_size, self.stem_map_size)

    @property
    def num_windows(self) -> int:
        """Local windows per clip (after padding), which is also the number of global summaries (8 by default)."""
        count = 1
        for grid, window in zip(self.token_grid_size, self.window_size, strict=True):
            count *= -(-grid // window)
        return count


def _halved(size: int) -> int:
    """Output side of a stride-2 convolution or pooling padded to keep `ceil(size / 2)` (7x7 pad 3, 3x3 pad 1)."""
    return (size - 1) // 2 + 1


__all__ = ["LogoFormerConfig", "LOGO_FORMER_LABELS"]
