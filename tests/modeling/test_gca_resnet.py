import copy
import json

import pytest
import torch
from isolated_process import run_without_dfer
from safetensors.torch import load_file
from tiny_models import tiny_gca_resnet_config as tiny_config
from tiny_models import tiny_logo_former_config
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

import dfer.modeling  # (registers the Auto classes)
from dfer.modeling import (
    GcaResNetConfig,
    GcaResNetForVideoClassification,
    GcaResNetModel,
    LogoFormerForVideoClassification,
)
from dfer.modeling.gca_resnet import DFEW_LABELS
from dfer.modeling.gca_resnet.modeling_gca_resnet import GcaResNetConvLayer, eager_attention_forward


def randomised_batch_norm(model):
    """BatchNorm statistics and affine parameters away from their initial values, so that folding them matters."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                for tensor, low, high in [
                    (module.running_mean, -0.5, 0.5),
                    (module.running_var, 0.5, 2.0),
                    (module.weight, 0.5, 1.5),
                    (module.bias, -0.5, 0.5),
                ]:
                    tensor.copy_(torch.empty(tensor.shape).uniform_(low, high, generator=generator))
    return model


def clips(config: GcaResNetConfig, batch_size: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, config.num_frames, config.num_channels, config.image_size, config.image_size)
    return torch.rand(shape, generator=generator)


def test_default_config_is_the_released_network():
    config = GcaResNetConfig()
    assert config.num_frames == 16 and config.image_size == 112
    assert config.temporal_hidden_size == 4096
    assert config.stage_map_sizes == [28, 14, 7]
    assert [config.id2label[i] for i in range(7)] == list(DFEW_LABELS)
    assert config.label2id["Fear"] == 6
    model = GcaResNetForVideoClassification(config)
    assert sum(p.numel() for p in model.parameters()) == 18_936_775
    assert len(model.auxiliary_classifiers) == 2


@pytest.mark.parametrize("num_frames", [2, 3, 7])
def test_any_number_of_frames_from_two(num_frames):
    config = tiny_config(num_frames=num_frames)
    model = GcaResNetForVideoClassification(config).eval()
    outputs = model(clips(config))
    assert outputs.logits.shape == (2, 7)
    assert [aux.shape for aux in outputs.auxiliary_logits] == [(2, 7), (2, 7)]
    assert outputs.pooler_output.shape == (2, config.temporal_hidden_size)


def test_clips_are_independent_in_a_batch():
    # GCA averages over the frames of one clip: a batch must never mix clips.
    config = tiny_config()
    model = GcaResNetForVideoClassification(config).eval()
    pixel_values = clips(config, batch_size=3)
    together = model(pixel_values).logits
    alone = torch.cat([model(pixel_values[i : i + 1]).logits for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_labels_give_cross_entropy():
    config = tiny_config()
    model = GcaResNetForVideoClassification(config).eval()
    labels = torch.tensor([3, 6])
    outputs = model(clips(config), labels=labels)
    torch.testing.assert_close(outputs.loss, torch.nn.functional.cross_entropy(outputs.logits, labels))


def test_hidden_states_and_attentions_on_request():
    config = tiny_config()
    model = GcaResNetForVideoClassification(config).eval()
    model.set_attn_implementation("eager")
    outputs = model(clips(config), output_hidden_states=True, output_attentions=True)
    steps = config.num_frames - 1
    assert len(outputs.hidden_states) == config.temporal_num_hidden_layers + 1
    assert all(h.shape == (2, steps, config.temporal_hidden_size) for h in outputs.hidden_states)
    assert len(outputs.attentions) == config.temporal_num_hidden_layers
    attention = outputs.attentions[0]
    assert attention.shape == (2, config.temporal_num_attention_heads, steps, steps)
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, config.temporal_num_attention_heads, steps))
    # The clip feature is the time-mean of the last recorded state.
    torch.testing.assert_close(outputs.hidden_states[-1].mean(1), outputs.pooler_output)
    plain = model(clips(config))
    assert plain.hidden_states is None and plain.attentions is None


def test_sdpa_and_eager_agree():
    config = tiny_config()
    model = GcaResNetForVideoClassification(config).eval()
    assert model.config._attn_implementation == "sdpa"
    sdpa_logits = model(clips(config)).logits
    model.set_attn_implementation("eager")
    torch.testing.assert_close(model(clips(config)).logits, sdpa_logits, rtol=1e-5, atol=1e-5)


def test_training_step_reaches_every_parameter():
    config = tiny_config()
    model = GcaResNetForVideoClassification(config).train()
    model.activation_checkpointing_enable()
    outputs = model(clips(config), labels=torch.tensor([0, 1]))
    loss = outputs.loss + sum(aux.sum() for aux in outputs.auxiliary_logits)
    loss.backward()
    without_grad = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert without_grad == []


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda c: torch.rand(c.num_frames, 3, c.image_size, c.image_size), "must have shape"),
        (lambda c: torch.rand(1, c.num_frames, 1, c.image_size, c.image_size), "must have shape"),
        (lambda c: torch.rand(1, c.num_frames + 1, 3, c.image_size, c.image_size), "must have shape"),
        (lambda c: torch.rand(1, c.num_frames, 3, c.image_size + 2, c.image_size), "must have shape"),
        (lambda c: torch.zeros(1, c.num_frames, 3, c.image_size, c.image_size, dtype=torch.uint8), "floating-point"),
    ],
)
def test_bad_pixel_values_raise_with_expected_shape(make_input, message):
    config = tiny_config()
    model = GcaResNetForVideoClassification(config).eval()
    with pytest.raises(ValueError, match=message) as error:
        model(make_input(config))
    assert f"(batch_size, {config.num_frames}, 3, 32, 32)" in str(error.value)


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="num_frames"):
        GcaResNetConfig(num_frames=1)
    with pytest.raises(ValueError, match="one entry per spatial stage"):
        GcaResNetConfig(hidden_sizes=[64, 128], depths=[1, 1, 1])


def test_save_and_load_with_auto_classes(tmp_path):
    config = tiny_config(id2label={0: "calm", 1: "excited"})
    model = GcaResNetForVideoClassification(config).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"]["AutoModel"].endswith("GcaResNetModel")
    assert saved["auto_map"]["AutoModelForVideoClassification"].endswith("GcaResNetForVideoClassification")

    assert isinstance(AutoConfig.from_pretrained(tmp_path), GcaResNetConfig)
    reloaded = AutoModelForVideoClassification.from_pretrained(tmp_path).eval()
    assert reloaded.config.id2label == {0: "calm", 1: "excited"}
    pixel_values = clips(config)
    torch.testing.assert_close(reloaded(pixel_values).logits, model(pixel_values).logits)
    # Buffers too (BatchNorm statistics) must come back, not be re-initialised.
    for name, buffer in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], buffer, msg=name)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert isinstance(backbone, GcaResNetModel)


def test_checkpoint_loads_as_remote_code_without_dfer(tmp_path):
    config = tiny_config()
    model = GcaResNetForVideoClassification(config).eval()
    checkpoint = tmp_path / "checkpoint"
    model.save_pretrained(checkpoint)
    pixel_values = clips(config)
    torch.save(pixel_values, tmp_path / "input.pt")
    expected = model(pixel_values).logits

    stdout = run_without_dfer(
        """
        import torch
        from transformers import AutoModel, AutoModelForVideoClassification
        model = AutoModelForVideoClassification.from_pretrained("checkpoint", trust_remote_code=True).eval()
        assert "dfer" not in type(model).__module__.split(".")[0]
        backbone = AutoModel.from_pretrained("checkpoint", trust_remote_code=True)
        with torch.no_grad():
            logits = model(torch.load("input.pt", weights_only=True)).logits
        print(type(model).__name__, type(backbone).__name__)
        print(logits.tolist())
        """,
        cwd=tmp_path,
    )
    names, logits = stdout.strip().splitlines()[-2:]
    assert names == "GcaResNetForVideoClassification GcaResNetModel"
    torch.testing.assert_close(torch.tensor(json.loads(logits)), expected, rtol=1e-5, atol=1e-5)


def conv_layer_with_batch_norm_statistics() -> GcaResNetConvLayer:
    layer = GcaResNetConvLayer(tiny_config(), 3, 8, stride=2)
    with torch.no_grad():
        layer.normalization.running_mean.uniform_(-1, 1)
        layer.normalization.running_var.uniform_(0.5, 2)
        layer.normalization.weight.uniform_(0.5, 1.5)
        layer.normalization.bias.uniform_(-1, 1)
    return layer.eval()


def test_inference_folds_batch_norm_without_changing_the_result():
    layer = conv_layer_with_batch_norm_statistics()
    frames = torch.rand(2, 3, 16, 16)

    def unfolded():
        return torch.relu(layer.normalization(layer.convolution(frames)))

    # Not fused until asked: eval mode alone is convolution + BatchNorm.
    assert not layer.is_batch_norm_fused
    torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
    layer.fuse_batch_norm()
    assert layer.is_batch_norm_fused
    torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)  # folded on the fly (autograd)
    with torch.no_grad():  # the precomputed folded weights
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        # Weights changed in place (an optimiser step by hand): as documented, fuse again.
        layer.normalization.running_var.mul_(3)
        layer.convolution.weight.add_(0.1)
        layer.fuse_batch_norm()
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        # A training-mode pass moves the running statistics: train() undoes the fusion, so the result is right
        # before and after fusing again.
        layer.train()
        assert not layer.is_batch_norm_fused
        layer(torch.rand(4, 3, 16, 16) * 3)
        layer.eval()
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        layer.fuse_batch_norm()
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        # The BatchNorm switched to training mode on its own, then run through the layer: the fusion is dropped.
        layer.normalization.train()
        layer(torch.rand(4, 3, 16, 16) * 5)
        layer.normalization.eval()
        assert not layer.is_batch_norm_fused
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        # Statistics moved by running the BatchNorm submodule by hand: as documented, fuse again.
        layer.fuse_batch_norm()
        layer.normalization.train()
        layer.normalization(torch.rand(4, 8, 8, 8) * 5)
        layer.normalization.eval()
        layer.fuse_batch_norm()
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
    with torch.inference_mode():
        fresh = GcaResNetConvLayer(tiny_config(), 3, 8).eval()  # inference tensors
        fresh.fuse_batch_norm()
        torch.testing.assert_close(fresh(frames), torch.relu(fresh.normalization(fresh.convolution(frames))))


def test_fused_model_gives_the_unfused_outputs():
    config = tiny_config()
    model = randomised_batch_norm(GcaResNetForVideoClassification(config)).eval()
    pixel_values = clips(config)
    with torch.no_grad():
        unfused = model(pixel_values)
        assert model.fuse_batch_norm() is model and model.is_batch_norm_fused
        fused = model(pixel_values)
    torch.testing.assert_close(fused.logits, unfused.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused.pooler_output, unfused.pooler_output, rtol=1e-5, atol=1e-5)
    for fused_aux, unfused_aux in zip(fused.auxiliary_logits, unfused.auxiliary_logits, strict=True):
        torch.testing.assert_close(fused_aux, unfused_aux, rtol=1e-5, atol=1e-5)
    # The base model has the step too.
    backbone = model.gca_resnet.unfuse_batch_norm().fuse_batch_norm()
    assert isinstance(backbone, GcaResNetModel) and model.is_batch_norm_fused


def test_fused_model_in_eval_mode_still_has_parameter_gradients():
    config = tiny_config()
    model = randomised_batch_norm(GcaResNetForVideoClassification(config)).eval()
    pixel_values, labels = clips(config), torch.tensor([0, 1])

    def gradients():
        model.zero_grad()
        model(pixel_values, labels=labels).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    unfused = gradients()
    model.fuse_batch_norm()
    fused = gradients()
    assert fused.keys() == unfused.keys()
    assert "gca_resnet.spatial_encoder.stem.conv1.convolution.weight" in fused
    for name, grad in unfused.items():
        torch.testing.assert_close(fused[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_fusing_changes_neither_the_state_dict_nor_the_checkpoint(tmp_path):
    config = tiny_config()
    model = randomised_batch_norm(GcaResNetForVideoClassification(config)).eval()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    model.fuse_batch_norm()
    after = model.state_dict()
    assert list(after) == list(before)
    for name, tensor in before.items():
        torch.testing.assert_close(after[name], tensor, rtol=0, atol=0, msg=name)

    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert set(saved) == set(before)  # convolution and BatchNorm tensors, nothing folded
    for name, tensor in saved.items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0, msg=name)
    reloaded = GcaResNetForVideoClassification.from_pretrained(tmp_path).eval()
    assert not reloaded.is_batch_norm_fused
    pixel_values = clips(config)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(pixel_values).logits, model(pixel_values).logits, rtol=1e-5, atol=1e-5)


def test_train_undoes_fusion_and_eval_keeps_it():
    config = tiny_config()
    model = randomised_batch_norm(GcaResNetForVideoClassification(config)).eval()
    reference = copy.deepcopy(model).train()
    model.fuse_batch_norm()
    model.eval()  # what Trainer.predict / evaluate call
    assert model.is_batch_norm_fused
    model.train()
    assert not model.is_batch_norm_fused
    # Training mode normalises with batch statistics again, exactly as a model that was never fused.
    pixel_values = clips(config)
    torch.testing.assert_close(model(pixel_values).logits, reference(pixel_values).logits)
    # Fusing is refused in training mode, with what to do.
    with pytest.raises(RuntimeError, match=r"needs eval mode.*model\.eval\(\)"):
        model.fuse_batch_norm()


def test_loading_a_state_dict_into_a_fused_model_fuses_the_new_weights():
    config = tiny_config()
    torch.manual_seed(1)
    model = randomised_batch_norm(GcaResNetForVideoClassification(config)).eval().fuse_batch_norm()
    torch.manual_seed(2)
    other = randomised_batch_norm(GcaResNetForVideoClassification(config)).eval()
    pixel_values = clips(config)
    with torch.no_grad():
        expected = other(pixel_values).logits
        assert not torch.allclose(model(pixel_values).logits, expected)
        model.load_state_dict(other.state_dict())
        assert model.is_batch_norm_fused
        torch.testing.assert_close(model(pixel_values).logits, expected, rtol=1e-5, atol=1e-5)


def test_dtype_casts_fold_again_from_the_converted_weights():
    config = tiny_config()
    model = randomised_batch_norm(GcaResNetForVideoClassification(config)).eval()
    pixel_values = clips(config).double()
    with torch.no_grad():
        expected = copy.deepcopy(model).double()(pixel_values).logits
        model.fuse_batch_norm().double()
        assert model.is_batch_norm_fused
        # Exact in float64, not float32-folded weights cast up.
        torch.testing.assert_close(model(pixel_values).logits, expected, rtol=0, atol=1e-10)


def test_package_fusing_step_applies_where_supported():
    gca = GcaResNetForVideoClassification(tiny_config()).eval()
    assert dfer.modeling.fuse_batch_norm(gca) is gca and gca.is_batch_norm_fused
    logo = LogoFormerForVideoClassification(tiny_logo_former_config()).eval()
    assert dfer.modeling.fuse_batch_norm(logo) is logo  # no BatchNorm fusion: unchanged


def test_labels_follow_the_problem_type():
    config = tiny_config(problem_type="multi_label_classification")
    model = GcaResNetForVideoClassification(config).eval()
    targets = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    outputs = model(clips(config), labels=targets)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(outputs.logits, targets)
    torch.testing.assert_close(outputs.loss, expected)
    model.config.problem_type = "regression"
    outputs = model(clips(config), labels=targets)
    torch.testing.assert_close(outputs.loss, torch.nn.functional.mse_loss(outputs.logits, targets))


def test_eager_attention_softmax_runs_in_float32(monkeypatch):
    # CPU softmax kernels accumulate half-precision inputs in float32 anyway, so the request is checked directly.
    calls, softmax = [], torch.nn.functional.softmax

    def recording_softmax(scores, *args, **kwargs):
        calls.append((scores.dtype, kwargs.get("dtype")))
        return softmax(scores, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "softmax", recording_softmax)
    module = torch.nn.Module().eval()
    generator = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(2, 2, 5, 8, generator=generator).bfloat16() for _ in range(3))
    context, probs = eager_attention_forward(module, query, key, value, None, scaling=8**-0.5)
    assert calls == [(torch.bfloat16, torch.float32)]
    assert probs.dtype == context.dtype == torch.bfloat16
    scores = torch.matmul(query, key.transpose(-1, -2)) * 8**-0.5
    torch.testing.assert_close(probs, softmax(scores.float(), dim=-1).bfloat16(), rtol=0, atol=0)
