"""The bfloat16 inference path (dfer.modeling.inference_precision): agreement with float32 within the tolerance
the package states (top-1 unchanged, probabilities within 0.02), folding in float32 arithmetic, and the float32
fallback where the device has no native bfloat16."""

import copy
import logging

import pytest
import torch
from tiny_models import tiny_gca_resnet_config, tiny_logo_former_config
from transformers import pipeline

from dfer.modeling import (
    GcaResNetForVideoClassification,
    LogoFormerForVideoClassification,
    inference_precision,
    prepare_for_inference,
    resolve_inference_dtype,
)
from dfer.modeling.gca_resnet.modeling_gca_resnet import GcaResNetConvLayer

PROBABILITY_TOLERANCE = 0.02
MODELS = {
    "gca_resnet": lambda: GcaResNetForVideoClassification(tiny_gca_resnet_config()),
    "logo_former": lambda: LogoFormerForVideoClassification(tiny_logo_former_config()),
}


def trained_looking(model):
    """Moved BatchNorm statistics and a sharper classifier, so that the float32 answers are confident (a fresh
    model's near-uniform probabilities would agree with anything)."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.3, 0.3, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
        model.classifier.weight.mul_(8.0)
    return model


def clips(config, count=12):
    generator = torch.Generator().manual_seed(1)
    return torch.rand(count, config.num_frames, 3, config.image_size, config.image_size, generator=generator)


@pytest.mark.parametrize("name", MODELS)
def test_bfloat16_keeps_the_float32_answers(name):
    torch.manual_seed(0)
    model = trained_looking(MODELS[name]()).eval()
    pixel_values = clips(model.config)
    with torch.inference_mode():
        reference = model(pixel_values).logits.softmax(-1)
        fast = prepare_for_inference(copy.deepcopy(model), torch.bfloat16)
        assert fast.dtype == torch.bfloat16 and not fast.training
        logits = fast(pixel_values.to(torch.bfloat16)).logits
    assert logits.dtype == torch.bfloat16
    probabilities = logits.float().softmax(-1)
    # Far from uniform answers, so that the agreement below means something.
    assert reference.max(-1).values.mean() > 2 / reference.shape[-1]
    assert (probabilities - reference).abs().max() <= PROBABILITY_TOLERANCE
    top_two = reference.topk(2, dim=-1).values
    clear = top_two[:, 0] - top_two[:, 1] > 2 * PROBABILITY_TOLERANCE  # ties may go either way in any dtype
    assert clear.sum() >= len(clear) // 2
    assert torch.equal(probabilities.argmax(-1)[clear], reference.argmax(-1)[clear])


def test_a_bfloat16_model_rounds_the_float32_batch_norm_fold_once():
    torch.manual_seed(0)
    model = trained_looking(GcaResNetForVideoClassification(tiny_gca_resnet_config())).eval()
    fast = prepare_for_inference(copy.deepcopy(model), torch.bfloat16)
    layers = [module for module in fast.modules() if isinstance(module, GcaResNetConvLayer)]
    assert layers and all(layer.is_batch_norm_fused for layer in layers)
    float32_layers = [module for module in model.modules() if isinstance(module, GcaResNetConvLayer)]
    for layer, original in zip(layers, float32_layers, strict=True):
        weight, bias = layer._fused_weight_and_bias
        assert weight.dtype == bias.dtype == torch.bfloat16
        # The float32 fold of the float32 tensors, rounded once: not a fold of tensors already rounded to bfloat16.
        expected_weight, expected_bias = (tensor.to(torch.bfloat16) for tensor in original.folded_weight_and_bias())
        assert torch.equal(weight, expected_weight) and torch.equal(bias, expected_bias)


def test_bfloat16_falls_back_to_float32_with_one_warning_where_it_is_not_native(monkeypatch, caplog):
    monkeypatch.setattr(inference_precision, "supports_native_bfloat16", lambda device: False)
    with caplog.at_level(logging.WARNING, logger="dfer.modeling.inference_precision"):
        assert resolve_inference_dtype("bfloat16", torch.device("cpu")) == torch.float32
    assert len(caplog.records) == 1 and "no native bfloat16" in caplog.records[0].getMessage()
    monkeypatch.setattr(inference_precision, "supports_native_bfloat16", lambda device: True)
    assert resolve_inference_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    assert resolve_inference_dtype(torch.float32, torch.device("cpu")) == torch.float32


def test_native_bfloat16_on_a_cpu_means_the_bfloat16_instructions_not_avx512_alone(monkeypatch):
    # Skylake to Ice Lake: AVX-512 (which oneDNN's own check asks for) but neither AVX-512 BF16 nor AMX.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert not inference_precision.supports_native_bfloat16(torch.device("cpu"))
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)  # Sapphire Rapids
    assert inference_precision.supports_native_bfloat16(torch.device("cpu"))
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)  # Cooper Lake, Zen 4
    assert inference_precision.supports_native_bfloat16(torch.device("cpu"))
    assert not inference_precision.supports_native_bfloat16(torch.device("meta"))


@pytest.mark.parametrize("name", ["float16", "int8", "fp32"])
def test_other_dtypes_are_refused_by_name(name):
    with pytest.raises(ValueError, match=rf"--dtype {name}: inference runs in one of float32, bfloat16"):
        resolve_inference_dtype(name, torch.device("cpu"))


def test_the_pipeline_runs_a_bfloat16_model(tiny_checkpoint, tmp_path):
    from face_videos import write_face_video

    video = tmp_path / "talk.mp4"
    write_face_video(video, 1.0)
    reference = pipeline("video-classification", model=str(tiny_checkpoint))(str(video), top_k=7)
    classifier = pipeline("video-classification", model=str(tiny_checkpoint), dtype=torch.bfloat16)
    assert classifier.model.dtype == torch.bfloat16
    fast = classifier(str(video), top_k=7)
    scores = {result["label"]: result["score"] for result in reference}
    assert {result["label"] for result in fast} == set(scores)
    assert all(abs(result["score"] - scores[result["label"]]) <= PROBABILITY_TOLERANCE for result in fast)
