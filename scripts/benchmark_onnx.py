"""The ONNX export of both full-size models in onnxruntime (CPU): float32, and an int8 variant (onnxruntime's
dynamic quantisation of the MatMul / Gemm weights), next to PyTorch float32 and bfloat16 in alternating rounds of
the same run; and how far each is from PyTorch float32's probabilities on the same random clips.

    python scripts/benchmark_onnx.py [--rounds 3] [--threads N]

Decides whether `dfer export` should offer an int8 file: only if it is faster than float32 in onnxruntime and keeps
probabilities within 0.02.
"""

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dfer.inference.onnx_export import export_onnx, import_onnxruntime  # noqa: E402
from dfer.modeling import (  # noqa: E402
    GcaResNetConfig,
    GcaResNetForVideoClassification,
    LogoFormerConfig,
    LogoFormerForVideoClassification,
    prepare_for_inference,
)
from dfer.processing import DferVideoProcessor  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and onnxruntime")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 8])
    return parser.parse_args()


def timed(function, pixel_values, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        function(pixel_values)
    return repeats * pixel_values.shape[0] / (time.perf_counter() - start)


def main():
    args = parse_args()
    onnxruntime = import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if args.threads:
        torch.set_num_threads(args.threads)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads or torch.get_num_threads()
    print(
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {options.intra_op_num_threads} threads"
    )
    torch.manual_seed(0)
    models = {
        "GCA-ResNet": GcaResNetForVideoClassification(GcaResNetConfig()),
        "LOGO-Former": LogoFormerForVideoClassification(LogoFormerConfig()),
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, model in models.items():
            checkpoint, exported = Path(folder) / name, Path(folder) / f"{name}-onnx"
            model.save_pretrained(checkpoint)
            DferVideoProcessor().save_pretrained(checkpoint)
            start = time.perf_counter()
            export_onnx(str(checkpoint), exported)
            exported_in = time.perf_counter() - start
            quantized = exported / "model.int8.onnx"
            quantize_dynamic(str(exported / "model.onnx"), str(quantized), weight_type=QuantType.QInt8)
            sessions = {
                kind: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                for kind, path in (
                    ("onnxruntime float32", exported / "model.onnx"),
                    ("onnxruntime int8", quantized),
                )
            }
            model = prepare_for_inference(model)
            bfloat16 = prepare_for_inference(copy.deepcopy(model), torch.bfloat16)

            def run_torch(pixel_values, module=model):
                with torch.inference_mode():
                    return module(pixel_values.to(module.dtype)).logits.float().numpy()

            variants = {
                "torch float32": run_torch,
                "torch bfloat16": lambda x, module=bfloat16: run_torch(x, module),
            }
            for kind, session in sessions.items():
                variants[kind] = lambda x, session=session: session.run(
                    ["logits"], {"pixel_values": x.numpy()}
                )[0]
            size = {path.name: path.stat().st_size / 2**20 for path in (exported / "model.onnx", quantized)}
            print(
                f"\n{name}: exported in {exported_in:.0f} s; model.onnx {size['model.onnx']:.0f} MB, int8 {size['model.int8.onnx']:.0f} MB"
            )
            config = model.config
            for batch_size in args.batch_sizes:
                generator = torch.Generator().manual_seed(batch_size)
                pixel_values = torch.rand(
                    batch_size,
                    config.num_frames,
                    3,
                    config.image_size,
                    config.image_size,
                    generator=generator,
                )
                reference = torch.from_numpy(run_torch(pixel_values)).softmax(-1)
                differences = {
                    kind: (torch.from_numpy(np.asarray(run(pixel_values))).float().softmax(-1) - reference)
                    .abs()
                    .max()
                    .item()
                    for kind, run in variants.items()
                }
                repeats = max(2, 8 // batch_size)
                speeds = {kind: [] for kind in variants}
                for _ in range(args.rounds):
                    for kind, run in variants.items():
                        speeds[kind].append(timed(run, pixel_values, repeats))
                for kind, measured in speeds.items():
                    ratio = statistics.median(a / b for a, b in zip(measured, speeds["torch float32"]))
                    print(
                        f"  batch {batch_size} {kind:<20} {max(measured):6.2f} clips/s {ratio:5.2f}x torch float32  "
                        f"max |p diff| {differences[kind]:.4f}"
                    )


if __name__ == "__main__":
    main()
