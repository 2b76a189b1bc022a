"""A checkpoint as an ONNX model for runtimes without PyTorch: `model.onnx` (input `pixel_values`, output
`logits`, any batch size), checked in onnxruntime against PyTorch before anything is written, with the
checkpoint's preprocessing beside it.

Why torch's own exporter and not optimum's: optimum-onnx exports through the TorchScript exporter
(`dynamo=False`), which records the batch size of the example input as a constant in the reshapes of
GCA-ResNet's attention (a model exported at batch 2 fails in onnxruntime at batch 1, the bug users hit) and gives
wrong LOGO-Former outputs; and it needs an `OnnxConfig` per model type and transformers < 4.58. The dynamo
exporter (`torch.export`) traces the shapes symbolically, so one dynamic `batch_size` dimension is enough.

The frame count and size stay those of the checkpoint: both models check them (GCA-ResNet's temporal position
embeddings and LOGO-Former's windows are laid out for `num_frames`).
"""

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .predict import check_output_folder, load_checkpoint

ONNX_NAME = "model.onnx"
PREPROCESSING_NAME = "preprocessing.json"
README_NAME = "README.md"
DEFAULT_OPSET = 18
MIN_OPSET = 18  # the oldest opset torch's dynamo exporter writes
# What "matches PyTorch" means for an exported float32 model: logits within this of torch's, at every checked
# batch size (onnxruntime fuses and reorders float32 sums, so they differ by rounding only).
LOGIT_TOLERANCE = 1e-3
CHECK_BATCH_SIZES = (1, 3)


class OnnxExportError(ValueError):
    """The export failed or does not reproduce the PyTorch model; nothing was written."""


@dataclass
class OnnxExport:
    output_dir: Path
    written: list[Path] = field(default_factory=list)
    max_logit_difference: dict[int, float] = field(default_factory=dict)  # batch size -> max |onnx - torch|


