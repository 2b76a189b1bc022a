"""GCA-ResNet: a shallow ResNet with Global Convolution-Attention blocks, a dynamic-static fusion module and a
temporal transformer, as released with the Intensity-Aware Loss paper (Li et al., AAAI 2023).

Shapes for the default configuration: pixel_values (B, 16, 3, 112, 112) -> per-frame CNN (B*16 frames) ->
(B, 16, 256, 7, 7) -> dynamic-static fusion -> (B, 15, 4096) -> temporal transformer -> mean -> (B, 4096) ->
logits (B, 7). The Intensity-Aware Loss itself lives in `dfer.training`; `forward(labels=...)` gives the loss of
`config.problem_type` (plain cross-entropy for class indices), as every transformers classifier does.

For inference call `model.eval().fuse_batch_norm()` (the package's inference entry points do): it folds the
BatchNorms into the convolutions; `train()` undoes it and checkpoints never contain the folded tensors.
"""

from collections.abc import Callable
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

from .configuration_gca_resnet import GcaResNetConfig


@dataclass
class GcaResNetModelOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_frames - 1, temporal_hidden_size)`):
        Output of the temporal transformer, one token per consecutive-frame pair.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, temporal_hidden_size)`):
        The clip feature: mean of `last_hidden_state` over time.
    gca_descriptors (`tuple(torch.FloatTensor)`):
        One `(batch_size, channels)` tensor per GCA block: its global-convolution output averaged over the
        frames of the clip, the input of that block's auxiliary classifier.
    hidden_states (`tuple(torch.FloatTensor)`, *optional*):
        Input of the temporal transformer and the output of each of its layers.
    attentions (`tuple(torch.FloatTensor)`, *optional*):
        Attention probabilities of each temporal transformer layer (eager attention only).
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    gca_descriptors: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class GcaResNetVideoClassifierOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Classification loss of `logits` against `labels` for `config.problem_type` (cross-entropy for class
        indices); the paper's full objective is in `dfer.training`.
    logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
        Classification scores.
    auxiliary_logits (`tuple(torch.FloatTensor)`):
        One `(batch_size, num_labels)` tensor per GCA block (layer2, layer3 by default), used only by the
        training objective.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, temporal_hidden_size)`):
        The clip feature the classifier reads.
    hidden_states, attentions: see [`GcaResNetModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    auxiliary_logits: tuple[torch.FloatTensor, ...] | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


# ----------------------------------------------------------------------------------------------------------------
# Convolutional part
# ----------------------------------------------------------------------------------------------------------------


