import subprocess
import sys
from pathlib import Path

import pytest
import torch
from official_ial_weights import build_official_state_dict, load_reference, reference_input

from dfer.modeling import GcaResNetForVideoClassification
from dfer.modeling.gca_resnet.convert_ial_checkpoint import convert_ial_checkpoint, convert_ial_state_dict

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "convert_ial_checkpoint.py"


@pytest.fixture(scope="module")
def reference():
    return load_reference()


@pytest.fixture(scope="module")
def official_state_dict(reference):
    return build_official_state_dict(reference)


def assert_matches_official_outputs(model, reference):
    model = model.double().eval()
    with torch.no_grad():
        outputs = model(reference_input(reference))
    expected = {key: torch.tensor(value, dtype=torch.float64) for key, value in reference["expected"].items()}
    tolerance = dict(rtol=0, atol=1e-6)
    torch.testing.assert_close(outputs.logits, expected["logits"], **tolerance)
    torch.testing.assert_close(outputs.auxiliary_logits[0], expected["aux_logits_layer2"], **tolerance)
    torch.testing.assert_close(outputs.auxiliary_logits[1], expected["aux_logits_layer3"], **tolerance)
    torch.testing.assert_close(outputs.pooler_output[:, :8], expected["pooled_feature_first8"], **tolerance)
    # The fixture's norms carry ~1e-8 relative rounding of their own (1e-6 absolute on a norm of 144).
    torch.testing.assert_close(outputs.pooler_output.norm(dim=1), expected["pooled_feature_l2norm"], rtol=1e-8, atol=0)


def test_converted_weights_reproduce_the_official_network(reference, official_state_dict):
    result = convert_ial_state_dict(official_state_dict)
    assert len(result.dropped_keys) == 15
    assert result.dropped_parameters == 146_752
    model = GcaResNetForVideoClassification._from_config(GcaResNetForVideoClassification.config_class())
    model.load_state_dict(result.state_dict, strict=True)
    assert sum(p.numel() for p in model.parameters()) == 18_936_775
    assert_matches_official_outputs(model, reference)


def test_fused_converted_model_reproduces_the_official_network_and_saves_unfused(
    tmp_path, reference, official_state_dict
):
    result = convert_ial_state_dict(official_state_dict)
    model = GcaResNetForVideoClassification._from_config(GcaResNetForVideoClassification.config_class())
    model.load_state_dict(result.state_dict, strict=True)
    model.eval().fuse_batch_norm()
    assert_matches_official_outputs(model, reference)  # (casts to float64, which folds again in float64)
    assert model.is_batch_norm_fused
    model.save_pretrained(tmp_path)
    reloaded = GcaResNetForVideoClassification.from_pretrained(tmp_path, dtype=torch.float64)
    assert set(reloaded.state_dict()) == set(result.state_dict)
    assert_matches_official_outputs(reloaded, reference)


def test_script_converts_a_wrapped_checkpoint_file(tmp_path, reference, official_state_dict):
    # The harder of the accepted forms: nn.DataParallel's `module.` prefix, inside {"state_dict": ...}.
    checkpoint = tmp_path / "official.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in official_state_dict.items()}, "epoch": 3}, checkpoint)
    output = tmp_path / "converted"
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--checkpoint", str(checkpoint), "--output", str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "dropped 15 tensors (146,752 parameters)" in completed.stdout
    model = GcaResNetForVideoClassification.from_pretrained(output, dtype=torch.float64)
    assert_matches_official_outputs(model, reference)


def test_plain_file_through_the_library_function(tmp_path, official_state_dict):
    checkpoint = tmp_path / "plain.pth"
    torch.save(official_state_dict, checkpoint)
    result = convert_ial_checkpoint(checkpoint, tmp_path / "out")
    assert result.dropped_parameters == 146_752
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert (tmp_path / "out" / "modeling_gca_resnet.py").is_file()  # remote code travels with it


def test_unexpected_and_missing_keys_are_errors(official_state_dict):
    extra = dict(official_state_dict, **{"s_former.layer5.0.conv1.weight": torch.zeros(1)})
    with pytest.raises(KeyError, match=r"1 unexpected key\(s\) \['s_former.layer5.0.conv1.weight'\], 0 missing"):
        convert_ial_state_dict(extra)
    partial = {k: v for k, v in official_state_dict.items() if k != "fc_f.bias"}
    with pytest.raises(KeyError, match=r"0 unexpected key\(s\) \[\], 1 missing key\(s\) \['classifier.bias'\]"):
        convert_ial_state_dict(partial)


def test_missing_file_and_non_state_dict(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        convert_ial_checkpoint(tmp_path / "nope.pth", tmp_path / "out")
    not_a_dict = tmp_path / "list.pth"
    torch.save([1, 2], not_a_dict)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        convert_ial_checkpoint(not_a_dict, tmp_path / "out")


class NotATensor:
    """An arbitrary object: unpickling it would run code, so `torch.load(weights_only=True)` refuses it."""


def test_checkpoints_that_cannot_be_read_are_value_errors_naming_the_file(tmp_path, official_state_dict):
    pickled = tmp_path / "object.pth"
    torch.save({"state_dict": NotATensor()}, pickled)
    with pytest.raises(ValueError, match=r"object\.pth holds more than tensors \(refused by torch\.load\(weights_only"):
        convert_ial_checkpoint(pickled, tmp_path / "out")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pth is not a PyTorch checkpoint that can be read \(the file is empty\)"):
        convert_ial_checkpoint(tmp_path / "empty.pth", tmp_path / "out")
    (tmp_path / "junk.pth").write_bytes(b"these bytes are no checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth is not a PyTorch checkpoint"):
        convert_ial_checkpoint(tmp_path / "junk.pth", tmp_path / "out")
    good = tmp_path / "good.pth"
    torch.save(official_state_dict, good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:5000])  # an interrupted download
    with pytest.raises(ValueError, match=r"cut\.pth is not a PyTorch checkpoint that can be read \(\w+Error: "):
        convert_ial_checkpoint(tmp_path / "cut.pth", tmp_path / "out")
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ValueError, match=r"The output .*taken is a file"):
        convert_ial_checkpoint(good, tmp_path / "taken")  # transformers would only log and write nothing
    assert not (tmp_path / "out").exists()


def test_convert_command_reports_one_error_line(tmp_path, capsys):
    from dfer.cli import main

    pickled = tmp_path / "object.pth"
    torch.save(NotATensor(), pickled)
    assert main(["convert", "--checkpoint", str(pickled), "--output", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dfer convert: error: {pickled} holds more than tensors")
    (tmp_path / "empty.pth").write_bytes(b"")
    assert main(["convert", "--checkpoint", str(tmp_path / "empty.pth"), "--output", str(tmp_path / "out")]) == 2
    assert "the file is empty" in capsys.readouterr().err
