"""Convert an official IAL checkpoint (muse1998/IAL-for-Facial-Expression-Recognition) to a GCA-ResNet folder.

    python scripts/convert_ial_checkpoint.py --checkpoint OFFICIAL.pth --output DIR
"""

import argparse

import dfer.modeling  # noqa: F401  (registers the classes so that the folder carries its remote code)
from dfer.modeling.gca_resnet.convert_ial_checkpoint import convert_ial_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="official .pth (GenerateModel state dict)")
    parser.add_argument("--output", required=True, help="folder for config.json + model.safetensors")
    args = parser.parse_args()
    try:
        result = convert_ial_checkpoint(args.checkpoint, args.output)
    except (FileNotFoundError, KeyError, ValueError) as error:
        parser.exit(1, f"error: {error.args[0] if error.args else error}\n")
    print(
        f"Converted {len(result.state_dict)} tensors to {args.output}; dropped {len(result.dropped_keys)} tensors "
        f"({result.dropped_parameters:,} parameters) that the official network never uses."
    )


if __name__ == "__main__":
    main()
