"""`dfer push`: publish a training output folder to the Hugging Face Hub as one commit, over
`dfer.hub.push_training_output`: weights, config, video processor, remote code, a model card rendered from the
run's metrics and arguments, metrics.json, run_args.json. The token comes from the usual huggingface_hub
sources: `hf auth login`, or the HF_TOKEN environment variable."""

import argparse
import sys

from dfer.hub import (
    PublishError,
    build_model_card,
    check_license,
    check_repo_id,
    push_training_output,
    read_training_output,
    upload_operations,
)

from .errors import PARTIAL_FAILURE

EXAMPLE = """examples:
  dfer push outputs/fold1 --repo-id USER/gca-resnet-dfew --revision fold-1 --dry-run   # check + show the card
  dfer push outputs/fold1 --repo-id USER/gca-resnet-dfew --revision fold-1 [--private] [--include-logs]"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfer push", description=__doc__, epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("output_dir", help="the training run's output folder")
    parser.add_argument("--repo-id", required=True, help="NAMESPACE/NAME of the Hub model repository")
    parser.add_argument(
        "--revision",
        "--branch",
        dest="revision",
        default=None,
        help="branch to commit to, created from main if missing (e.g. one branch per fold)",
    )
    parser.add_argument("--private", action="store_true", default=None, help="create the repository as private")
    parser.add_argument("--commit-message", default=None, help="defaults to the model, dataset, fold and scores")
    parser.add_argument(
        "--include-logs",
        action="store_true",
        help="also upload the TensorBoard logs in runs/ (training scalars only, renamed without the host name)",
    )
    parser.add_argument(
        "--license",
        default=None,
        help="license of the weights (e.g. mit), required unless the training data fix it: weights trained on DFEW "
        "or FERV39k inherit their research-only terms (license: other); the code is MIT",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="check the folder, list the files and print the card; send nothing"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.dry_run:
            check_repo_id(args.repo_id)
            output = read_training_output(args.output_dir)
            check_license(output, args.license)
            card = build_model_card(
                output,
                repo_id=args.repo_id,
                revision=args.revision,
                license=args.license,
                include_logs=args.include_logs,
            )
            operations = upload_operations(output, card, include_logs=args.include_logs)
            print("uploaded (README.md: the card printed below, which replaces the folder's own copy):")
            print("\n".join(operation.path_in_repo for operation in operations))
            if output.left_out:
                print(f"\nnot uploaded: {', '.join(output.left_out)}")
            print(f"\n{card}")
            return 0
        commit = push_training_output(
            args.output_dir,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            include_logs=args.include_logs,
            license=args.license,
        )
    except PublishError as error:
        print(f"dfer push: error: {error}", file=sys.stderr)
        return PARTIAL_FAILURE
    print(f"Published {args.repo_id}" + (f" ({args.revision})" if args.revision else "") + f": {commit.commit_url}")
    return 0
