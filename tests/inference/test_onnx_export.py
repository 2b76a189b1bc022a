"""`dfer export --format onnx` (dfer.inference.onnx_export): both models run in onnxruntime at batch sizes 1, 3
and 8 with PyTorch's logits, the preprocessing written beside them reproduces the processor's, and a failed export
leaves nothing behind."""

import json
import sys

import numpy as np
import pytest
import torch
from face_videos import write_face_video
from isolated_process import run_without_dfer
from tiny_models import tiny_logo_former_config
from transformers import AutoModelForVideoClassification

from dfer.cli import main
from dfer.inference import onnx_export
from dfer.modeling import LogoFormerForVideoClassification
from dfer.processing import DferVideoProcessor

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def logo_former_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logo_former_checkpoint")
    torch.manual_seed(0)
    LogoFormerForVideoClassification(tiny_logo_former_config()).save_pretrained(folder)
    DferVideoProcessor(num_frames=5, size={"height": 32, "width": 32}, sampler="uniform").save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, logo_former_checkpoint, tmp_path_factory):
    """name -> (checkpoint folder, export folder), exported through the command."""
    folders = {}
    for name, checkpoint in [("gca_resnet", tiny_checkpoint), ("logo_former", logo_former_checkpoint)]:
        output = tmp_path_factory.mktemp(f"{name}_onnx")
        assert main(["export", "--model", str(checkpoint), "--format", "onnx", "--output", str(output)]) == 0
        folders[name] = (checkpoint, output)
    return folders


def load_model(checkpoint):
    return AutoModelForVideoClassification.from_pretrained(checkpoint).eval()


@pytest.mark.parametrize("name", ["gca_resnet", "logo_former"])
def test_the_onnx_model_runs_any_batch_size_with_pytorchs_logits(exported, name):
    checkpoint, output = exported[name]
    model = load_model(checkpoint)
    session = onnxruntime.InferenceSession(str(output / "model.onnx"), providers=["CPUExecutionProvider"])
    (batch_dimension, *clip_shape) = session.get_inputs()[0].shape
    assert isinstance(batch_dimension, str) and clip_shape == [model.config.num_frames, 3, 32, 32]
    generator = torch.Generator().manual_seed(7)
    for batch_size in (1, 3, 8):
        pixel_values = torch.rand(batch_size, *clip_shape, generator=generator)
        with torch.no_grad():
            expected = model(pixel_values).logits.numpy()
        (logits,) = session.run(["logits"], {"pixel_values": pixel_values.numpy()})
        assert logits.shape == expected.shape
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)