class GcaResNetConvLayer(nn.Module):
    """
    Bias-free convolution + BatchNorm (+ ReLU).

    For inference, [`fuse_batch_norm`] folds the frozen BatchNorm into the convolution: one pass over the
    activations instead of two, same result to float rounding. The folded weight and bias are derived tensors held
    in a plain attribute, neither parameters nor buffers, so `state_dict` and `save_pretrained` only ever see the
    convolution and BatchNorm tensors. What keeps them in step with their sources:
    - `train()` (on this layer or any module above it) drops them: training needs the BatchNorm's batch statistics
      and changes the tensors they come from. `eval()` keeps them. Call `fuse_batch_norm()` again after training.
    - `load_state_dict` folds the loaded tensors again, and `.to()` / dtype casts fold again from the converted
      tensors (so a fused model moved to float64 is exact in float64).
    - Any other change to the tensors (writes under `torch.no_grad()`, running the BatchNorm submodule on its own)
      is not seen: call `fuse_batch_norm()` again after it, or `unfuse_batch_norm()`.
    With autograd enabled a fused layer folds on the fly, so gradients still reach the convolution and BatchNorm.
    """

    def __init__(
        self,
        config: GcaResNetConfig,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        activation: bool = True,
    ):
        super().__init__()
        self.convolution = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.normalization = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.activation = nn.ReLU(inplace=True) if activation else nn.Identity()
        # (weight, bias) while fused, else None. A plain attribute, so that it is never part of the state dict.
        self._fused_weight_and_bias: tuple[torch.Tensor, torch.Tensor] | None = None
        self.register_load_state_dict_post_hook(_fuse_again_after_loading)

    @property
    def is_batch_norm_fused(self) -> bool:
        return self._fused_weight_and_bias is not None

    def folded_weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolution weight and bias with the frozen BatchNorm folded in (channels-last, like the maps)."""
        conv, norm = self.convolution, self.normalization
        # Fold in at least float32 and round once: a bfloat16 model folded in bfloat16 would round every product.
        dtype = conv.weight.dtype
        compute = torch.promote_types(dtype, torch.float32)
        scale = norm.weight.to(compute) * torch.rsqrt(norm.running_var.to(compute) + norm.eps)
        weight = conv.weight.to(compute) * scale.view(-1, 1, 1, 1)
        bias = norm.bias.to(compute) - norm.running_mean.to(compute) * scale
        return weight.to(dtype).contiguous(memory_format=torch.channels_last), bias.to(dtype)

    def fuse_batch_norm(self) -> None:
        """Fold the BatchNorm's running statistics and affine parameters into the convolution (eval mode only)."""
        if self.normalization.training:
            raise RuntimeError(
                "fuse_batch_norm() folds the running statistics of a BatchNorm in eval mode, but this one is in "
                "training mode (it normalises with batch statistics, which cannot be folded). Call `.eval()` first."
            )
        self._fold()

    def unfuse_batch_norm(self) -> None:
        """Go back to convolution + BatchNorm (the state of a freshly built or loaded layer)."""
        self._fused_weight_and_bias = None

    @torch.no_grad()
    def _fold(self) -> None:
        self._fused_weight_and_bias = self.folded_weight_and_bias()

    def train(self, mode: bool = True):
        if mode:
            self.unfuse_batch_norm()
        return super().train(mode)

    def _apply(self, fn, recurse=True):
        # `.to()`, `.double()`, `.cuda()`, ...: to a wider dtype (float64), fold again from the converted tensors (a
        # cast of float32-folded weights would not be exact there); to a narrower one (bfloat16), convert the folds
        # made from the wider tensors, so that each folded weight is rounded once, not folded from rounded inputs.
        before = self.folded_weight_and_bias() if self.is_batch_norm_fused else None
        module = super()._apply(fn, recurse)
        if before is not None:
            narrower = torch.finfo(self.convolution.weight.dtype).eps > torch.finfo(before[0].dtype).eps
            if narrower:
                weight, bias = (fn(tensor) for tensor in before)
                self._fused_weight_and_bias = (weight.contiguous(memory_format=torch.channels_last), bias)
            else:
                self._fold()
        return module

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        if self.normalization.training and self.is_batch_norm_fused:
            # The BatchNorm was put in training mode on its own, not through `train()`: its statistics move now.
            self.unfuse_batch_norm()
        if not self.is_batch_norm_fused:
            hidden_state = self.normalization(self.convolution(hidden_state))
        else:
            # The folded tensors were made without autograd: fold on the fly when gradients are wanted.
            weight, bias = self.folded_weight_and_bias() if torch.is_grad_enabled() else self._fused_weight_and_bias
            conv = self.convolution
            hidden_state = nn.functional.conv2d(hidden_state, weight, bias, conv.stride, conv.padding)
        return self.activation(hidden_state)


def _fuse_again_after_loading(layer: GcaResNetConvLayer, incompatible_keys) -> None:
    # Loading replaces the tensors the folded weights came from: a fused layer stays fused, with the new values.
    if layer.is_batch_norm_fused:
        layer._fold()


class GcaResNetStem(nn.Module):
    """Two 3x3 convolutions (the first with stride 2), each followed by BN + ReLU, then a stride-2 max pool."""

    def __init__(self, config: GcaResNetConfig):
        super().__init__()
        width = config.stem_hidden_size
        self.conv1 = GcaResNetConvLayer(config, config.num_channels, width, stride=2)
        self.conv2 = GcaResNetConvLayer(config, width, width)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv2(self.conv1(frames)))


