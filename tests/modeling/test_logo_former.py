"""Behaviour of the LOGO-Former reconstruction: window locality, global reach, eager/SDPA agreement, outputs,
the ResNet-18 stem loader, save/load and remote-code round trips. Tiny configs only."""

import itertools
import json

import pytest
import torch
from isolated_process import run_without_dfer
from safetensors.torch import load_file, save_file
from tiny_models import tiny_logo_former_config as tiny_config
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from dfer.modeling.logo_former import (
    LOGO_FORMER_LABELS,
    LogoFormerConfig,
    LogoFormerForVideoClassification,
    LogoFormerModel,
)
from dfer.modeling.logo_former.modeling_logo_former import (
    LogoFormerGlobalAttention,
    LogoFormerLocalAttention,
    partition_windows,
)


def with_attention(config: LogoFormerConfig, implementation: str) -> LogoFormerConfig:
    config._attn_implementation = implementation
    return config


def window_of_token(grid_size, window_size) -> torch.Tensor:
    """Window id of every token in (t, h, w) order, from coordinates (independent of `partition_windows`)."""
    counts = [-(-size // window) for size, window in zip(grid_size, window_size, strict=True)]
    ids = []
    for t, h, w in itertools.product(*(range(size) for size in grid_size)):
        wt, wh, ww = t // window_size[0], h // window_size[1], w // window_size[2]
        ids.append((wt * counts[1] + wh) * counts[2] + ww)
    return torch.tensor(ids)


# ----------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------


def test_default_config_is_the_spec_reconstruction():
    config = LogoFormerConfig()
    assert config.token_grid_size == (16, 7, 7)
    assert config.num_windows == 8
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (512, 4, 8)
    assert config.window_size == [2, 7, 7]
    assert config.intermediate_size == 4 * config.hidden_size
    assert config.id2label == dict(enumerate(LOGO_FORMER_LABELS))
    assert config.label2id == {label: index for index, label in enumerate(LOGO_FORMER_LABELS)}


def test_config_keeps_given_labels():
    config = tiny_config(id2label={0: "calm", 1: "excited"})
    assert config.num_labels == 2
    assert config.label2id == {"calm": 0, "excited": 1}
    assert tiny_config(num_labels=3).num_labels == 3
    assert (config.attention_probs_dropout_prob, config.hidden_dropout_prob, config.mlp_dropout_prob) == (
        0.2,
        0.2,
        0.2,
    )
    assert config.drop_path_rate == 0.1


def test_config_rejects_inconsistent_values():
    with pytest.raises(ValueError, match="divisible"):
        tiny_config(hidden_size=15)
    with pytest.raises(ValueError, match="window_size"):
        tiny_config(window_size=[2, 2])


def test_drop_path_increases_linearly_to_the_configured_rate():
    model = LogoFormerModel(tiny_config(num_hidden_layers=3, drop_path_rate=0.1))
    rates = [layer.drop_path.drop_prob for layer in model.encoder.layers]
    assert rates == pytest.approx([0.0, 0.05, 0.1])


# ----------------------------------------------------------------------------------------------------------------
# Local and global attention
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_local_attention_output_depends_only_on_its_window(implementation):
    torch.manual_seed(0)
    grid_size, window_size = (3, 3, 4), (2, 2, 3)  # padded in every dimension
    config = with_attention(tiny_config(window_size=list(window_size)), implementation)
    attention = LogoFormerLocalAttention(config).eval()
    num_tokens = 3 * 3 * 4
    hidden_states = torch.randn(2, num_tokens, config.hidden_size)
    windows = window_of_token(grid_size, window_size)
    with torch.no_grad():
        reference, _ = attention(hidden_states, grid_size)
        for window in windows.unique():
            inside = windows == window
            perturbed = hidden_states.clone()
            perturbed[:, inside] += torch.randn_like(perturbed[:, inside])
            output, _ = attention(perturbed, grid_size)
            torch.testing.assert_close(output[:, ~inside], reference[:, ~inside], rtol=0, atol=1e-6)
            assert (output[:, inside] - reference[:, inside]).abs().amax(dim=-1).min() > 1e-4


@pytest.mark.parametrize("window_size", [(3, 2, 2), (4, 3, 5)], ids=["window=grid", "window>grid,masked"])
def test_local_attention_with_whole_grid_window_is_full_self_attention(window_size):
    torch.manual_seed(1)
    grid_size = (3, 2, 2)
    config = with_attention(tiny_config(window_size=list(window_size)), "eager")
    attention = LogoFormerLocalAttention(config).eval()
    reference = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(attention.qkv.weight)
        reference.in_proj_bias.copy_(attention.qkv.bias)
        reference.out_proj.weight.copy_(attention.output.weight)
        reference.out_proj.bias.copy_(attention.output.bias)
        hidden_states = torch.randn(2, 12, config.hidden_size)
        output, _ = attention(hidden_states, grid_size)
        expected, _ = reference(hidden_states, hidden_states, hidden_states, need_weights=False)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_global_attention_sees_every_window_from_every_token(implementation):
    torch.manual_seed(2)
    grid_size, window_size = (5, 2, 2), (2, 2, 1)
    config = with_attention(tiny_config(window_size=list(window_size)), implementation)
    attention = LogoFormerGlobalAttention(config).eval()
    hidden_states = torch.randn(1, 20, config.hidden_size)
    windows = window_of_token(grid_size, window_size)
    assert windows.unique().numel() == 6
    with torch.no_grad():
        reference, _ = attention(hidden_states, grid_size)
        for window in windows.unique():
            perturbed = hidden_states.clone()
            perturbed[:, windows == window] += torch.randn_like(perturbed[:, windows == window])
            output, _ = attention(perturbed, grid_size)
            assert (output - reference).abs().amax(dim=-1).min() > 1e-5, (
                f"window {int(window)} unseen by some token"
            )


def test_window_summary_is_a_depthwise_conv3d_over_the_zero_padded_grid():
    torch.manual_seed(3)
    grid_size, window_size = (5, 3, 2), (2, 2, 2)
    attention = LogoFormerGlobalAttention(tiny_config(window_size=list(window_size))).eval()
    hidden_states = torch.randn(2, 30, 16)
    grid = hidden_states.view(2, *grid_size, 16).permute(0, 4, 1, 2, 3)
    grid = nn.functional.pad(grid, (0, 0, 0, 1, 0, 1))
    with torch.no_grad():
        expected = attention.summary(grid).flatten(2).transpose(1, 2)
        summaries = attention.window_summaries(hidden_states, grid_size)
    torch.testing.assert_close(summaries, expected, rtol=1e-5, atol=1e-5)


def test_partition_windows_groups_tokens_by_window():
    grid_size, window_size = (3, 3, 4), (2, 2, 3)
    token_ids = torch.arange(36, dtype=torch.float32).view(1, 36, 1) + 1  # 0 marks padding
    windows = partition_windows(token_ids, grid_size, window_size)[..., 0]
    expected = window_of_token(grid_size, window_size)
    for window_index, window in enumerate(windows):
        members = window[window > 0].long() - 1
        assert (expected[members] == window_index).all()
        assert members.numel() == int((expected == window_index).sum())


# ----------------------------------------------------------------------------------------------------------------
# Full model
# ----------------------------------------------------------------------------------------------------------------


def test_eager_and_sdpa_agree():
    torch.manual_seed(4)
    eager = LogoFormerForVideoClassification(with_attention(tiny_config(), "eager")).eval()
    sdpa = LogoFormerForVideoClassification(with_attention(tiny_config(), "sdpa")).eval()
    sdpa.load_state_dict(eager.state_dict())
    pixel_values = torch.rand(2, 5, 3, 32, 32)
    with torch.no_grad():
        eager_out, sdpa_out = eager(pixel_values), sdpa(pixel_values)
    torch.testing.assert_close(sdpa_out.logits, eager_out.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sdpa_out.pooler_output, eager_out.pooler_output, rtol=1e-5, atol=1e-5)


def test_sdpa_is_the_default_attention():
    assert LogoFormerForVideoClassification(tiny_config()).config._attn_implementation == "sdpa"


def test_outputs_attention_maps_and_hidden_states_on_request():
    torch.manual_seed(5)
    config = with_attention(tiny_config(), "eager")
    model = LogoFormerForVideoClassification(config).eval()
    with torch.no_grad():
        outputs = model(torch.rand(2, 5, 3, 32, 32), output_attentions=True, output_hidden_states=True)
    assert outputs.logits.shape == (2, 7)
    assert outputs.pooler_output.shape == (2, 16)
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    assert all(state.shape == (2, 20, 16) for state in outputs.hidden_states)
    assert len(outputs.attentions) == len(outputs.cross_attentions) == config.num_hidden_layers
    # Local: 6 windows per clip (time padded 5 -> 6), 4 tokens per window; the padded time step gets no weight.
    local = outputs.attentions[0]
    assert local.shape == (2 * 6, 2, 4, 4)
    torch.testing.assert_close(local.sum(-1), torch.ones(local.shape[:-1]))
    last_time_windows = local.view(2, 3, 2, 2, 4, 4)[:, 2]  # (batch, h-window, head, query, key)
    assert (last_time_windows[..., 2:] == 0).all()  # keys at t = 5 are padding
    assert (last_time_windows[..., :2] > 0).all()
    # Global: every one of the 20 tokens attends to the 6 window summaries.
    assert outputs.cross_attentions[0].shape == (2, 2, 20, 6)


def test_default_call_returns_no_optional_outputs_and_tuple_mode_works():
    model = LogoFormerForVideoClassification(tiny_config()).eval()
    pixel_values = torch.rand(1, 5, 3, 32, 32)
    with torch.no_grad():
        outputs = model(pixel_values)
        as_tuple = model(pixel_values, return_dict=False)
    assert outputs.hidden_states is None and outputs.attentions is None
    torch.testing.assert_close(as_tuple[0], outputs.logits)


def test_labels_give_plain_cross_entropy():
    model = LogoFormerForVideoClassification(tiny_config()).eval()
    labels = torch.tensor([3, 0])
    with torch.no_grad():
        outputs = model(torch.rand(2, 5, 3, 32, 32), labels=labels)
    torch.testing.assert_close(outputs.loss, nn.functional.cross_entropy(outputs.logits, labels))


def test_labels_follow_the_problem_type():
    model = LogoFormerForVideoClassification(tiny_config(problem_type="multi_label_classification")).eval()
    targets = torch.tensor([[0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    outputs = model(torch.rand(1, 5, 3, 32, 32), labels=targets)
    torch.testing.assert_close(
        outputs.loss, nn.functional.binary_cross_entropy_with_logits(outputs.logits, targets)
    )


@pytest.mark.parametrize("num_frames", [8, 32])
def test_clip_lengths_other_than_16(num_frames):
    config = tiny_config(num_frames=num_frames, image_size=16)
    model = LogoFormerForVideoClassification(config).eval()
    assert config.token_grid_size == (num_frames, 1, 1)
    with torch.no_grad():
        outputs = model(torch.rand(1, num_frames, 3, 16, 16), output_hidden_states=True)
    assert outputs.logits.shape == (1, 7)
    assert outputs.hidden_states[0].shape == (1, num_frames, 16)


def test_bad_pixel_values_raise_with_the_expected_shape():
    model = LogoFormerForVideoClassification(tiny_config()).eval()
    with pytest.raises(ValueError, match=r"\(batch_size, 5, 3, 32, 32\)"):
        model(torch.rand(1, 4, 3, 32, 32))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(1, 5, 3, 32, 32, dtype=torch.uint8))


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(6)
    config = tiny_config(
        attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0, mlp_dropout_prob=0.0, drop_path_rate=0.0
    )
    model = LogoFormerForVideoClassification(config).train()
    pixel_values, labels = torch.rand(2, 5, 3, 32, 32), torch.tensor([1, 4])

    def gradients():
        model.zero_grad()
        model(pixel_values, labels=labels).loss.backward()
        return {name: param.grad.clone() for name, param in model.named_parameters()}

    # BatchNorm running statistics change on every training forward; keep them fixed so the two runs match.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    plain = gradients()
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.logo_former.encoder.layers)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    checkpointed = gradients()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-6, msg=name)


# ----------------------------------------------------------------------------------------------------------------
# ResNet-18 stem loader
# ----------------------------------------------------------------------------------------------------------------


def torchvision_resnet18_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under torchvision's ResNet-18 keys and shapes (written out by hand: no torchvision here)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}

    def conv(name, out_channels, in_channels, kernel):
        state[name + ".weight"] = (
            torch.randn(out_channels, in_channels, kernel, kernel, generator=generator) * 0.1
        )

    def bn(name, channels):
        state[name + ".weight"] = 1 + 0.1 * torch.randn(channels, generator=generator)
        state[name + ".bias"] = 0.1 * torch.randn(channels, generator=generator)
        state[name + ".running_mean"] = 0.1 * torch.randn(channels, generator=generator)
        state[name + ".running_var"] = 1 + 0.1 * torch.rand(channels, generator=generator)
        state[name + ".num_batches_tracked"] = torch.tensor(100)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    in_channels = 64
    for stage, width in enumerate([64, 128, 256, 512], start=1):
        for block in range(2):
            prefix = f"layer{stage}.{block}"
            conv(prefix + ".conv1", width, in_channels if block == 0 else width, 3)
            bn(prefix + ".bn1", width)
            conv(prefix + ".conv2", width, width, 3)
            bn(prefix + ".bn2", width)
            if block == 0 and stage > 1:
                conv(prefix + ".downsample.0", width, in_channels, 1)
                bn(prefix + ".downsample.1", width)
        in_channels = width
    state["fc.weight"] = torch.randn(1000, 512, generator=generator) * 0.01
    state["fc.bias"] = torch.zeros(1000)
    return state


def torchvision_resnet18_to_layer3(state: dict[str, torch.Tensor], frames: torch.Tensor) -> torch.Tensor:
    """Functional torchvision ResNet-18 forward (eval-mode BN) up to layer3, written from torchvision's code."""
    functional = nn.functional

    def bn(x, name):
        return functional.batch_norm(
            x,
            state[name + ".running_mean"],
            state[name + ".running_var"],
            state[name + ".weight"],
            state[name + ".bias"],
        )

    x = functional.relu(bn(functional.conv2d(frames, state["conv1.weight"], stride=2, padding=3), "bn1"))
    x = functional.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    for stage in (1, 2, 3):
        for block in (0, 1):
            prefix = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            identity = x
            if prefix + ".downsample.0.weight" in state:
                identity = bn(
                    functional.conv2d(x, state[prefix + ".downsample.0.weight"], stride=stride),
                    prefix + ".downsample.1",
                )
            out = functional.relu(
                bn(
                    functional.conv2d(x, state[prefix + ".conv1.weight"], stride=stride, padding=1),
                    prefix + ".bn1",
                )
            )
            out = bn(functional.conv2d(out, state[prefix + ".conv2.weight"], padding=1), prefix + ".bn2")
            x = functional.relu(out + identity)
    return x


def resnet18_stem_config() -> LogoFormerConfig:
    return tiny_config(
        stem_hidden_size=64, stem_stage_hidden_sizes=[64, 128, 256], stem_stage_depths=[2, 2, 2]
    )


def test_resnet18_loader_reproduces_torchvision_layer3_features():
    state = torchvision_resnet18_state_dict()
    model = LogoFormerForVideoClassification(resnet18_stem_config()).eval()
    dropped = model.load_resnet18_state_dict(state)
    assert sorted(dropped) == sorted(key for key in state if key.startswith(("layer4.", "fc.")))
    frames = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        features = model.logo_former.stem(frames)
    expected = torchvision_resnet18_to_layer3(state, frames)
    # The features reach ~1e4 here: float32 rounding of channels-last vs NCHW convolutions is ~1e-6 of that (a wrong
    # weight mapping is off by the features' own size).
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item())
    assert int(model.logo_former.stem.stages[2][0].shortcut[1].num_batches_tracked) == 100


def test_resnet18_loader_accepts_wrappers_and_rejects_other_networks():
    state = torchvision_resnet18_state_dict()
    model = LogoFormerModel(resnet18_stem_config())
    wrapped = {"state_dict": {"module." + key: tensor for key, tensor in state.items()}, "epoch": 3}
    model.load_resnet18_state_dict(wrapped)
    torch.testing.assert_close(model.stem.conv1.weight, state["conv1.weight"])
    with pytest.raises(ValueError, match="unknown keys"):
        model.load_resnet18_state_dict({**state, "features.0.weight": torch.zeros(1)})
    incomplete = {key: tensor for key, tensor in state.items() if not key.startswith("layer2.1.")}
    with pytest.raises(ValueError, match="lacks stem tensors"):
        model.load_resnet18_state_dict(incomplete)
    with pytest.raises(ValueError, match="Shape mismatch"):
        LogoFormerModel(tiny_config(stem_stage_depths=[2, 2, 2])).load_resnet18_state_dict(state)


# ----------------------------------------------------------------------------------------------------------------
# Save / load, initialisation of missing tensors, remote code
# ----------------------------------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(7)
    model = LogoFormerForVideoClassification(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    loaded = LogoFormerForVideoClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.window_size == [2, 2, 1] and loaded.config.num_frames == 5
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    pixel_values = torch.rand(1, 5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values).logits, model(pixel_values).logits)


def test_tensors_missing_from_a_checkpoint_are_initialised(tmp_path):
    model = LogoFormerForVideoClassification(
        tiny_config(num_frames=32, hidden_size=32, window_size=[2, 2, 2])
    )
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    missing = [
        "logo_former.embeddings.spatial_position_embeddings",
        "logo_former.embeddings.temporal_position_embeddings",
        "logo_former.encoder.layers.0.global_attention.summary.weight",
    ]
    save_file(
        {key: tensor for key, tensor in weights.items() if key not in missing},
        tmp_path / "model.safetensors",
        metadata={"format": "pt"},
    )
    loaded = LogoFormerForVideoClassification.from_pretrained(tmp_path)
    embeddings = loaded.logo_former.embeddings
    for table in (embeddings.spatial_position_embeddings, embeddings.temporal_position_embeddings):
        assert torch.isfinite(table).all()
        assert 0.01 < table.std() < 0.03  # truncated normal, std 0.02
    summary = loaded.logo_former.encoder.layers[0].global_attention.summary.weight
    assert 0.6 * (2 / 8) ** 0.5 < summary.std() < 1.4 * (2 / 8) ** 0.5


def register_like_the_package() -> None:
    """What `dfer.modeling` does for every model (repeated here so the test does not depend on that file)."""
    AutoConfig.register(LogoFormerConfig.model_type, LogoFormerConfig, exist_ok=True)
    AutoModel.register(LogoFormerConfig, LogoFormerModel, exist_ok=True)
    AutoModelForVideoClassification.register(
        LogoFormerConfig, LogoFormerForVideoClassification, exist_ok=True
    )
    LogoFormerConfig.register_for_auto_class()
    LogoFormerModel.register_for_auto_class("AutoModel")
    LogoFormerForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")


def test_auto_classes_load_a_saved_checkpoint_in_process(tmp_path):
    register_like_the_package()
    model = LogoFormerForVideoClassification(tiny_config(id2label={0: "calm", 1: "excited"})).eval()
    model.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"] == "modeling_logo_former.LogoFormerModel"
    assert (
        auto_map["AutoModelForVideoClassification"] == "modeling_logo_former.LogoFormerForVideoClassification"
    )
    assert isinstance(AutoConfig.from_pretrained(tmp_path), LogoFormerConfig)
    reloaded = AutoModelForVideoClassification.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, LogoFormerForVideoClassification)
    assert reloaded.config.id2label == {0: "calm", 1: "excited"}
    assert reloaded.classifier.out_features == 2
    assert isinstance(AutoModel.from_pretrained(tmp_path), LogoFormerModel)


