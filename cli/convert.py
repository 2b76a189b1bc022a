"""`dfer convert`: an official IAL checkpoint (muse1998/IAL-for-Facial-Expression-Recognition) to a GCA-ResNet
checkpoint folder, over `dfer.modeling.gca_resnet.convert_ial_checkpoint`."""

import argparse
import pickle

import dfer.modeling  # noqa: F401  (registers the classes so that the folder carries its remote code)
from dfer.modeling.gca_resnet.convert_ial_checkpoint import convert_ial_checkpoint

from .errors import report_error

EXAMPLE = "example:\n  dfer convert --checkpoint model_best.pth --output gca_resnet_dfew_fold1"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfer convert", description=__doc__, epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True, help="official .pth (GenerateModel state dict)")
    parser.add_argument("--output", required=True, help="folder for config.json + model.safetensors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = convert_ial_checkpoint(args.checkpoint, args.output)
    except (OSError, KeyError, ValueError, pickle.UnpicklingError) as error:
        message = error.args[0] if error.args else error
        if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):  # writing the output failed
            message = f"cannot write {args.output}: {error.strerror or error}"
        if isinstance(error, pickle.UnpicklingError):
            message = (
                f"{args.checkpoint} holds more than tensors (refused by torch.load(weights_only=True)); "
                "pass the official network's state dict."
            )
        return report_error("convert", message)
    print(
        f"Converted {len(result.state_dict)} tensors to {args.output}; dropped {len(result.dropped_keys)} tensors "
        f"({result.dropped_parameters:,} parameters) that the official network never uses."
    )
    return 0