class GcaResNetGlobalConvAttention(nn.Module):
    """
    Global Convolution-Attention (GCA): re-weights the channels of every frame by the geometric mean of a
    frame-level and a clip-level excitation, both computed from one "global convolution" (a depthwise
    convolution whose kernel covers the whole map) per channel.
    """

    def __init__(self, config: GcaResNetConfig, channels: int, map_size: int):
        super().__init__()
        reduced = max(channels // config.gca_reduction, 1)
        self.global_conv = nn.Conv2d(channels, channels, kernel_size=map_size, groups=channels, bias=False)
        self.excitation_reduce = nn.Conv2d(channels, reduced, kernel_size=1, bias=False)
        self.excitation_expand = nn.Conv2d(reduced, channels, kernel_size=1, bias=False)
        self.activation = nn.ReLU(inplace=True)
        self.epsilon = config.gca_epsilon

    def global_descriptor(self, features: torch.Tensor) -> torch.Tensor:
        """The global convolution, (N, C, H, W) -> (N, C)."""
        return self.global_conv(features).flatten(1)

    def forward(self, features: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        channels = features.shape[1]
        descriptor = self.global_descriptor(features)[:, :, None, None]
        # Weights in (0, 2): 1 is "leave the channel as it is".
        frame_weights = 2 * torch.sigmoid(self.excitation_expand(self.activation(self.excitation_reduce(descriptor))))
        frame_weights = frame_weights.view(-1, num_frames, channels, 1, 1)
        clip_weights = frame_weights.mean(dim=1, keepdim=True)
        weights = torch.sqrt(frame_weights * clip_weights + self.epsilon)
        rescaled = features.unflatten(0, (-1, num_frames)) * weights
        clip_descriptor = descriptor.view(-1, num_frames, channels).mean(dim=1)
        return rescaled.flatten(0, 1), clip_descriptor


class GcaResNetBasicBlock(nn.Module):
    """ResNet basic block; with `use_gca` the GCA rescale sits between the second BN and the residual add."""

    def __init__(
        self,
        config: GcaResNetConfig,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        use_gca: bool = False,
        map_size: int | None = None,
    ):
        super().__init__()
        self.conv1 = GcaResNetConvLayer(config, in_channels, out_channels, stride=stride)
        self.conv2 = GcaResNetConvLayer(config, out_channels, out_channels, activation=False)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = GcaResNetConvLayer(
                config, in_channels, out_channels, kernel_size=1, stride=stride, activation=False
            )
        self.gca = GcaResNetGlobalConvAttention(config, out_channels, map_size) if use_gca else None
        self.activation = nn.ReLU(inplace=True)

    def forward(self, hidden_state: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        residual = hidden_state if self.shortcut is None else self.shortcut(hidden_state)
        hidden_state = self.conv2(self.conv1(hidden_state))
        descriptor = None
        if self.gca is not None:
            hidden_state, descriptor = self.gca(hidden_state, num_frames)
        return self.activation(hidden_state + residual), descriptor


class GcaResNetSpatialEncoder(nn.Module):
    """The per-frame CNN: stem and spatial stages. Collects the clip descriptor of every GCA block."""

    # oneDNN convolutions run fastest on channels-last maps; every later layer keeps the layout.
    memory_format = torch.channels_last

    def __init__(self, config: GcaResNetConfig):
        super().__init__()
        self.stem = GcaResNetStem(config)
        blocks = []
        in_channels = config.stem_hidden_size
        for stage_index, (width, depth, use_gca, map_size) in enumerate(
            zip(config.hidden_sizes, config.depths, config.gca_stages, config.stage_map_sizes)
        ):
            for block_index in range(depth):
                stride = 2 if stage_index > 0 and block_index == 0 else 1
                blocks.append(GcaResNetBasicBlock(config, in_channels, width, stride, use_gca, map_size))
                in_channels = width
        self.blocks = nn.ModuleList(blocks)

    def forward(self, frames: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        hidden_state = self.stem(frames.contiguous(memory_format=self.memory_format))
        descriptors = []
        for block in self.blocks:
            hidden_state, descriptor = block(hidden_state, num_frames)
            if descriptor is not None:
                descriptors.append(descriptor)
        return hidden_state, tuple(descriptors)


# ----------------------------------------------------------------------------------------------------------------
# Transformer part (shared by the static branch and the temporal transformer, at different widths)
# ----------------------------------------------------------------------------------------------------------------


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


class GcaResNetSelfAttention(nn.Module):
    """Multi-head self-attention with a bias-free joint qkv projection and a biased output projection."""

    def __init__(self, config: GcaResNetConfig, hidden_size: int, num_heads: int, head_size: int):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_size = head_size
        self.scaling = head_size**-0.5
        self.is_causal = False
        self.attention_dropout = config.attention_probs_dropout_prob
        self.qkv = nn.Linear(hidden_size, 3 * num_heads * head_size, bias=False)
        self.output = nn.Linear(num_heads * head_size, hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, seq_length, _ = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch_size, seq_length, 3, self.num_heads, self.head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        context, attention_probs = attention_interface(
            self,
            query,
            key,
            value,
            None,
            scaling=self.scaling,
            dropout=self.attention_dropout if self.training else 0.0,
            is_causal=False,
            **kwargs,
        )
        context = context.reshape(batch_size, seq_length, self.num_heads * self.head_size)
        return self.output_dropout(self.output(context)), attention_probs


class GcaResNetMLP(nn.Module):
    def __init__(self, config: GcaResNetConfig, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(intermediate_size, hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.activation(self.fc1(hidden_states)))
        return self.dropout(self.fc2(hidden_states))


class GcaResNetTransformerLayer(GradientCheckpointingLayer):
    """Pre-norm layer: x + Attn(LN(x)), then x + MLP(LN(x)). Each sub-layer is evaluated once (the official
    code evaluates it twice for the same result)."""

    def __init__(self, config: GcaResNetConfig, hidden_size: int, num_heads: int, head_size: int, intermediate_size: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.attention = GcaResNetSelfAttention(config, hidden_size, num_heads, head_size)
        self.mlp_norm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = GcaResNetMLP(config, hidden_size, intermediate_size)

    def forward(self, hidden_states: torch.Tensor, **kwargs) -> torch.Tensor:
        attention_output, _ = self.attention(self.attention_norm(hidden_states), **kwargs)
        hidden_states = hidden_states + attention_output
        return hidden_states + self.mlp(self.mlp_norm(hidden_states))


class GcaResNetTransformer(nn.Module):
    def __init__(
        self,
        config: GcaResNetConfig,
        hidden_size: int,
        num_layers: int,
        num_heads: int,
        head_size: int,
        intermediate_size: int,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            GcaResNetTransformerLayer(config, hidden_size, num_heads, head_size, intermediate_size)
            for _ in range(num_layers)
        )

    def forward(self, hidden_states: torch.Tensor, **kwargs) -> torch.Tensor:
        for layer in self.layers:
            hidden_states = layer(hidden_states, **kwargs)
        return hidden_states


# ----------------------------------------------------------------------------------------------------------------
# Dynamic-static fusion and the full model
# ----------------------------------------------------------------------------------------------------------------


class GcaResNetDynamicStaticFusion(nn.Module):
    """
    Fuses motion and appearance for each of the T-1 consecutive frame pairs: a CNN over frame differences
    (dynamic branch) plus a small transformer over the spatial tokens of each frame (static branch), summed and
    flattened channel-major into one token per time step.
    """

    def __init__(self, config: GcaResNetConfig):
        super().__init__()
        channels = config.hidden_sizes[-1]
        num_tokens = config.fusion_map_size**2
        self.dynamic_blocks = nn.ModuleList(
            GcaResNetBasicBlock(config, channels, channels, stride=2 if index == 0 else 1)
            for index in range(config.dynamic_num_blocks)
        )
        self.static_embedding = GcaResNetConvLayer(config, channels, channels, stride=2)
        self.static_position_embeddings = nn.Parameter(torch.zeros(1, num_tokens, channels))
        self.static_transformer = GcaResNetTransformer(
            config,
            hidden_size=channels,
            num_layers=config.dsf_num_hidden_layers,
            num_heads=config.dsf_num_attention_heads,
            head_size=config.dsf_attention_head_size,
            intermediate_size=config.dsf_intermediate_size,
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (B, T, C, H, W) -> (B, T-1, C * h * w)
        batch_size, num_frames = features.shape[:2]
        dynamic = (features[:, 1:] - features[:, :-1]).flatten(0, 1)
        for block in self.dynamic_blocks:
            dynamic, _ = block(dynamic, num_frames - 1)

        static = features[:, :-1].flatten(0, 1)
        static = self.static_embedding(static)
        channels, height, width = static.shape[1:]
        tokens = static.flatten(2).transpose(1, 2) + self.static_position_embeddings
        tokens = self.static_transformer(tokens)
        static = tokens.transpose(1, 2).reshape(-1, channels, height, width)

        return (dynamic + static).reshape(batch_size, num_frames - 1, channels * height * width)


REMOTE_CODE_AUTO_MAP = {
    "AutoConfig": "configuration_gca_resnet.GcaResNetConfig",
    "AutoModel": "modeling_gca_resnet.GcaResNetModel",
    "AutoModelForVideoClassification": "modeling_gca_resnet.GcaResNetForVideoClassification",
}


class GcaResNetPreTrainedModel(PreTrainedModel):
    config: GcaResNetConfig
    base_model_prefix = "gca_resnet"
    main_input_name = "pixel_values"
    input_modalities = "video"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_attention_backend = True
    # `forward` takes **kwargs for output capture only; the loss does not depend on them.
    accepts_loss_kwargs = False
    _no_split_modules = ["GcaResNetSpatialEncoder", "GcaResNetTransformerLayer"]
    # Recorded from the temporal transformer only; the static-branch transformer runs once per frame.
    _can_record_outputs = {
        "hidden_states": OutputRecorder(
            GcaResNetTransformerLayer, layer_name="temporal_transformer", num_hidden_layers_key="num_hidden_layers"
        ),
        "attentions": OutputRecorder(GcaResNetSelfAttention, index=1, layer_name="temporal_transformer"),
    }

    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into `auto_map`; a checkpoint used as remote code should
        # answer every Auto class, the backbone included.
        if self._auto_class is not None:
            self.config.auto_map = {**REMOTE_CODE_AUTO_MAP, **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def fuse_batch_norm(self):
        """
        Prepare the model for inference: fold every frozen BatchNorm into the convolution before it (see
        [`GcaResNetConvLayer`]). Outputs are unchanged to float rounding; the per-frame CNN runs faster because
        each convolution is one pass over its activations instead of two.

        The model must be in eval mode. `eval()` keeps the fusion, `train()` undoes it rather than refusing:
        `Trainer` calls `train()` at the start of every training loop and after every evaluation, and the folded
        tensors are only derived from the convolution and BatchNorm tensors, which stay the model's weights, so
        nothing is lost. `state_dict()` and `save_pretrained` never contain folded tensors. `load_state_dict` and
        `.to()` fold again from the new tensors; after any other change to the weights call this method again.

        Returns the model, so that `model.eval().fuse_batch_norm()` reads as one step.
        """
        if self.training:
            raise RuntimeError(
                f"{type(self).__name__}.fuse_batch_norm() needs eval mode: in training mode the BatchNorms "
                "normalise with batch statistics, which cannot be folded. Call `model.eval()` first."
            )
        for module in self.modules():
            if isinstance(module, GcaResNetConvLayer):
                module.fuse_batch_norm()
        return self

    def unfuse_batch_norm(self):
        """Undo [`fuse_batch_norm`] (what `train()` does): every convolution is followed by its BatchNorm again."""
        for module in self.modules():
            if isinstance(module, GcaResNetConvLayer):
                module.unfuse_batch_norm()
        return self

    @property
    def is_batch_norm_fused(self) -> bool:
        """Whether every BatchNorm is currently folded into its convolution."""
        return all(module.is_batch_norm_fused for module in self.modules() if isinstance(module, GcaResNetConvLayer))

    @torch.no_grad()
    def _init_weights(self, module: nn.Module):
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if isinstance(module, nn.BatchNorm2d):
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            # PyTorch's own Linear initialisation, which the official network keeps.
            init.kaiming_uniform_(module.weight, a=5**0.5)
            if module.bias is not None:
                bound = module.weight.shape[1] ** -0.5
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, GcaResNetDynamicStaticFusion):
            init.normal_(module.static_position_embeddings, std=self.config.position_embedding_std)
        elif isinstance(module, GcaResNetModel):
            init.normal_(module.temporal_position_embeddings, std=self.config.position_embedding_std)


class GcaResNetModel(GcaResNetPreTrainedModel):
    def __init__(self, config: GcaResNetConfig):
        super().__init__(config)
        self.spatial_encoder = GcaResNetSpatialEncoder(config)
        self.dynamic_static_fusion = GcaResNetDynamicStaticFusion(config)
        # One row per frame as in the official checkpoint; the T-1 fused tokens use the first T-1 rows.
        self.temporal_position_embeddings = nn.Parameter(torch.zeros(1, config.num_frames, config.temporal_hidden_size))
        self.temporal_transformer = GcaResNetTransformer(
            config,
            hidden_size=config.temporal_hidden_size,
            num_layers=config.temporal_num_hidden_layers,
            num_heads=config.temporal_num_attention_heads,
            head_size=config.temporal_attention_head_size,
            intermediate_size=config.temporal_intermediate_size,
        )
        self.post_init()

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
    def forward(self, pixel_values: torch.Tensor, **kwargs) -> GcaResNetModelOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, image_size, image_size)`):
            Frames with values in [0, 1] (no mean/std normalisation, as in the official pipeline).
        """
        self.check_pixel_values(pixel_values)
        batch_size, num_frames = pixel_values.shape[:2]
        frames = pixel_values.flatten(0, 1)
        features, gca_descriptors = self.spatial_encoder(frames, num_frames)
        features = features.unflatten(0, (batch_size, num_frames))

        tokens = self.dynamic_static_fusion(features)
        tokens = tokens + self.temporal_position_embeddings[:, : num_frames - 1]
        last_hidden_state = self.temporal_transformer(tokens, **kwargs)
        return GcaResNetModelOutput(
            last_hidden_state=last_hidden_state,
            pooler_output=last_hidden_state.mean(dim=1),
            gca_descriptors=gca_descriptors,
        )


class GcaResNetAuxiliaryClassifier(nn.Module):
    """Two bias-free linears with no activation between them (C -> 2C -> labels), as released."""

    def __init__(self, channels: int, num_labels: int):
        super().__init__()
        self.projection = nn.Linear(channels, 2 * channels, bias=False)
        self.classifier = nn.Linear(2 * channels, num_labels, bias=False)

    def forward(self, descriptor: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.projection(descriptor))


class GcaResNetForVideoClassification(GcaResNetPreTrainedModel):
    def __init__(self, config: GcaResNetConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.gca_resnet = GcaResNetModel(config)
        gca_widths = [width for width, use_gca in zip(config.hidden_sizes, config.gca_stages) if use_gca]
        gca_depths = [depth for depth, use_gca in zip(config.depths, config.gca_stages) if use_gca]
        self.auxiliary_classifiers = nn.ModuleList(
            GcaResNetAuxiliaryClassifier(width, config.num_labels)
            for width, depth in zip(gca_widths, gca_depths)
            for _ in range(depth)
        )
        self.classifier = nn.Linear(config.temporal_hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs
    ) -> GcaResNetVideoClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size,)` or `torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
            When given, `loss` follows `config.problem_type` as in every transformers classifier: cross-entropy for
            class indices (`"single_label_classification"`, the default for integer labels), binary cross-entropy
            with logits for multi-hot float targets (`"multi_label_classification"`), mean squared error for
            `"regression"`.
        """
        outputs = self.gca_resnet(pixel_values, **kwargs)
        logits = self.classifier(outputs.pooler_output)
        auxiliary_logits = tuple(
            head(descriptor) for head, descriptor in zip(self.auxiliary_classifiers, outputs.gca_descriptors)
        )
        loss = None
        if labels is not None:
            # `ForSequenceClassificationLoss` (chosen by the `ForVideoClassification` suffix), per `config.problem_type`.
            loss = self.loss_function(labels, logits, self.config)
        return GcaResNetVideoClassifierOutput(
            loss=loss,
            logits=logits,
            auxiliary_logits=auxiliary_logits,
            pooler_output=outputs.pooler_output,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


__all__ = [
    "GcaResNetModel",
    "GcaResNetForVideoClassification",
    "GcaResNetPreTrainedModel",
    "GcaResNetModelOutput",
    "GcaResNetVideoClassifierOutput",
]
