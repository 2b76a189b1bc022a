"""The DFEW 5-fold protocol: train and test every fold, then a results table (per fold and mean +- std).

    accelerate launch scripts/run_folds.py --model gca_resnet --dataset dfew --data_dir DFEW --output_dir out/dfew

Takes every option of scripts/train.py, plus --folds (default 1 2 3 4 5). Folds already finished (their
metrics.json exists) are kept, so rerunning the command resumes the protocol. Writes results.json and results.md.
"""

import sys

from train import build_parser

from dfer.training.folds import results_markdown, run_folds


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    folds = [1, 2, 3, 4, 5]
    if "--folds" in argv:
        start = argv.index("--folds")
        end = next((i for i in range(start + 1, len(argv)) if argv[i].startswith("--")), len(argv))
        folds = [int(value) for value in argv[start + 1 : end]]
        argv = argv[:start] + argv[end:]
    model_args, data_args, training_args = build_parser(argv).parse_args_into_dataclasses(argv)
    if data_args.dataset not in ("dfew", "sample"):
        raise SystemExit(f"The fold protocol applies to DFEW (and the sample); {data_args.dataset} has one split.")
    summary = run_folds(model_args, data_args, training_args, folds)
    print(results_markdown(summary))


if __name__ == "__main__":
    main()