def test_the_preprocessing_beside_the_model_reproduces_the_processors(exported, tmp_path):
    checkpoint, output = exported["logo_former"]
    description = json.loads((output / "preprocessing.json").read_text())
    assert description["input"]["shape"] == ["batch_size", 5, 3, 32, 32]
    assert description["frames"] == {
        "num_frames": 5,
        "sampler": "uniform",
        "evaluation_indices": onnx_export._SAMPLER_FORMULAS["uniform"],
        "shorter_clips": "n < T frames: slot k gets frame k * n // T",
    }
    assert description["labels"] == [load_model(checkpoint).config.id2label[i] for i in range(7)]
    assert description["rescale_factor"] == pytest.approx(1 / 255) and description["normalize"] is None

    video = tmp_path / "talk.mp4"
    write_face_video(video, 1.0)
    # The exported folder's own processor (remote code, loaded as an ONNX user without dfer loads it) gives the
    # checkpoint's pixel values, and the ONNX model gives PyTorch's logits on them: the README's recipe.
    run_without_dfer(
        f"""
        import numpy, onnxruntime
        from transformers.models.auto.video_processing_auto import AutoVideoProcessor
        processor = AutoVideoProcessor.from_pretrained({str(output)!r}, trust_remote_code=True)
        assert type(processor).__module__.startswith("transformers_modules")
        pixel_values = processor({str(video)!r}, return_tensors="np")["pixel_values"].astype("float32")
        session = onnxruntime.InferenceSession({str(output / "model.onnx")!r}, providers=["CPUExecutionProvider"])
        (logits,) = session.run(["logits"], {{"pixel_values": pixel_values}})
        numpy.savez("outputs.npz", pixel_values=pixel_values, logits=logits)
        """,
        cwd=tmp_path,
    )
    outputs = np.load(tmp_path / "outputs.npz")
    reference = DferVideoProcessor.from_pretrained(checkpoint)(str(video), return_tensors="pt")["pixel_values"]
    np.testing.assert_array_equal(outputs["pixel_values"], reference.numpy())
    with torch.no_grad():
        expected = load_model(checkpoint)(reference).logits.numpy()
    np.testing.assert_allclose(outputs["logits"], expected, atol=1e-4, rtol=1e-4)
    # The frame formula written down is the sampler's.
    from dfer.processing.frame_sampling import uniform_indices

    assert uniform_indices(23, 5, training=False) == [min(int((k + 0.5) * 23 / 5), 22) for k in range(5)]
    from dfer.processing import sample_frame_indices

    assert sample_frame_indices(3, 5, "uniform") == [k * 3 // 5 for k in range(5)]


def test_an_export_that_does_not_match_pytorch_leaves_nothing_behind(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    output = tmp_path / "exported"
    monkeypatch.setattr(onnx_export, "LOGIT_TOLERANCE", -1.0)  # no export can pass: the check fails
    assert main(["export", "--model", str(tiny_checkpoint), "--output", str(output)]) == 2
    printed = capsys.readouterr().err
    error = [line for line in printed.splitlines() if line.startswith("dfer export")]
    assert len(error) == 1 and error[0].startswith("dfer export: error:") and "differ from PyTorch's" in error[0]
    assert "Traceback" not in printed
    assert not output.exists()  # no model.onnx, no preprocessing, no staging folder, not even the folder

    output.mkdir()  # an empty folder that was there stays, empty
    assert main(["export", "--model", str(tiny_checkpoint), "--output", str(output)]) == 2
    assert output.is_dir() and list(output.iterdir()) == []


@pytest.mark.parametrize("arguments, message", [(["--opset", "9"], "--opset 9: torch's exporter writes opsets 18 to")])
def test_settings_out_of_range_are_refused_before_the_model_loads(tiny_checkpoint, tmp_path, capsys, arguments, message):
    assert main(["export", "--model", str(tiny_checkpoint), "--output", str(tmp_path / "out"), *arguments]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_an_export_never_writes_over_other_files(tiny_checkpoint, capsys):
    # Into the checkpoint's own folder: its config, model card and processor stay as they are.
    before = {path.name: path.read_bytes() for path in tiny_checkpoint.iterdir()}
    assert main(["export", "--model", str(tiny_checkpoint), "--output", str(tiny_checkpoint)]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dfer export")]
    assert error == [
        f"dfer export: error: the output folder {tiny_checkpoint} is not empty; pass a new or empty folder with "
        "--output (an export never writes over other files)."
    ]
    assert {path.name: path.read_bytes() for path in tiny_checkpoint.iterdir()} == before


def test_a_failing_exporter_is_one_error_line_and_nothing_written(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    def broken_export(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    output = tmp_path / "exported"
    assert main(["export", "--model", str(tiny_checkpoint), "--output", str(output)]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dfer export")]
    assert error == [f"dfer export: error: torch.onnx.export failed for {tiny_checkpoint}: RuntimeError: unsupported operator"]
    assert not output.exists()


def test_without_onnxruntime_the_command_says_what_to_install(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["export", "--model", str(tiny_checkpoint), "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "needs onnx, onnxscript and onnxruntime (onnxruntime is missing)" in error and "dfer[export]" in error
    assert not (tmp_path / "out").exists()  # checked before anything is loaded or created
