"""LOGO-Former (Ma, Sun, Li, ICASSP 2023): a ResNet-18 stem followed by transformer blocks whose attention is split
into a local part (self-attention inside 3-D windows of the spatio-temporal token grid) and a global part (every
token attends to one summary per window).

What is published and what is reconstructed. No official implementation exists. The abstract states that space and
time attention are restricted to local windows, that a global attention lets each token query features taken from
every local window, and that a compact loss regularises the clip features. Everything else here is a
reconstruction from the authors' code lineage, recorded in the package spec (`logo_former.md`): the ResNet-18 stem
cut after layer3, the 1x1 token embedding to C = 512 with learned spatial (h*w) and temporal (T) position tables,
L = 4 pre-norm blocks (local attention, global attention, MLP 4C with GELU, each with a residual and stochastic
depth), the (2, 7, 7) window, the window summary as a depthwise 3-D convolution with kernel = stride = window
followed by LayerNorm (DualFormer-style), the dropout rates, and the head (final LayerNorm, mean over tokens,
linear). Every one of these numbers is a `LogoFormerConfig` value.

Shapes for the default configuration: pixel_values (B, 16, 3, 112, 112) -> stem per frame (B*16, 256, 7, 7) ->
tokens (B, 784, 512) in (t, h, w) order -> 4 blocks -> LayerNorm -> mean -> clip feature (B, 512) -> logits (B, 7).
The compact loss lives in `dfer.training`; `forward(labels=...)` gives the loss of `config.problem_type` (plain
cross-entropy for class indices).
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import ModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_logo_former import LogoFormerConfig

GridSize = tuple[int, int, int]


@dataclass
class LogoFormerModelOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_tokens, hidden_size)`):
        Tokens after the final LayerNorm, `num_tokens = num_frames * h * w` in (time, height, width) order.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
        The clip feature f: mean of `last_hidden_state` over all tokens (what the compact loss regularises).
    hidden_states (`tuple(torch.FloatTensor)`, *optional*):
        The embedded tokens and the output of each block (before the final LayerNorm), each
        `(batch_size, num_tokens, hidden_size)`; returned with `output_hidden_states=True`.
    attentions (`tuple(torch.FloatTensor)`, *optional*):
        Local attention probabilities of each block, `(batch_size * num_windows, num_heads, window_tokens,
        window_tokens)`; keys that are grid padding get probability 0. Returned with `output_attentions=True` and
        eager attention.
    cross_attentions (`tuple(torch.FloatTensor)`, *optional*):
        Global attention probabilities of each block, `(batch_size, num_heads, num_tokens, num_windows)`: every
        token (query) attending to the window summaries (keys). It is a cross-attention, hence the name; returned
        together with `attentions`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class LogoFormerVideoClassifierOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Classification loss of `logits` against `labels` for `config.problem_type` (cross-entropy for class
        indices); the compact loss is applied in `dfer.training`.
    logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
        Classification scores.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
        The clip feature f the classifier reads, input of the compact loss.
    hidden_states, attentions, cross_attentions: see [`LogoFormerModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


# ----------------------------------------------------------------------------------------------------------------
# ResNet-18 stem (conv1 .. layer3)
# ----------------------------------------------------------------------------------------------------------------


class LogoFormerBasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv + BN, ReLU between them and after the residual add."""

    def __init__(self, config: LogoFormerConfig, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.activation = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps),
            )

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        residual = hidden_state if self.shortcut is None else self.shortcut(hidden_state)
        hidden_state = self.activation(self.norm1(self.conv1(hidden_state)))
        hidden_state = self.norm2(self.conv2(hidden_state))
        return self.activation(hidden_state + residual)


