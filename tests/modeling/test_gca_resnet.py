import json

import pytest
import torch
from isolated_process import run_without_dfer
from tiny_models import tiny_gca_resnet_config as tiny_config
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

import dfer.modeling  # noqa: F401  (registers the Auto classes)
from dfer.modeling import GcaResNetConfig, GcaResNetForVideoClassification, GcaResNetModel
from dfer.modeling.gca_resnet import DFEW_LABELS


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


def test_inference_folds_batch_norm_without_changing_the_result():
    from dfer.modeling.gca_resnet.modeling_gca_resnet import GcaResNetConvLayer

    layer = GcaResNetConvLayer(tiny_config(), 3, 8, stride=2)
    with torch.no_grad():
        layer.normalization.running_mean.uniform_(-1, 1)
        layer.normalization.running_var.uniform_(0.5, 2)
        layer.normalization.weight.uniform_(0.5, 1.5)
        layer.normalization.bias.uniform_(-1, 1)
    layer.eval()
    frames = torch.rand(2, 3, 16, 16)

    def unfolded():
        return torch.relu(layer.normalization(layer.convolution(frames)))

    torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # the cached path
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        # Weights changed in place (an optimiser step, load_state_dict) invalidate the cache.
        layer.normalization.running_var.mul_(3)
        layer.convolution.weight.add_(0.1)
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        # A training-mode pass moves the running statistics (without an optimiser step).
        layer.train()
        layer(torch.rand(4, 3, 16, 16) * 3)
        layer.eval()
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
        # Statistics moved while the cache is warm and no mode switch happens in between.
        layer.normalization.train()
        layer.normalization(torch.rand(4, 8, 8, 8) * 5)
        layer.normalization.eval()
        torch.testing.assert_close(layer(frames), unfolded(), rtol=1e-5, atol=1e-5)
    with torch.inference_mode():
        fresh = GcaResNetConvLayer(tiny_config(), 3, 8).eval()  # inference tensors: no version counter
        torch.testing.assert_close(fresh(frames), torch.relu(fresh.normalization(fresh.convolution(frames))))