def test_remote_code_round_trip_without_the_package(tmp_path):
    torch.manual_seed(8)
    register_like_the_package()
    model = LogoFormerForVideoClassification(tiny_config()).eval()
    folder = tmp_path / "checkpoint"
    model.save_pretrained(folder)
    assert (folder / "modeling_logo_former.py").is_file()
    assert (folder / "configuration_logo_former.py").is_file()
    assert "AutoModel" in json.loads((folder / "config.json").read_text())["auto_map"]

    pixel_values = torch.rand(2, 5, 3, 32, 32)
    torch.save(pixel_values, tmp_path / "inputs.pt")
    run_without_dfer(
        f"""
        import torch
        from transformers import AutoModel, AutoModelForVideoClassification

        pixel_values = torch.load({str(tmp_path / "inputs.pt")!r}, weights_only=True)
        classifier = AutoModelForVideoClassification.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        base = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert type(classifier).__module__.startswith("transformers_modules"), type(classifier).__module__
        assert type(base).__name__ == "LogoFormerModel"
        with torch.no_grad():
            outputs = {{"logits": classifier(pixel_values).logits, "pooled": base(pixel_values).pooler_output}}
        torch.save(outputs, {str(tmp_path / "outputs.pt")!r})
        """,
        cwd=tmp_path,
    )
    remote = torch.load(tmp_path / "outputs.pt", weights_only=True)
    with torch.no_grad():
        local = model(pixel_values)
    torch.testing.assert_close(remote["logits"], local.logits)
    torch.testing.assert_close(remote["pooled"], local.pooler_output)