class LogoFormerStem(nn.Module):
    """ResNet-18 up to layer3: 7x7 stride-2 conv -> BN -> ReLU -> 3x3 stride-2 max pool -> stages of basic blocks
    (stride 2 at the start of every stage after the first)."""

    # oneDNN convolutions and max pooling run fastest on channels-last maps (1.2x the model in bfloat16 at batch 1);
    # every later layer keeps the layout, and the tokens are read from it the same way.
    memory_format = torch.channels_last

    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        self.conv1 = nn.Conv2d(
            config.num_channels, config.stem_hidden_size, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.norm1 = nn.BatchNorm2d(config.stem_hidden_size, eps=config.batch_norm_eps)
        self.activation = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages = []
        in_channels = config.stem_hidden_size
        for stage_index, (width, depth) in enumerate(
            zip(config.stem_stage_hidden_sizes, config.stem_stage_depths, strict=True)
        ):
            blocks = []
            for block_index in range(depth):
                stride = 2 if stage_index > 0 and block_index == 0 else 1
                blocks.append(LogoFormerBasicBlock(config, in_channels, width, stride))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        frames = frames.contiguous(memory_format=self.memory_format)
        hidden_state = self.pool(self.activation(self.norm1(self.conv1(frames))))
        for stage in self.stages:
            hidden_state = stage(hidden_state)
        return hidden_state


_TORCHVISION_STAGE_KEY = re.compile(r"^layer(\d+)\.(\d+)\.(.+)$")
_TORCHVISION_BLOCK_RENAMES = {"bn1.": "norm1.", "bn2.": "norm2.", "downsample.": "shortcut."}


def convert_resnet18_state_dict(
    state_dict: Mapping[str, torch.Tensor], num_stages: int = 3
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """
    Map a ResNet-18 state dict in torchvision's key format (`conv1.weight`, `bn1.*`, `layer{i}.{j}.conv1.weight`,
    `layer{i}.{j}.bn1.*`, `layer{i}.0.downsample.{0,1}.*`, `fc.*`) onto the keys of [`LogoFormerStem`].

    Accepted wrappers: a dict holding the weights under `state_dict`, and the `module.` prefix of
    `nn.DataParallel`/DDP. The stages the stem does not have (layer4 for the default) and the `fc` head are dropped
    and returned as the second element. Any other key raises, so that a checkpoint of another network cannot be
    loaded silently.
    """
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]
    converted, dropped, unknown = {}, [], []
    for key, tensor in state_dict.items():
        name = key[len("module.") :] if key.startswith("module.") else key
        stage_match = _TORCHVISION_STAGE_KEY.match(name)
        if name.startswith(("conv1.", "bn1.")):
            converted[name.replace("bn1.", "norm1.", 1)] = tensor
        elif stage_match is not None:
            stage, block, rest = int(stage_match.group(1)), stage_match.group(2), stage_match.group(3)
            if stage > num_stages:
                dropped.append(key)
                continue
            for old, new in _TORCHVISION_BLOCK_RENAMES.items():
                if rest.startswith(old):
                    rest = new + rest[len(old) :]
            converted[f"stages.{stage - 1}.{block}.{rest}"] = tensor
        elif name.startswith("fc."):
            dropped.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f"Not a torchvision-format ResNet-18 state dict: unknown keys {unknown[:8]}"
            f"{' ...' if len(unknown) > 8 else ''}. Rename them to torchvision's keys (conv1, bn1, layer1..4, fc)."
        )
    return converted, dropped


# ----------------------------------------------------------------------------------------------------------------
# Windows of the T x h x w token grid
# ----------------------------------------------------------------------------------------------------------------


def _padding(grid_size: GridSize, window_size: GridSize) -> GridSize:
    return tuple((-size) % window for size, window in zip(grid_size, window_size, strict=True))


def partition_windows(tokens: torch.Tensor, grid_size: GridSize, window_size: GridSize) -> torch.Tensor:
    """
    (batch, T*h*w, C) tokens in (t, h, w) order -> (batch * num_windows, t_w*h_w*w_w, C) windows. The grid is
    zero-padded at its end in each dimension so that the window divides it; windows are ordered (t, h, w) and the
    tokens inside a window too.
    """
    batch_size, _, channels = tokens.shape
    (frames, height, width), (window_t, window_h, window_w) = grid_size, window_size
    pad_t, pad_h, pad_w = _padding(grid_size, window_size)
    grid = tokens.view(batch_size, frames, height, width, channels)
    if pad_t or pad_h or pad_w:
        grid = nn.functional.pad(grid, (0, 0, 0, pad_w, 0, pad_h, 0, pad_t))
    grid = grid.view(
        batch_size,
        (frames + pad_t) // window_t,
        window_t,
        (height + pad_h) // window_h,
        window_h,
        (width + pad_w) // window_w,
        window_w,
        channels,
    )
    windows = grid.permute(0, 1, 3, 5, 2, 4, 6, 7)
    return windows.reshape(-1, window_t * window_h * window_w, channels)