class _Logits(torch.nn.Module):
    """The model as a function of `pixel_values` only, returning the logits tensor (ONNX has no ModelOutput)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).logits


def import_onnxruntime():
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"dfer export --format onnx needs onnx, onnxscript and onnxruntime ({error.name} is missing): "
            "pip install 'dfer[export]'."
        ) from error
    return onnxruntime


def example_clips(config, batch_size: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, config.num_frames, config.num_channels, config.image_size, config.image_size)
    return torch.rand(shape, generator=generator)


def check_onnx_model(path: Path, model, batch_sizes=CHECK_BATCH_SIZES) -> dict[int, float]:
    """Max |onnxruntime logits - PyTorch logits| at each batch size; `OnnxExportError` beyond LOGIT_TOLERANCE or
    when onnxruntime cannot run the model at a batch size."""
    onnxruntime = import_onnxruntime()
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own Fail / InvalidGraph / NotImplemented classes
        raise OnnxExportError(f"onnxruntime cannot load the exported model: {_first_line(error)}") from error
    differences = {}
    for batch_size in batch_sizes:
        pixel_values = example_clips(model.config, batch_size, seed=batch_size)
        with torch.inference_mode():
            expected = model(pixel_values=pixel_values).logits.float().numpy()
        try:
            (logits,) = session.run(["logits"], {"pixel_values": pixel_values.numpy()})
        except Exception as error:  # onnxruntime raises its own Fail / InvalidArgument classes
            raise OnnxExportError(
                f"the exported model does not run at batch size {batch_size}: {_first_line(error)}"
            ) from error
        differences[batch_size] = float(np.abs(logits - expected).max())
        if not differences[batch_size] <= LOGIT_TOLERANCE:
            raise OnnxExportError(
                f"the exported model's logits differ from PyTorch's by {differences[batch_size]:.2e} at batch size "
                f"{batch_size} (more than {LOGIT_TOLERANCE})."
            )
    return differences


def preprocessing_description(processor, config) -> dict:
    """What a runtime without `dfer` has to do to a video to get the `pixel_values` the ONNX model expects."""
    size = processor.size
    return {
        "input": {
            "name": "pixel_values",
            "shape": ["batch_size", config.num_frames, config.num_channels, size["height"], size["width"]],
            "dtype": "float32",
            "layout": "clips, frames, RGB channels, height, width",
        },
        "output": {
            "name": "logits",
            "shape": ["batch_size", config.num_labels],
            "probabilities": "softmax(logits)",
        },
        "labels": [config.id2label[index] for index in range(config.num_labels)],
        "frames": {
            "num_frames": processor.num_frames,
            "sampler": processor.sampler,
            "evaluation_indices": _SAMPLER_FORMULAS[processor.sampler],
            "shorter_clips": "n < T frames: slot k gets frame k * n // T",
        },
        "exact": "these steps reproduce the processor to within a few grey levels; the processor beside this file "
        "(video_preprocessor_config.json and its code, loaded with trust_remote_code=True) is the exact path",
        "face_crop": {
            "enabled": bool(processor.face_crop),
            "note": "the checkpoint was trained on face crops: crop the face (square box with a 20% margin; dfer "
            "uses YuNet and aligns the eyes) before resizing when the frames are not face crops already",
            "align": bool(processor.face_align),
        },
        "resize": {
            "height": size["height"],
            "width": size["width"],
            "method": "bilinear, antialiased when shrinking: JPEG frames are decoded at a reduced scale (1/2, 1/4, "
            "1/8) that keeps both sides at least the target, then resized with PIL's BILINEAR; video frames are "
            "scaled by FFmpeg's swscale BILINEAR while converted to RGB",
            "enabled": bool(processor.do_resize),
        },
        "rescale_factor": processor.rescale_factor if processor.do_rescale else None,
        "normalize": {"mean": processor.image_mean, "std": processor.image_std}
        if processor.do_normalize
        else None,
    }


# For clips of at least T frames (shorter ones: "shorter_clips" in the description).
_SAMPLER_FORMULAS = {
    "segment": "n frames, T slots: tick = n / T; frame int(tick / 2 + tick * k) for k = 0..T-1",
    "segment_pairs": "n frames, T/2 segments of 2 consecutive frames: tick = (n - 1) / (T / 2); starts "
    "int(tick / 2 + tick * k), frames start and start + 1 (clamped to n - 1)",
    "uniform": "n frames, T slots: frame min(int((k + 0.5) * n / T), n - 1) for k = 0..T-1",
}


def _value_steps(description: dict) -> str:
    steps = ["RGB values" + ("" if description["rescale_factor"] is None else f" x {description['rescale_factor']:.6g}")]
    if description["normalize"] is not None:
        steps.append("then (x - mean) / std with the values in preprocessing.json")
    return ", ".join(steps)


def _readme(name: str, description: dict, differences: dict[int, float], opset: int) -> str:
    checked = ", ".join(f"batch {batch}: {difference:.1e}" for batch, difference in differences.items())
    inputs, frames = description["input"], description["frames"]
    return f"""# {name} as ONNX

Exported by `dfer export --format onnx` (opset {opset}), any batch size. Checked in onnxruntime against PyTorch
before it was written: max |logit difference| {checked}.

- `{ONNX_NAME}`: input `pixel_values` {inputs["shape"]} float32, output `logits` {description["output"]["shape"]}.
- `{PREPROCESSING_NAME}`: the preprocessing steps with their values, for a runtime without Python (to within a
  few grey levels; the processor below is the exact path).
- `video_preprocessor_config.json` and its code: the exact preprocessing in Python, without `dfer`:

```python
import onnxruntime
# (the top-level transformers.AutoVideoProcessor is a placeholder when torchvision is not installed)
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

processor = AutoVideoProcessor.from_pretrained("EXPORT_FOLDER", trust_remote_code=True)
session = onnxruntime.InferenceSession("EXPORT_FOLDER/{ONNX_NAME}")
pixel_values = processor("clip.mp4", return_tensors="np")["pixel_values"].astype("float32")
(logits,) = session.run(["logits"], {{"pixel_values": pixel_values}})
```

