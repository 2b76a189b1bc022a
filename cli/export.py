"""`dfer export`: a checkpoint as an ONNX model (any batch size) for runtimes without PyTorch, over
`dfer.inference.onnx_export.export_onnx`. The model is checked in onnxruntime against PyTorch before anything is
written; the preprocessing (`preprocessing.json`, the video processor's config and code) is written beside it."""

import argparse

from dfer.inference import CheckpointLoadError
from dfer.inference.onnx_export import DEFAULT_OPSET, OnnxExportError, export_onnx

from .errors import report_error

EXAMPLE = "example:\n  dfer export --model outputs/sample --format onnx --output exported/"
FORMATS = ("onnx",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfer export", description=__doc__, epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub repo id (model + processor)")
    parser.add_argument("--output", required=True, help="folder to write model.onnx and its preprocessing into")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="export format (default onnx)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--revision", help="Hub revision of --model")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow a Hub checkpoint's own model code to run"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = export_onnx(
            args.model, args.output, opset=args.opset, revision=args.revision, trust_remote_code=args.trust_remote_code
        )
    except (ValueError, ImportError, CheckpointLoadError, OnnxExportError) as error:
        return report_error("export", error)
    checked = ", ".join(f"batch {batch} {difference:.1e}" for batch, difference in result.max_logit_difference.items())
    print(f"dfer export: wrote {result.output_dir} ({', '.join(path.name for path in result.written)})")
    print(f"  onnxruntime matches PyTorch (max |logit difference|: {checked})")
    return 0