def merge_windows(
    windows: torch.Tensor, batch_size: int, grid_size: GridSize, window_size: GridSize
) -> torch.Tensor:
    """Inverse of [`partition_windows`]: (batch * num_windows, window_tokens, C) -> (batch, T*h*w, C), padding cut."""
    (frames, height, width), (window_t, window_h, window_w) = grid_size, window_size
    pad_t, pad_h, pad_w = _padding(grid_size, window_size)
    channels = windows.shape[-1]
    grid = windows.view(
        batch_size,
        (frames + pad_t) // window_t,
        (height + pad_h) // window_h,
        (width + pad_w) // window_w,
        window_t,
        window_h,
        window_w,
        channels,
    )
    grid = grid.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(
        batch_size, frames + pad_t, height + pad_h, width + pad_w, channels
    )
    grid = grid[:, :frames, :height, :width]
    return grid.reshape(batch_size, frames * height * width, channels)


def window_padding_mask(
    grid_size: GridSize, window_size: GridSize, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    """Additive key mask `(num_windows, 1, 1, window_tokens)`: 0 on grid tokens, the dtype's minimum on padding.
    `None` when the window divides the grid. Every window holds at least one grid token (padding < window)."""
    if not any(_padding(grid_size, window_size)):
        return None
    num_tokens = grid_size[0] * grid_size[1] * grid_size[2]
    is_token = partition_windows(torch.ones(1, num_tokens, 1, device=device), grid_size, window_size)[..., 0]
    mask = torch.zeros(is_token.shape, dtype=dtype, device=device).masked_fill(
        is_token == 0, torch.finfo(dtype).min
    )
    return mask[:, None, None, :]


# ----------------------------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------------------------


# Copied from dfer.modeling.gca_resnet.modeling_gca_resnet.eager_attention_forward
def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    attention_scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        attention_scores = attention_scores + attention_mask
    # Softmax in float32 whatever the activations' dtype (bf16/fp16 scores lose the small probabilities).
    attention_probs = nn.functional.softmax(attention_scores, dim=-1, dtype=torch.float32).to(query.dtype)
    attention_probs = nn.functional.dropout(attention_probs, p=dropout, training=module.training)
    context = torch.matmul(attention_probs, value).transpose(1, 2).contiguous()
    return context, attention_probs


def attend(module: nn.Module, query, key, value, attention_mask, **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Multi-head attention through the configured implementation (SDPA by default, eager for attention maps).
    `module` carries `config`, `scaling` and `attention_dropout`."""
    attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
        module.config._attn_implementation, eager_attention_forward
    )
    return attention_interface(
        module,
        query,
        key,
        value,
        attention_mask,
        scaling=module.scaling,
        dropout=module.attention_dropout if module.training else 0.0,
        is_causal=False,
        **kwargs,
    )


class LogoFormerLocalAttention(nn.Module):
    """
    Multi-head self-attention computed independently inside each non-overlapping 3-D window of the token grid, so a
    token's output depends only on the tokens of its own window. Padded positions are masked out as keys; their
    query rows are computed and discarded.
    """

    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_size**-0.5
        self.is_causal = False
        self.window_size = tuple(config.window_size)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, hidden_states: torch.Tensor, grid_size: GridSize, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, _, hidden_size = hidden_states.shape
        windows = partition_windows(hidden_states, grid_size, self.window_size)
        num_windows_total, window_tokens, _ = windows.shape
        qkv = self.qkv(windows).view(num_windows_total, window_tokens, 3, self.num_heads, self.head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)

        attention_mask = window_padding_mask(grid_size, self.window_size, query.dtype, query.device)
        if attention_mask is not None:
            attention_mask = attention_mask.repeat(batch_size, 1, 1, 1)

        context, attention_probs = attend(self, query, key, value, attention_mask, **kwargs)
        context = context.reshape(num_windows_total, window_tokens, hidden_size)
        context = merge_windows(context, batch_size, grid_size, self.window_size)
        return self.output_dropout(self.output(context)), attention_probs


class LogoFormerGlobalAttention(nn.Module):
    """
    Every token (query) attends to one summary per window (keys and values). A summary is a depthwise 3-D
    convolution with kernel = stride = window over the zero-padded grid, followed by LayerNorm, so the keys cover
    the whole clip at a cost linear in the number of tokens.
    """

    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        self.config = config
        hidden_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_size = hidden_size // config.num_attention_heads
        self.scaling = self.head_size**-0.5
        self.is_causal = False
        self.window_size = tuple(config.window_size)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.query = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.summary = nn.Conv3d(
            hidden_size,
            hidden_size,
            kernel_size=self.window_size,
            stride=self.window_size,
            groups=hidden_size,
            bias=config.summary_bias,
        )
        self.summary_norm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.key_value = nn.Linear(hidden_size, 2 * hidden_size, bias=config.qkv_bias)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def window_summaries(self, hidden_states: torch.Tensor, grid_size: GridSize) -> torch.Tensor:
        """(batch, num_tokens, C) -> (batch, num_windows, C), before the LayerNorm."""
        batch_size, _, hidden_size = hidden_states.shape
        windows = partition_windows(hidden_states, grid_size, self.window_size)
        windows = windows.view(batch_size, -1, windows.shape[1], hidden_size)
        # A depthwise conv with kernel = stride = window is a per-channel weighted sum over each window. Computed
        # on the partitioned windows (same weights, same (t, h, w) order) it is much faster on CPU than Conv3d;
        # multiply-and-sum beats einsum here, which lowers to one tiny matmul per channel.
        weight = self.summary.weight.flatten(1).transpose(0, 1)  # (window_tokens, C)
        summaries = (windows * weight).sum(dim=2)
        if self.summary.bias is not None:
            summaries = summaries + self.summary.bias
        return summaries

    def forward(
        self, hidden_states: torch.Tensor, grid_size: GridSize, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, num_tokens, hidden_size = hidden_states.shape
        summaries = self.summary_norm(self.window_summaries(hidden_states, grid_size))
        num_windows = summaries.shape[1]
        query = (
            self.query(hidden_states)
            .view(batch_size, num_tokens, self.num_heads, self.head_size)
            .transpose(1, 2)
        )
        key_value = self.key_value(summaries).view(batch_size, num_windows, 2, self.num_heads, self.head_size)
        key, value = key_value.permute(2, 0, 3, 1, 4).unbind(0)

        context, attention_probs = attend(self, query, key, value, None, **kwargs)
        context = context.reshape(batch_size, num_tokens, hidden_size)
        return self.output_dropout(self.output(context)), attention_probs


class LogoFormerMLP(nn.Module):
    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.mlp_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.activation(self.fc1(hidden_states)))
        return self.dropout(self.fc2(hidden_states))


class LogoFormerDropPath(nn.Module):
    """Stochastic depth: in training, drops the whole residual branch of a sample with probability `drop_prob` and
    rescales the kept ones by 1 / (1 - drop_prob)."""

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep_prob = 1.0 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
        keep = hidden_states.new_empty(shape).bernoulli_(keep_prob)
        return hidden_states * keep / keep_prob

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


class LogoFormerLayer(GradientCheckpointingLayer):
    """Pre-norm block: x + LocalAttn(LN(x)), x + GlobalAttn(LN(x)), x + MLP(LN(x)), each branch with stochastic
    depth."""

    def __init__(self, config: LogoFormerConfig, drop_path_rate: float):
        super().__init__()
        self.local_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.local_attention = LogoFormerLocalAttention(config)
        self.global_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.global_attention = LogoFormerGlobalAttention(config)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = LogoFormerMLP(config)
        self.drop_path = LogoFormerDropPath(drop_path_rate)

    def forward(self, hidden_states: torch.Tensor, grid_size: GridSize, **kwargs) -> torch.Tensor:
        local_output, _ = self.local_attention(self.local_norm(hidden_states), grid_size, **kwargs)
        hidden_states = hidden_states + self.drop_path(local_output)
        global_output, _ = self.global_attention(self.global_norm(hidden_states), grid_size, **kwargs)
        hidden_states = hidden_states + self.drop_path(global_output)
        return hidden_states + self.drop_path(self.mlp(self.mlp_norm(hidden_states)))


class LogoFormerEncoder(nn.Module):
    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        num_layers = config.num_hidden_layers
        rates = [config.drop_path_rate * index / max(num_layers - 1, 1) for index in range(num_layers)]
        self.layers = nn.ModuleList(LogoFormerLayer(config, rate) for rate in rates)

    def forward(self, hidden_states: torch.Tensor, grid_size: GridSize, **kwargs) -> torch.Tensor:
        for layer in self.layers:
            hidden_states = layer(hidden_states, grid_size=grid_size, **kwargs)
        return hidden_states


class LogoFormerEmbeddings(nn.Module):
    """1x1 convolution from the stem's channels to C, then learned spatial (h*w) and temporal (T) position tables."""

    def __init__(self, config: LogoFormerConfig):
        super().__init__()
        num_frames, height, width = config.token_grid_size
        self.projection = nn.Conv2d(config.stem_stage_hidden_sizes[-1], config.hidden_size, kernel_size=1)
        self.spatial_position_embeddings = nn.Parameter(torch.zeros(1, 1, height * width, config.hidden_size))
        self.temporal_position_embeddings = nn.Parameter(torch.zeros(1, num_frames, 1, config.hidden_size))

    def forward(self, features: torch.Tensor, batch_size: int) -> torch.Tensor:
        # features: (B*T, C_stem, h, w) -> tokens (B, T*h*w, C) in (t, h, w) order
        features = self.projection(features)
        hidden_size = features.shape[1]
        tokens = (
            features.flatten(2)
            .transpose(1, 2)
            .reshape(batch_size, -1, features.shape[2] * features.shape[3], hidden_size)
        )
        tokens = tokens + self.spatial_position_embeddings + self.temporal_position_embeddings
        return tokens.flatten(1, 2)


# Written into `config.auto_map` on save once the classes are registered for the Auto classes (see
# `save_pretrained`), so that a checkpoint loaded as remote code answers AutoConfig, AutoModel and
# AutoModelForVideoClassification.
# Copied from dfer.modeling.gca_resnet.modeling_gca_resnet.REMOTE_CODE_AUTO_MAP with GcaResNet->LogoFormer, gca_resnet->logo_former
REMOTE_CODE_AUTO_MAP = {
    "AutoConfig": "configuration_logo_former.LogoFormerConfig",
    "AutoModel": "modeling_logo_former.LogoFormerModel",
    "AutoModelForVideoClassification": "modeling_logo_former.LogoFormerForVideoClassification",
}


class LogoFormerPreTrainedModel(PreTrainedModel):
    config: LogoFormerConfig
    base_model_prefix = "logo_former"
    main_input_name = "pixel_values"
    input_modalities = "video"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_attention_backend = True
    # `forward` takes **kwargs for output capture only; the loss does not depend on them.
    accepts_loss_kwargs = False
    _no_split_modules = ["LogoFormerStem", "LogoFormerLayer"]
    # The global attention is recorded as `cross_attentions` (tokens attend to window summaries), which
    # `capture_outputs` also switches on with `output_attentions=True`.
    _can_record_outputs = {
        "hidden_states": OutputRecorder(LogoFormerLayer, num_hidden_layers_key="num_hidden_layers"),
        "attentions": OutputRecorder(LogoFormerLocalAttention, index=1),
        "cross_attentions": OutputRecorder(LogoFormerGlobalAttention, index=1),
    }

    # Copied from dfer.modeling.gca_resnet.modeling_gca_resnet.GcaResNetPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into `auto_map`; a checkpoint used as remote code should
        # answer every Auto class, the backbone included.
        if self._auto_class is not None:
            self.config.auto_map = {**REMOTE_CODE_AUTO_MAP, **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module):
        std = self.config.initializer_range
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv3d):
            # Depthwise summary conv: fan-out of one group (kernel volume), as in PVT/DualFormer.
            fan_out = module.weight[0].numel() * module.out_channels // module.groups
            init.normal_(module.weight, std=(2.0 / fan_out) ** 0.5)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if isinstance(module, nn.BatchNorm2d):
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, LogoFormerEmbeddings):
            init.trunc_normal_(module.spatial_position_embeddings, std=std)
            init.trunc_normal_(module.temporal_position_embeddings, std=std)