Steps: read {frames["num_frames"]} frames ({frames["sampler"]} sampler: {frames["evaluation_indices"]}); crop the
face unless the frames are face crops; resize to {description["resize"]["height"]} x {description["resize"]["width"]}
(bilinear, antialiased when shrinking); {_value_steps(description)}.
Labels, in logit order: {", ".join(description["labels"])}.
"""


def _first_line(error: Exception) -> str:
    """The first line of an error's text: torch.export and onnxruntime append pages of guards and stacks."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_export_settings(output: Path, opset: int) -> None:
    """`ValueError` for an opset the exporter or the installed onnx cannot write, or an output folder that
    already holds files (an export never writes over a checkpoint, a model card or an earlier export)."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"--opset {opset}: torch's exporter writes opsets {MIN_OPSET} to {newest} with this onnx.")
    if output.is_dir() and any(output.iterdir()):
        raise ValueError(
            f"the output folder {output} is not empty; pass a new or empty folder with --output (an export never "
            "writes over other files)."
        )


@contextlib.contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def export_onnx(
    model_name: str,
    output_dir: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> OnnxExport:
    """Export the checkpoint `model_name` (folder or Hub repo) to `<output_dir>/model.onnx` with a dynamic batch
    dimension, check it in onnxruntime at batch sizes 1 and 3, and write the preprocessing next to it
    (`preprocessing.json`, the video processor's config and code, `config.json`, a README).

    `output_dir` must be new or empty. Everything is built in a temporary folder inside it and moved in only once
    the check passed, so a failed export leaves nothing behind. `ImportError` without onnx/onnxscript/onnxruntime,
    `ValueError` (`OutputFolderError`) for an unusable or non-empty `output_dir` or an opset out of range (all
    before the model loads), `CheckpointLoadError`, `OnnxExportError`.
    """
    import_onnxruntime()
    output = check_output_folder(output_dir)
    check_export_settings(output, opset)
    model, processor = load_checkpoint(model_name, "cpu", revision, trust_remote_code)
    created = [folder for folder in (output, *output.parents) if not folder.exists()]
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".onnx-export.", dir=output))
    moved: list[Path] = []
    finished = False
    try:
        onnx_path = staging / ONNX_NAME
        batch_size = torch.export.Dim("batch_size", min=1)
        try:
            # The folded BatchNorm weights as constants, not folded again in the graph; the exporter's notes (no
            # torchvision ops to register, deprecations inside torch) are not the user's business.
            with torch.no_grad(), warnings.catch_warnings(), _quiet_logger("torch.onnx"):
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _Logits(model),
                    (example_clips(model.config, 2),),
                    str(onnx_path),
                    input_names=["pixel_values"],
                    output_names=["logits"],
                    dynamic_shapes={"pixel_values": {0: batch_size}},
                    opset_version=opset,
                    dynamo=True,
                    external_data=False,
                    verbose=False,
                )
        except Exception as error:  # torch.export and onnxscript raise many kinds; one message names the step
            raise OnnxExportError(
                f"torch.onnx.export failed for {model_name}: {type(error).__name__}: {_first_line(error)}"
            ) from error
        differences = check_onnx_model(onnx_path, model)
        description = preprocessing_description(processor, model.config)
        (staging / PREPROCESSING_NAME).write_text(json.dumps(description, indent=1) + "\n")
        (staging / README_NAME).write_text(
            _readme(Path(str(model_name)).name, description, differences, opset)
        )
        processor.save_pretrained(staging)
        model.config.save_pretrained(staging)
        # The model last: a folder holding model.onnx is a complete export.
        for path in sorted(staging.iterdir(), key=lambda path: (path.name == ONNX_NAME, path.name)):
            os.replace(path, output / path.name)
            moved.append(output / path.name)
        finished = True
        return OnnxExport(output, written=moved, max_logit_difference=differences)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not finished:  # interrupted while moving in: what was moved (into an empty folder) and the folders made go
            for path in moved:
                with contextlib.suppress(OSError):
                    path.unlink()
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()


__all__ = ["OnnxExport", "OnnxExportError", "check_onnx_model", "export_onnx", "preprocessing_description"]