class LogoFormerModel(LogoFormerPreTrainedModel):
    def __init__(self, config: LogoFormerConfig):
        super().__init__(config)
        self.stem = LogoFormerStem(config)
        self.embeddings = LogoFormerEmbeddings(config)
        self.encoder = LogoFormerEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def load_resnet18_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
        """
        Load a ResNet-18 state dict in torchvision's key format (e.g. face-pretrained weights) into the stem.
        Every stem tensor must be present with the right shape; layer4 and `fc` are ignored and their keys
        returned. See [`convert_resnet18_state_dict`] for the accepted formats.
        """
        converted, dropped = convert_resnet18_state_dict(state_dict, num_stages=len(self.stem.stages))
        expected = self.stem.state_dict()
        missing = sorted(set(expected) - set(converted))
        if missing:
            raise ValueError(
                f"The ResNet-18 state dict lacks stem tensors (LogoFormer names): {missing[:8]}."
            )
        extra = sorted(set(converted) - set(expected))
        if extra:
            raise ValueError(
                f"The ResNet-18 state dict has tensors the stem does not have (LogoFormer names): {extra[:8]}."
            )
        wrong = [
            f"{name}: {tuple(converted[name].shape)} vs {tuple(tensor.shape)}"
            for name, tensor in expected.items()
            if converted[name].shape != tensor.shape
        ]
        if wrong:
            raise ValueError(
                f"Shape mismatch between the ResNet-18 state dict and the stem (given vs expected): {wrong[:8]}; "
                "check `stem_hidden_size`, `stem_stage_hidden_sizes` and `stem_stage_depths`."
            )
        self.stem.load_state_dict(converted, strict=True)
        return dropped

    # Copied from dfer.modeling.gca_resnet.modeling_gca_resnet.GcaResNetModel.check_pixel_values
    def check_pixel_values(self, pixel_values: torch.Tensor) -> None:
        config = self.config
        expected = (config.num_frames, config.num_channels, config.image_size, config.image_size)
        expected_text = f"(batch_size, {', '.join(map(str, expected))})"
        if not isinstance(pixel_values, torch.Tensor):
            raise ValueError(f"`pixel_values` must be a torch.Tensor of shape {expected_text}, got {type(pixel_values)}.")
        if not pixel_values.is_floating_point():
            raise ValueError(
                f"`pixel_values` must be a floating-point tensor of shape {expected_text} with values in [0, 1], got "
                f"dtype {pixel_values.dtype}; convert uint8 frames with `frames.float() / 255` or use the video processor."
            )
        if pixel_values.ndim != 5 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"`pixel_values` must have shape {expected_text} (frames, channels, height, width), "
                f"got {tuple(pixel_values.shape)}."
            )
        # Under autocast the layers cast their inputs themselves; otherwise a dtype mismatch fails deep inside.
        if pixel_values.dtype != self.dtype and not torch.is_autocast_enabled(pixel_values.device.type):
            raise ValueError(
                f"`pixel_values` are {pixel_values.dtype} but the model's weights are {self.dtype}; cast them with "
                f"`pixel_values.to(model.dtype)` (or load the model with `dtype={pixel_values.dtype}`)."
            )

    @capture_outputs(tie_last_hidden_states=False)
    def forward(self, pixel_values: torch.Tensor, **kwargs) -> LogoFormerModelOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, image_size, image_size)`):
            Frames with values in [0, 1] (pixels divided by 255, no mean/std normalisation in this lineage).
        """
        self.check_pixel_values(pixel_values)
        batch_size = pixel_values.shape[0]
        features = self.stem(pixel_values.flatten(0, 1))
        grid_size = (pixel_values.shape[1], features.shape[2], features.shape[3])
        hidden_states = self.embeddings(features, batch_size)
        hidden_states = self.encoder(hidden_states, grid_size, **kwargs)
        last_hidden_state = self.layernorm(hidden_states)
        return LogoFormerModelOutput(
            last_hidden_state=last_hidden_state, pooler_output=last_hidden_state.mean(dim=1)
        )


class LogoFormerForVideoClassification(LogoFormerPreTrainedModel):
    def __init__(self, config: LogoFormerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.logo_former = LogoFormerModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def load_resnet18_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
        """See [`LogoFormerModel.load_resnet18_state_dict`]."""
        return self.logo_former.load_resnet18_state_dict(state_dict)

    @can_return_tuple
    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs
    ) -> LogoFormerVideoClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size,)` or `torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
            When given, `loss` follows `config.problem_type` as in every transformers classifier: cross-entropy for
            class indices (`"single_label_classification"`, the default for integer labels), binary cross-entropy
            with logits for multi-hot float targets (`"multi_label_classification"`), mean squared error for
            `"regression"`.
        """
        outputs = self.logo_former(pixel_values, **kwargs)
        logits = self.classifier(outputs.pooler_output)
        loss = None
        if labels is not None:
            # `ForSequenceClassificationLoss` (chosen by the `ForVideoClassification` suffix), per `config.problem_type`.
            loss = self.loss_function(labels, logits, self.config)
        return LogoFormerVideoClassifierOutput(
            loss=loss,
            logits=logits,
            pooler_output=outputs.pooler_output,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            cross_attentions=outputs.cross_attentions,
        )


__all__ = [
    "LogoFormerModel",
    "LogoFormerForVideoClassification",
    "LogoFormerPreTrainedModel",
    "LogoFormerModelOutput",
    "LogoFormerVideoClassifierOutput",
    "convert_resnet18_state_dict",
]
